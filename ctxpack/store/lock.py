"""The one write-lock helper: an exclusive ``flock`` on a file, retried until a deadline.

``flock`` locks are released by the OS when their holder dies (even ``kill -9``), so a
crashed writer never leaves a stale lock behind. Used by the index (``write.lock``) and
by the embedding cache (``embed.lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["close_inherited", "exclusive_lock"]

_held: set[int] = set()  # the lock files this process holds open (a forked child inherits them: close_inherited)


def close_inherited() -> None:
    """In a child forked while a lock was held (a parse worker): close its copies of the lock files.

    A ``flock`` lasts while any copy of its file descriptor is open, so a worker outliving a
    killed parent would otherwise keep the index locked.
    """
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


@contextlib.contextmanager
def exclusive_lock(path: Path, wait_s: float, poll_s: float, busy: Callable[[], Exception]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` body.

    Args:
        path: the lock file.
        wait_s: how long to wait for another holder before giving up.
        poll_s: pause between attempts.
        busy: builds the exception raised when ``wait_s`` ran out.

    Raises:
        Exception: ``busy()`` when another process held the lock for ``wait_s`` seconds.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _held.add(fd)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise busy() from None
                time.sleep(poll_s)
        yield
    finally:
        _held.discard(fd)
        os.close(fd)
