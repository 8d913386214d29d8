"""Warm, live repositories for long-running front ends (``serve``, ``watch``, ``mcp``).

A ``RepoService`` keeps one repository's loaded index (``pipeline.Repo``) in memory and
swaps in a new one, atomically, after each update: requests read whatever ``Repo`` is
current and never wait for an update. An update is made in memory first
(``pipeline.refresh_repo``: re-parse the changed files, patch the ranking index), so the
next request sees it within milliseconds; then the on-disk index catches up in a
separate worker process (``build_index``'s incremental path, under the index's write
lock, so the server never imports LanceDB nor holds the GIL for it), and the dense lane
embeds what is new on a thread. ``Service`` holds several repositories and refuses paths
it does not serve.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import Config, load_config
from .errors import ConfigError, CtxpackError
from .models import Pack, PackedFile
from .pipeline import (
    Prepared,
    Progress,
    Repo,
    build_index,
    embed_index,
    open_repo,
    pack_for,
    refresh_history,
    refresh_repo,
    search_repo,
    stat_key,
)
from .tokens import get_counter

__all__ = ["RepoService", "Service"]

log = logging.getLogger(__name__)


class _Worker:
    """One spawned process for the background work of the repositories a process serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                import multiprocessing

                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_exit_with_parent, initargs=(os.getpid(),))
            return self._pool

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the worker process; in this thread when no process can be started
        (e.g. a script without an ``if __name__ == "__main__"`` guard, where spawning fails)."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.pool().submit(fn, *args).result()
        except BrokenProcessPool as exc:
            log.debug("worker process unavailable (%s); running %s here", exc, fn.__name__)
            with self._lock:
                self._pool = None
            return fn(*args)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


def release_memory() -> None:
    """Hand freed heap memory back to the system (glibc keeps it per thread arena otherwise:
    each index update frees the replaced structures, and the resident size would ratchet up)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _exit_with_parent(parent: int) -> None:
    """In the worker process: exit as soon as the serving process is gone (killed, crashed).

    A worker left behind would otherwise sit on memory (and on the index's write lock)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


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
    worker: _Worker | None = None  # the process that writes indexes and pre-scans (shared by a Service's repos)
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
            self.worker = _Worker()

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
            prepared = self.worker.run(_prepare, self.root, self.cfg)  # type: ignore[union-attr]
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
                    hashes, manifest = self.worker.run(_persist, self.root, self.cfg)  # type: ignore[union-attr]
                except Exception as exc:  # CtxpackError from the worker, or the worker died
                    self.persisted = f"error: {exc}"
                    log.warning("writing the index of %s failed: %s", self.root, exc)
                    return
                with self._update_lock:
                    repo = self._repo
                    if repo is not None and {p: r.sha1 for p, r in repo.snapshot.files.items()} == hashes:
                        # The disk caught up with memory: adopt its manifest (versions, skipped files).
                        self._repo = replace(repo, snapshot=replace(repo.snapshot, manifest=manifest))
                        self.persisted = "current"
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
            try:
                embed_index(self.root, self.cfg, should_stop=self._stop.is_set, embedder=repo.embedder)
                repo.dense_lane(reload=True)  # the current Repo sees the new vectors
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


class Service:
    """The repositories one process serves.

    Background index writes and the secret pre-scan run in a spawned worker process, so a
    script that creates a Service must guard its entry point (``if __name__ == "__main__":``),
    as for any ``multiprocessing`` use.
    """

    def __init__(self, paths: list[str], targets: list[tuple[str, Path, Config]] | None = None,
                 **overrides: Any) -> None:
        """Serve the repositories at ``paths``, or ``targets`` (name, root, settings: a multi-repository index's)."""
        if not paths and not targets:
            raise ConfigError("no repository given. Pass one or more PATHs")
        self.repos: dict[str, RepoService] = {}
        self.worker = _Worker()
        for name, root, cfg in targets or ():
            self.repos[str(root)] = RepoService(root, cfg, name, worker=self.worker)
        for p in paths if not targets else ():
            root = Path(p).expanduser().resolve()
            if not root.is_dir():
                raise ConfigError(f"not a directory: {p}. Pass repository roots")
            self.repos[str(root)] = RepoService(root, load_config(root, **overrides), worker=self.worker)

    def load(self, progress: Progress | None = None) -> None:
        for rs in self.repos.values():
            rs.load(progress)

    def get(self, repo: str | None) -> RepoService:
        """The served repository named by ``repo`` (a path or folder name; may be omitted with one repo).

        Raises:
            ConfigError: not one of the served repositories.
        """
        if repo is None or repo == "":
            if len(self.repos) == 1:
                return next(iter(self.repos.values()))
            raise ConfigError(f"several repositories are served: name one with \"repo\" ({', '.join(self.names())})")
        p = Path(repo).expanduser()
        key = str(p.resolve()) if p.is_absolute() else None
        if key in self.repos:
            return self.repos[key]
        matches = [rs for rs in self.repos.values() if rs.name == repo] or [
            rs for rs in self.repos.values() if rs.root.name == repo]
        if len(matches) == 1 and not p.is_absolute():
            return matches[0]
        raise ConfigError(f"repository not served: {repo}. Served: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [str(rs.root) if rs.name == rs.root.name else f"{rs.name} ({rs.root})" for rs in self.repos.values()]

    def pack(self, repo: str | list[str] | None, query: str, *, budget: int | None = None, fmt: str | None = "json",
             focus: tuple[str, ...] = (), cursor: tuple[str, int] | None = None,
             wait_embeddings: bool = False, should_stop: Callable[[], bool] | None = None,
             on_file: Callable[[PackedFile], None] | None = None) -> Pack:
        """Pack for one served repository, or across several (``repo``: a list of names, or ``"all"``).

        Across several, each is ranked alone, the rankings are merged by score and paths
        (and ``focus`` paths) carry the repository's name as first component.
        ``on_file`` (one repository): each packed file as soon as it is decided, in order.
        """
        if repo == "all" or isinstance(repo, list):
            chosen = list(self.repos.values()) if repo == "all" else [self.get(n) for n in dict.fromkeys(repo)]
            if len(chosen) > 1:
                if cursor is not None or wait_embeddings:
                    raise ConfigError("\"cursor\" and \"wait_embeddings\" work with one repository")
                names = [rs.name for rs in chosen]
                if len(set(names)) < len(names):
                    raise ConfigError(f"served repositories share a name: {', '.join(sorted(names))}")
                from .catalog import pack_many

                repos = {rs.name: rs.repo for rs in chosen}
                for f in focus:
                    name, _, rel = f.partition("/")
                    if name not in repos:
                        raise ConfigError(f"focus path must start with a repository name: {f}")
                    check_rel_path(repos[name], rel)
                p = pack_many(repos, query, budget=budget, fmt=fmt, focus=focus)
                for f in p.files if on_file is not None else ():
                    if f.mode != "map":
                        on_file(f)
                return p
            repo = chosen[0].name if chosen else None
        rs = self.get(repo)  # type: ignore[arg-type]
        r = rs.repo
        focus = tuple(check_rel_path(r, f) for f in focus)
        cursor_path = check_rel_path(r, cursor[0]) if cursor is not None else None
        if cursor_path is not None:
            focus = tuple(dict.fromkeys((*focus, cursor_path)))
        r = rs.current(focus)  # the files being edited, as saved
        if cursor is not None and cursor_path is not None:
            name = symbol_at(r, cursor_path, cursor[1])
            if name:
                query = f"{query}\n{name}"  # the symbol under the cursor is named in the instruction
        return pack_for(r, query, budget=budget, fmt=fmt, focus=focus, wait_embeddings=wait_embeddings,
                        should_stop=should_stop, on_file=on_file)

    def search(self, repo: str | None, query: str, k: int = 10) -> list[dict[str, Any]]:
        if not 1 <= k <= 200:
            raise ConfigError(f"k must be between 1 and 200: {k}")
        r = self.get(repo).repo
        return [{"path": c.path, "start_line": c.start_line, "end_line": c.end_line, "score": round(s, 6),
                 "symbols": list(c.symbols), "tokens": c.tokens, "text": c.text}
                for c, s in search_repo(r, query, k)]

    def status(self) -> dict[str, Any]:
        return {"repos": [rs.status() for rs in self.repos.values()]}

    def close(self) -> None:
        for rs in self.repos.values():
            rs.close()
        self.worker.close()


def _persist(root: Path, cfg: Config) -> tuple[dict[str, str], Any]:
    """In the worker process: update the on-disk index; what it now holds (path -> sha1) and its manifest."""
    from .pipeline import index_dir_for
    from .store import IndexStore

    build_index(root, cfg)
    snap = IndexStore(index_dir_for(root, cfg)).load()
    return {p: r.sha1 for p, r in snap.files.items()}, snap.manifest


def _prepare(root: Path, cfg: Config) -> Prepared:
    """In the worker process: redaction results and token counts for every indexed file, whole."""
    return open_repo(root, cfg, refresh=False).prepare()


def check_rel_path(repo: Repo, path: str) -> str:
    """A repository-relative POSIX path inside the repository, or ConfigError."""
    p = path.replace("\\", "/").removeprefix("./")
    if Path(p).is_absolute():
        try:
            p = Path(p).resolve().relative_to(repo.root).as_posix()
        except ValueError:
            raise ConfigError(f"path outside the repository: {path}") from None
    if not p or p.startswith("/") or ".." in p.split("/"):
        raise ConfigError(f"path outside the repository: {path}")
    return p


def symbol_at(repo: Repo, path: str, line: int) -> str | None:
    """The innermost definition of ``path`` that spans ``line`` (1-based)."""
    best = None
    for s in repo.symbols_by_path.get(path, []):
        if s.line <= line <= s.end_line and (best is None or s.end_line - s.line < best.end_line - best.line):
            best = s
    return best.name if best else None
