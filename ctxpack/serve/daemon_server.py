"""The daemon process of ``ctxpack pack --daemon``: keeps the last few repositories loaded and answers packs
over its Unix socket (see ``daemon_client`` for the protocol and when it is used).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .daemon_client import MAX_REQUEST, REPLY_TIMEOUT_S, compat_key, recv_all, socket_path

__all__ = ["Daemon", "serve"]

log = logging.getLogger(__name__)

_IDLE_S = 900.0


_KEEP_REPOS = 3
# Provisional files parsed between two looks for a waiting client (``Daemon.finish``): this many at most,
# and no more bytes than this together (a batch of big files would keep a client waiting for seconds).
_FINISH_BATCH = 16
_FINISH_BYTES = 256_000


_PACK_ONLY = ("budget", "format", "repo_map", "outline_share", "chunk_share", "skeleton_share", "map_share",
              "size_exponent", "include", "exclude", "region_dense", "region_idf", "region_weight", "region_min_share",
              "region_head", "region_fill")


class _Messages(logging.Handler):
    """Warnings logged while serving one request, handed back to the client for its stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "ctxpack.config_files":
            return  # the client loaded the same config files first and reported them itself
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


def _index_settings(cfg: Any) -> Any:
    """``cfg`` without the options that only shape a pack (budget, format, shares): a loaded
    repository serves every request that agrees on the rest."""
    from dataclasses import replace

    from ..config import Config

    default = Config()
    return replace(cfg, **{k: getattr(default, k) for k in _PACK_ONLY})


class Daemon:
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.key = compat_key()
        self.repos: OrderedDict[Path, Any] = OrderedDict()  # root -> pipeline.Repo, least recently used first
        self.vectors: dict[Path, tuple[int, int] | None] = {}  # root -> stat of its embedding cache's state

    def repo_for(self, root: Path, cfg: Any) -> Any:
        """The loaded Repo of ``root``, current with its files and HEAD."""
        from dataclasses import replace

        from ..pipeline import ANSWER_FIRST_ABOVE, open_repo, refresh_history, refresh_repo, stat_key, vector_store_for

        key = _index_settings(cfg)
        repo = self.repos.pop(root, None)
        if repo is not None and _index_settings(repo.cfg) != key:
            repo = None
        if repo is None:
            sibling = next((r for r in reversed(self.repos.values()) if _index_settings(r.cfg) == key), None)
            if sibling is not None:  # same settings and index: start from it, re-read what differs
                repo = sibling.for_checkout(root)
        # A big change (a checkout) is answered before its files are parsed; ``finish`` parses them after the reply.
        # (In memory only: the on-disk index is brought up to date by `ctxpack index` or a pack without the daemon.)
        repo = open_repo(root, cfg, answer_first=True) if repo is None else refresh_history(
            refresh_repo(repo, lazy_above=ANSWER_FIRST_ABOVE))
        repo.warm()
        # Vectors embedded since (by `ctxpack index`) join the dense lane, as a new process would see them.
        stamp = stat_key(vector_store_for(repo.store, repo.cfg).dir / "state.json")
        if self.vectors.get(root) != stamp and repo.dense_loaded():
            repo.dense_lane(reload=True)
        self.vectors[root] = stamp
        self.repos[root] = repo
        while len(self.repos) > _KEEP_REPOS:
            self.vectors.pop(self.repos.popitem(last=False)[0], None)
        return repo if repo.cfg == cfg else replace(repo, cfg=cfg)

    def load(self, request: dict[str, Any]) -> None:
        """Load the repository a request names (``{"root", "overrides"}``) before any request asks for it:
        what a daemon started by ``pack --daemon`` does first. A failure is logged; the request that needs
        the repository loads it again and reports the error as the command would."""
        from ..config import load_config, repo_root

        t0 = time.perf_counter()
        try:
            root = repo_root(request["root"])
            cfg = load_config(root, **request["overrides"])
            self.repo_for(root, cfg)
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("could not load %s ahead of its requests: %s", request.get("root"), exc)
            return
        from ..index.secrets import warm as warm_secrets
        from ..tokens import get_counter

        get_counter(cfg.encoding)  # what the first pack needs besides the repository (0.1-0.2 s each)
        if cfg.redact:
            warm_secrets()
        log.info("loaded %s in %.3f s", root, time.perf_counter() - t0)

    def finish(self, waiting: Callable[[], bool] = lambda: False) -> None:
        """Parse the files a pack left provisional, after its reply, a batch at a time until a client is ``waiting``
        (then the rest waits for the next idle moment)."""
        for root, repo in list(self.repos.items()):
            while repo.provisional and not waiting():
                try:
                    repo = repo.completed(_next_batch(repo))
                    if not repo.provisional:
                        repo.warm()
                except Exception:  # noqa: BLE001 - the next request loads the repository afresh
                    log.exception("parsing the files of %s left for later failed", root)
                    self.repos.pop(root, None)
                    break
                self.repos[root] = repo

    def pack(self, req: dict[str, Any]) -> dict[str, Any]:
        from ..config import load_config, repo_root
        from ..pipeline import pack_for
        from ..render import render, summary_line

        root = repo_root(req["root"])
        cfg = load_config(root, **req["overrides"])
        p = pack_for(self.repo_for(root, cfg), req["query"], focus=tuple(req["focus"]))
        return {"text": render(p), "summary": summary_line(p)}

    def handle(self, conn: socket.socket) -> bool:
        """Answer one connection; False when the daemon should exit."""
        from ..errors import CtxpackError

        conn.settimeout(30.0)
        try:
            req = json.loads(recv_all(conn, MAX_REQUEST))
        except (OSError, ValueError) as exc:
            log.warning("bad request: %s", exc)
            return True
        if isinstance(req, dict) and req.get("op") == "ping":
            self._reply(conn, {"status": "pong"})
            return True
        if isinstance(req, dict) and req.get("op") == "stop":
            log.info("asked to stop: exiting")
            self._reply(conn, {"status": "stopped"})
            return False
        if not isinstance(req, dict) or req.get("key") != self.key:
            log.info("a client running other code or settings (mismatch): exiting")
            self._reply(conn, {"status": "mismatch"})
            return False
        messages = _Messages()
        pkg_log = logging.getLogger("ctxpack")
        pkg_log.addHandler(messages)
        keep = True
        t0 = time.perf_counter()
        try:
            reply = {"status": "ok", **self.pack(req)}
            log.info("packed %s in %.3f s", req.get("root"), time.perf_counter() - t0)
        except CtxpackError as exc:
            reply = {"status": "error", "error": str(exc), "exit_code": exc.exit_code}
        except Exception:  # the client packs in-process; a daemon in an unknown state exits
            log.exception("pack failed in the daemon")
            reply, keep = {"status": "failed"}, False
        finally:
            pkg_log.removeHandler(messages)
        reply["messages"] = messages.lines
        self._reply(conn, reply)
        return keep

    @staticmethod
    def _reply(conn: socket.socket, reply: dict[str, Any]) -> None:
        try:
            conn.settimeout(REPLY_TIMEOUT_S)
            conn.sendall(json.dumps(reply).encode("utf-8", "surrogatepass"))
        except OSError as exc:  # the client gave up (timeout, Ctrl-C): nothing to tell it
            log.debug("reply not delivered: %s", exc)


def _next_batch(repo: Any) -> list[str]:
    """The provisional files ``finish`` parses next (path order): up to ``_FINISH_BATCH`` files and
    ``_FINISH_BYTES`` bytes, and always at least one."""
    batch: list[str] = []
    size = 0
    for path in sorted(repo.provisional):
        size += repo.snapshot.files[path].size
        if batch and (len(batch) == _FINISH_BATCH or size > _FINISH_BYTES):
            break
        batch.append(path)
    return batch


def serve(index_dir: Path, idle_s: float | None = None, load: dict[str, Any] | None = None) -> int:
    """Serve packs for ``index_dir`` until idle for ``idle_s`` seconds. Returns an exit code
    (0 also when another daemon already serves this index).

    ``load``: a repository to load first (``Daemon.load``); a client that connects meanwhile waits for it."""
    import fcntl
    import select
    import signal

    path = socket_path(index_dir)
    if path is None:
        log.error("daemon: no private runtime directory for Unix sockets")
        return 1
    if idle_s is None:
        idle_s = float(os.environ.get("CTXPACK_DAEMON_IDLE", _IDLE_S))
    lock = open(path.with_suffix(".lock"), "a+")  # noqa: SIM115 - held for the daemon's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return 0  # another daemon serves this index
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path.unlink(missing_ok=True)  # left by a daemon that died: we hold the lock, so no one serves it
        srv.bind(str(path))
        os.chmod(path, 0o600)
        srv.listen(16)
        srv.settimeout(idle_s)
        daemon = Daemon(index_dir)
        signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))  # `kill`: clean up below, like an idle exit
        log.info("daemon for %s listening on %s", index_dir, path)
        if load is not None:
            daemon.load(load)
            daemon.finish(lambda: bool(select.select([srv], [], [], 0)[0]))
        while True:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                log.info("idle for %.0f s: exiting", idle_s)
                return 0
            with conn:
                if not daemon.handle(conn):
                    return 0
            daemon.finish(lambda: bool(select.select([srv], [], [], 0)[0]))
    finally:
        srv.close()
        path.unlink(missing_ok=True)
        lock.close()
