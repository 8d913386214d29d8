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

This module is the client (``daemon_server`` the daemon); it imports only the standard
library, so a run through the daemon never loads numpy, the tokenizer or the index."""

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
from pathlib import Path
from typing import Any

__all__ = ["compat_key", "is_running", "pack_via_daemon", "recv_all", "socket_path", "start_daemon", "stop_daemon"]

log = logging.getLogger(__name__)


MAX_REQUEST = 64 << 20  # bytes: a query is at most a few MB (config.MAX_QUERY_CHARS)


_CONNECT_TIMEOUT_S = 1.0


REPLY_TIMEOUT_S = 600.0  # a first pack of a big new tree parses it


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
    pkg = Path(__file__).resolve().parent.parent
    h = hashlib.sha1()
    h.update(f"{sys.executable}\0{pkg}\0".encode())
    for p in sorted(pkg.rglob("*.py")):
        try:
            h.update(f"{p.relative_to(pkg).as_posix()}:{p.stat().st_mtime_ns}\0".encode())
        except OSError:
            pass
    for k in sorted(os.environ):
        if k.startswith(_ENV_PREFIXES) and k not in ("CTXPACK_DAEMON", "CTXPACK_DAEMON_IDLE"):
            h.update(f"{k}={os.environ[k]}\0".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def recv_all(conn: socket.socket, limit: int) -> bytes:
    parts, size = [], 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            return b"".join(parts)
        size += len(b)
        if size > limit:
            raise ValueError("message too large")
        parts.append(b)


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
            return json.loads(recv_all(s, 1 << 34))
    except (OSError, ValueError):
        return None


def pack_via_daemon(index_dir: Path, request: dict[str, Any]) -> dict[str, Any] | None:
    """Send a pack request to the daemon of ``index_dir``.

    Returns:
        Its answer: ``{"status": "ok", "text", "summary", "messages"}`` or ``{"status":
        "error", "error", "exit_code"}`` (a CtxpackError, reported as the command would);
        None when there is no usable daemon and the command should pack itself.
    """
    reply = _ask(index_dir, {**request, "key": compat_key()}, REPLY_TIMEOUT_S)
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


def start_daemon(index_dir: Path, load: dict[str, Any] | None = None) -> None:
    """Start the daemon of ``index_dir`` in the background (a no-op if one is running: it holds a lock).

    ``load``: a repository for it to load as it starts (``{"root", "overrides"}``, as a pack
    request names them), so that the next request finds it warm."""
    path = socket_path(index_dir)
    if path is None:
        return
    preload = ["--load", json.dumps(load)] if load is not None else []
    try:
        with open(path.with_suffix(".log"), "ab") as logf:
            subprocess.Popen([sys.executable, "-m", "ctxpack", "daemon", str(index_dir), *preload],
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=logf, start_new_session=True, close_fds=True,
                             cwd=os.path.abspath(os.sep))
    except OSError as exc:
        log.debug("cannot start the daemon for %s: %s", index_dir, exc)
