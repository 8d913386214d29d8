"""One repository kept warm and current for a long-running front end.

A ``RepoService`` keeps one repository's loaded index (``pipeline.Repo``) in memory and
swaps in a new one, atomically, after each update: requests read whatever ``Repo`` is
current and never wait for an update. An update is made in memory first
(``pipeline.refresh_repo``: re-parse the changed files, patch the ranking index), so the
next request sees it within milliseconds; then the on-disk index catches up in a
separate worker process (``build_index``'s incremental path, under the index's write
lock; see ``worker``), and the dense lane embeds what is new on a thread.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import CtxpackError
from ..pipeline import Progress, Repo, embed_index, open_repo, refresh_history, refresh_repo, stat_key
from ..tokens import get_counter
from .worker import Worker, persist_in_worker, prepare_in_worker, release_memory

__all__ = ["RepoService"]

log = logging.getLogger(__name__)


@dataclass
class RepoService:
    """One repository, kept loaded and current."""

    root: Path
    cfg: Config
    name: str = ""  # how requests name it (default: the folder name; a catalog's name in a multi-repo index)
    _repo: Repo | None = None
    _update_lock: threading.Lock = field(default_factory=threading.Lock)
    _pending_lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: set[str] | None = field(default_factory=set)  # paths to look at; None: the whole tree
    _stop: threading.Event = field(default_factory=threading.Event)
    _persist_wanted: threading.Event = field(default_factory=threading.Event)
    _persist_lock: threading.Lock = field(default_factory=threading.Lock)
    _persisting: bool = False
    worker: Worker | None = None  # the process that writes indexes and pre-scans (shared by a Service's repos)
    _own_worker: bool = field(default=False, init=False)
    persisted: str = "current"  # current | pending | error: ...
    prepared: str = "pending"  # pending | done | error: ...  (the worker's pre-scan and pre-count)
    _embed_thread: threading.Thread | None = None
    state: str = "starting"  # starting | ready | updating | error
    error: str | None = None
    updated_at: float = 0.0
    updates: int = 0
    embedding: str = "idle"  # idle | running | off | error: ...
    _pending_embed: bool = False

    def __post_init__(self) -> None:
        self.name = self.name or self.root.name
        self._own_worker = self.worker is None
        if self.worker is None:
            self.worker = Worker()

    def load(self, progress: Progress | None = None) -> None:
        """First load: bring the index up to date (building it if needed; ``progress`` as for
        ``open_repo``), then start the dense lane and, in the worker process, the secret scan of
        every file (packs then skip it)."""
        # The tokenizer first: its load peaks (the rank table is parsed, then dropped) before the index is in memory.
        get_counter(self.cfg.encoding)
        self._swap(open_repo(self.root, self.cfg, refresh=True, progress=progress or (lambda _s, _d, _t: None)))
        self.state = "ready"
        self.start_embedding()
        threading.Thread(target=self._prepare, name=f"prepare:{self.name}", daemon=True).start()

    def _prepare(self) -> None:
        try:
            prepared = self.worker.run(prepare_in_worker, self.root, self.cfg)  # type: ignore[union-attr]
        except Exception as exc:  # only a speed-up: packs scan and count what they include themselves
            if not self._stop.is_set():
                log.warning("pre-scan of %s failed: %s", self.root, exc)
            self.prepared = f"error: {exc}"
            return
        repo = self._repo
        if repo is not None:
            repo.adopt(prepared)
        self.prepared = "done"
        # The loaded index is long-lived: keep it out of the garbage collector's full scans, which
        # otherwise walk millions of its objects in the middle of requests.
        gc.freeze()
        release_memory()

    @property
    def loaded(self) -> bool:
        """True once the repository's index is loaded (``repo`` answers)."""
        return self._repo is not None

    @property
    def repo(self) -> Repo:
        repo = self._repo
        if repo is None:
            raise CtxpackError(f"{self.root} is still loading. Retry in a moment")
        return repo

    def current(self, paths: Iterable[str] = ()) -> Repo:
        """The Repo, first brought up to date for any of ``paths`` (indexed files) changed on disk
        since: the files being edited are reflected as saved, even before the watcher reports them."""
        repo = self.repo
        stale = []
        for rel in paths:
            rec = repo.snapshot.files.get(rel)
            if rec is not None and stat_key(self.root / rel) != (rec.size, rec.mtime_ns):
                stale.append(rel)
        if stale:
            self.update(stale)
            repo = self.repo
        return repo

    def _swap(self, repo: Repo) -> None:
        repo.warm()  # a patched index carries its caches over: then this costs nothing
        old = self._repo
        if old is not None and repo.embedder is None:
            repo.embedder = old.embedder
        self._repo = repo  # one reference assignment: readers see the old or the new Repo, never a mix
        self.updated_at = time.time()
        self.updates += 1

    def update(self, paths: Iterable[str] | None = None) -> bool:
        """Bring the served index up to date now, in memory; True when it changed.

        ``paths`` are repository-relative files reported changed (None: compare the whole
        tree by stat). Concurrent calls coalesce; a request arriving meanwhile is served
        from the previous ``Repo``. The on-disk index follows in the background.
        """
        with self._pending_lock:
            if paths is None or self._pending is None:
                self._pending = None
            else:
                self._pending.update(paths)
        with self._update_lock:
            with self._pending_lock:
                todo, self._pending = self._pending, set()
            if todo is not None and not todo:
                return False  # another caller's update already covered this change
            self.state = "updating"
            try:
                repo = self._repo
                new = open_repo(self.root, self.cfg, refresh=True) if repo is None else refresh_repo(repo, todo)
            except CtxpackError as exc:
                self.state, self.error = "error", str(exc)
                log.warning("update of %s failed: %s", self.root, exc)
                return False
            except OSError as exc:  # a file vanished or turned unreadable mid-update: the next event retries
                self.state, self.error = "error", f"update of {self.root} failed: {exc}"
                log.warning("update of %s failed: %s", self.root, exc)
                return False
            self.error = None
            changed = new is not repo
            if changed:
                self._swap(new)
            self.state = "ready"
        if changed:
            self._persist_soon()
        return changed

    def update_history(self) -> bool:
        """Re-read the git history if HEAD moved (a commit changes no file the watcher sees); True when it did."""
        with self._update_lock:
            repo = self._repo
            if repo is None:
                return False
            new = refresh_history(repo)
            if new is repo:
                return False
            self._swap(new)
        return True

    def _persist_soon(self) -> None:
        """Write the on-disk index in the background (coalesced), then embed what is new."""
        with self._persist_lock:
            self.persisted = "pending"
            self._persist_wanted.set()
            if not self._persisting:
                self._persisting = True
                threading.Thread(target=self._persist_loop, name=f"persist:{self.name}", daemon=True).start()

    def _persist_loop(self) -> None:
        reconcile = False
        try:
            while True:
                with self._persist_lock:
                    if not self._persist_wanted.is_set() or self._stop.is_set():
                        return
                    self._persist_wanted.clear()
                try:
                    hashes, manifest = self.worker.run(persist_in_worker, self.root, self.cfg)  # type: ignore[union-attr]
                except Exception as exc:  # CtxpackError from the worker, or the worker died
                    self.persisted = f"error: {exc}"
                    log.warning("writing the index of %s failed: %s", self.root, exc)
                    return
                self._adopt_manifest(hashes, manifest)
                if self.persisted != "current" and not self._persist_wanted.is_set():
                    reconcile = True  # memory and disk differ and no edit is pending: an event was missed
                    return
                release_memory()  # the index versions this round replaced
                self.start_embedding()
        finally:
            with self._persist_lock:
                self._persisting = False
            if reconcile:  # compare the whole tree (which persists again if it finds anything)
                threading.Thread(target=self.update, name=f"reconcile:{self.name}", daemon=True).start()

    def _adopt_manifest(self, hashes: dict[str, str], manifest: Any) -> None:
        """After a background write: when the disk caught up with memory, adopt its manifest
        (versions, skipped files). A method, so that the loop keeps no reference to a ``Repo``
        (it would live on, its rank index with it, while the next write runs)."""
        with self._update_lock:
            repo = self._repo
            if repo is not None and {p: r.sha1 for p, r in repo.snapshot.files.items()} == hashes:
                self._repo = replace(repo, snapshot=replace(repo.snapshot, manifest=manifest))
                self.persisted = "current"

    def wait_persisted(self, timeout: float = 60.0) -> bool:
        """Wait until no background write is pending or running; True if the disk matches memory."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._persist_lock:
                if not self._persisting and not self._persist_wanted.is_set():
                    return self.persisted == "current"
            time.sleep(0.05)
        return False

    def start_embedding(self) -> None:
        """Embed new chunks in the background (no-op when the dense lane is off or already running)."""
        if not self.cfg.embed or self._stop.is_set():
            self.embedding = "off"
            return
        t = self._embed_thread
        if t is not None and t.is_alive():
            self._pending_embed = True  # the running loop goes round once more
            return
        self._pending_embed = False
        self._embed_thread = threading.Thread(target=self._embed_loop, name=f"embed:{self.root.name}", daemon=True)
        self._embed_thread.start()

    def _embed_loop(self) -> None:
        while True:
            repo = self._repo
            if repo is None or repo.dense_lane() is None:
                self.embedding = "off"
                return
            self.embedding = "running"
            embedder, repo = repo.embedder, None  # no reference to a Repo an update may replace while this runs
            try:
                embed_index(self.root, self.cfg, should_stop=self._stop.is_set, embedder=embedder)
                if (current := self._repo) is not None:
                    current.dense_lane(reload=True)  # the current Repo sees the new vectors
                self.embedding = "idle"
            except CtxpackError as exc:
                self.embedding = f"error: {exc}"
                log.warning("embedding %s failed: %s", self.root, exc)
                return
            if self._stop.is_set() or not self._pending_embed:
                return
            self._pending_embed = False

    def close(self) -> None:
        """Stop: finish writing the on-disk index (nothing in memory only is lost), stop embedding."""
        self.wait_persisted(timeout=300)
        self._stop.set()
        t = self._embed_thread
        if t is not None:
            t.join(timeout=10)
        if self._own_worker and self.worker is not None:
            self.worker.close()

    def status(self) -> dict[str, Any]:
        repo = self._repo
        out: dict[str, Any] = {"name": self.name, "root": str(self.root), "state": self.state, "error": self.error,
                               "updated_at": round(self.updated_at, 3), "updates": self.updates,
                               "embedding": self.embedding, "persisted": self.persisted, "prepared": self.prepared}
        if repo is not None:
            out["files"] = len(repo.snapshot.files)
            out["chunks"] = sum(len(v) for v in repo.snapshot.chunks.values())
            out["lanes"] = repo.lanes()
            out["index_dir"] = str(repo.store.dir)
        return out
