"""``ctxpack pack --daemon``: a background process per index that keeps repositories loaded.

Each ``ctxpack pack`` is a new process, and before it ranks anything (milliseconds) it pays
for Python and its imports, the tokenizer table, reading the index and building the ranking
index: most of a second. With ``--daemon`` (or ``CTXPACK_DAEMON=1``) the command sends its
request over a Unix socket to the daemon of its index directory and prints the answer,
which is the same bytes it would have printed itself.

* No daemon yet: the command packs in-process as usual and starts one, detached (its log
  is ``<socket>.log``). It serves the following runs.
* The daemon keeps the last few repositories it packed, by root. A request first brings
  the loaded repository up to date with the files on disk (by stat, as ``refresh_repo``
  does) and with the git HEAD. A root it has not seen, with the same settings as one it has
  (another checkout sharing the index directory), starts from that one and re-parses only
  files whose content differs.
* It loads an index as a pack does (bringing it up to date on disk first), and after that
  never writes it: the next pack without the daemon updates it as usual.
* It exits after ``CTXPACK_DAEMON_IDLE`` seconds without a request (default 900), or when a
  client running other code or another environment (``compat_key``) reaches it.
* Anything wrong on the way (no Unix sockets, a stale socket, a timeout, a crash) means the
  command packs in-process: the daemon is only ever a speed-up.

The client half of this module imports only the standard library, so a run through the
daemon never loads numpy, the tokenizer or the index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

__all__ = ["compat_key", "is_running", "pack_via_daemon", "serve", "socket_path", "start_daemon", "stop_daemon"]

log = logging.getLogger(__name__)

_MAX_REQUEST = 64 << 20  # bytes: a query is at most a few MB (config.MAX_QUERY_CHARS)
_CONNECT_TIMEOUT_S = 1.0
_REPLY_TIMEOUT_S = 600.0  # a first pack of a big new tree parses it
_IDLE_S = 900.0
_KEEP_REPOS = 3
_PACK_ONLY = ("budget", "format", "repo_map", "outline_share", "chunk_share", "skeleton_share", "map_share",
              "size_exponent", "include", "exclude")
_ENV_PREFIXES = ("CTXPACK_", "TIKTOKEN_", "HF_", "SENTENCE_TRANSFORMERS_", "TRANSFORMERS_", "OMP_")


def _runtime_dir() -> Path | None:
    """A directory only this user can enter (socket paths must stay under ~100 bytes)."""
    if not hasattr(socket, "AF_UNIX") or not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    d = Path(base) / f"ctxpack-{os.getuid()}"
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = d.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None  # someone else's, or open to others: do not talk through it
    return d


def socket_path(index_dir: Path) -> Path | None:
    """The daemon socket of ``index_dir`` (None where Unix sockets are unavailable)."""
    d = _runtime_dir()
    if d is None:
        return None
    name = hashlib.sha1(str(index_dir).encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return d / f"{name}.sock"


def compat_key() -> str:
    """What a daemon must share with its client: the ctxpack code it runs (files and their
    mtimes), the interpreter and the environment variables that change what a pack does."""
    pkg = Path(__file__).resolve().parent
    h = hashlib.sha1()
    h.update(f"{sys.executable}\0{pkg}\0".encode())
    for p in sorted(pkg.glob("*.py")):
        try:
            h.update(f"{p.name}:{p.stat().st_mtime_ns}\0".encode())
        except OSError:
            pass
    for k in sorted(os.environ):
        if k.startswith(_ENV_PREFIXES) and k not in ("CTXPACK_DAEMON", "CTXPACK_DAEMON_IDLE"):
            h.update(f"{k}={os.environ[k]}\0".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _recv_all(conn: socket.socket, limit: int) -> bytes:
    parts, size = [], 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            return b"".join(parts)
        size += len(b)
        if size > limit:
            raise ValueError("message too large")
        parts.append(b)


# ---- client ------------------------------------------------------------------------------------


def _ask(index_dir: Path, message: dict[str, Any], reply_timeout: float) -> Any:
    """One request to the daemon of ``index_dir``: its decoded reply, or None when no daemon
    answered (none running, a stale socket, a timeout, a garbled reply)."""
    path = socket_path(index_dir)
    if path is None:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(_CONNECT_TIMEOUT_S)
            s.connect(str(path))
            s.settimeout(reply_timeout)
            s.sendall(json.dumps(message).encode("utf-8", "surrogatepass"))
            s.shutdown(socket.SHUT_WR)
            return json.loads(_recv_all(s, 1 << 34))
    except (OSError, ValueError):
        return None


def pack_via_daemon(index_dir: Path, request: dict[str, Any]) -> dict[str, Any] | None:
    """Send a pack request to the daemon of ``index_dir``.

    Returns:
        Its answer: ``{"status": "ok", "text", "summary", "messages"}`` or ``{"status":
        "error", "error", "exit_code"}`` (a CtxpackError, reported as the command would);
        None when there is no usable daemon and the command should pack itself.
    """
    reply = _ask(index_dir, {**request, "key": compat_key()}, _REPLY_TIMEOUT_S)
    if not isinstance(reply, dict) or reply.get("status") not in ("ok", "error"):
        return None  # none, "mismatch" (the daemon runs other code and is exiting) or "failed"
    return reply


def is_running(index_dir: Path) -> bool:
    """True when a daemon of ``index_dir`` answers."""
    return _ask(index_dir, {"op": "ping"}, 5.0) is not None


def stop_daemon(index_dir: Path, timeout: float = 10.0) -> bool:
    """Ask the daemon of ``index_dir`` to exit and wait until it has; False when none was running."""
    if _ask(index_dir, {"op": "stop"}, timeout) is None:
        return False
    path = socket_path(index_dir)
    end = time.monotonic() + timeout
    while path is not None and path.exists() and time.monotonic() < end:
        time.sleep(0.02)
    return True


def start_daemon(index_dir: Path) -> None:
    """Start the daemon of ``index_dir`` in the background (a no-op if one is running: it holds a lock)."""
    path = socket_path(index_dir)
    if path is None:
        return
    try:
        with open(path.with_suffix(".log"), "ab") as logf:
            subprocess.Popen([sys.executable, "-m", "ctxpack", "daemon", str(index_dir)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=logf, start_new_session=True, close_fds=True,
                             cwd=os.path.abspath(os.sep))
    except OSError as exc:
        log.debug("cannot start the daemon for %s: %s", index_dir, exc)


# ---- server ------------------------------------------------------------------------------------


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

    from .config import Config

    default = Config()
    return replace(cfg, **{k: getattr(default, k) for k in _PACK_ONLY})


class _Daemon:
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self.key = compat_key()
        self.repos: OrderedDict[Path, Any] = OrderedDict()  # root -> pipeline.Repo, least recently used first
        self.vectors: dict[Path, tuple[int, int] | None] = {}  # root -> stat of its embedding cache's state

    def repo_for(self, root: Path, cfg: Any) -> Any:
        """The loaded Repo of ``root``, current with its files and HEAD."""
        from dataclasses import replace

        from .pipeline import open_repo, refresh_history, refresh_repo, stat_key, vector_store_for

        key = _index_settings(cfg)
        repo = self.repos.pop(root, None)
        if repo is not None and _index_settings(repo.cfg) != key:
            repo = None
        if repo is None:
            sibling = next((r for r in reversed(self.repos.values()) if _index_settings(r.cfg) == key), None)
            if sibling is not None:  # same settings and index: start from it, re-read what differs
                repo = replace(sibling, root=root, _dense=None, _clean_files={}, _skeletons=dict(sibling._skeletons))
        repo = open_repo(root, cfg) if repo is None else refresh_history(refresh_repo(repo))
        repo.warm()
        # Vectors embedded since (by `ctxpack index`) join the dense lane, as a new process would see them.
        stamp = stat_key(vector_store_for(repo.store, repo.cfg).dir / "state.json")
        if self.vectors.get(root) != stamp and repo._dense is not None:
            repo.dense_lane(reload=True)
        self.vectors[root] = stamp
        self.repos[root] = repo
        while len(self.repos) > _KEEP_REPOS:
            self.vectors.pop(self.repos.popitem(last=False)[0], None)
        return repo if repo.cfg == cfg else replace(repo, cfg=cfg)

    def pack(self, req: dict[str, Any]) -> dict[str, Any]:
        from .config import load_config, repo_root
        from .pipeline import pack_for
        from .render import render, summary_line

        root = repo_root(req["root"])
        cfg = load_config(root, **req["overrides"])
        p = pack_for(self.repo_for(root, cfg), req["query"], focus=tuple(req["focus"]))
        return {"text": render(p), "summary": summary_line(p)}

    def handle(self, conn: socket.socket) -> bool:
        """Answer one connection; False when the daemon should exit."""
        from .errors import CtxpackError

        conn.settimeout(30.0)
        try:
            req = json.loads(_recv_all(conn, _MAX_REQUEST))
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
            conn.settimeout(_REPLY_TIMEOUT_S)
            conn.sendall(json.dumps(reply).encode("utf-8", "surrogatepass"))
        except OSError as exc:  # the client gave up (timeout, Ctrl-C): nothing to tell it
            log.debug("reply not delivered: %s", exc)


def serve(index_dir: Path, idle_s: float | None = None) -> int:
    """Serve packs for ``index_dir`` until idle for ``idle_s`` seconds. Returns an exit code
    (0 also when another daemon already serves this index)."""
    import fcntl
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
        daemon = _Daemon(index_dir)
        signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))  # `kill`: clean up below, like an idle exit
        log.info("daemon for %s listening on %s", index_dir, path)
        while True:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                log.info("idle for %.0f s: exiting", idle_s)
                return 0
            with conn:
                if not daemon.handle(conn):
                    return 0
    finally:
        srv.close()
        path.unlink(missing_ok=True)
        lock.close()
