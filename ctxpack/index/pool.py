"""Parse many contents on every core (issue 17): a process pool, used only where it pays.

``parse_contents`` runs ``process.process_content`` over its items in this process below
``POOL_MIN_FILES`` items (or with one worker), else in a pool of ``worker_count()``
processes; either way the results come back in the items' order and are the same values.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from ..config import Config
from ..errors import ConfigError
from ..models import Progress, no_progress
from . import process
from .process import FileContent

__all__ = ["POOL_MIN_FILES", "WORKERS_ENV", "parse_contents", "worker_count"]

log = logging.getLogger(__name__)

WORKERS_ENV = "CTXPACK_WORKERS"
# Below this many files a pool costs more than it saves: starting two forked workers and
# shipping texts and results through pipes costs ~30-60 ms, about 15 files' parse
# (benchmarks/results/parse-pool.md measures it).
POOL_MIN_FILES = 48
_CHUNK = 8  # files per task: few round trips, and big files spread over the workers


def worker_count() -> int:
    """How many processes parse: ``CTXPACK_WORKERS`` when set, else the cores this process may use.

    Raises:
        ConfigError: ``CTXPACK_WORKERS`` is not a whole number of at least 1.
    """
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ConfigError(f"{WORKERS_ENV} must be a whole number of at least 1: {raw!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _parse_one(cfg: Config, item: tuple[str, str]) -> FileContent:
    return process.process_content(item[0], item[1], cfg)


def parse_contents(items: list[tuple[str, str]], cfg: Config, progress: Progress = no_progress,
                   workers: int | None = None) -> list[FileContent]:
    """``process_content`` of each ``(text, language)``, in order (in a process pool when it pays).

    Args:
        items: the texts and their languages.
        cfg: settings.
        progress: called as ``progress("parse", done, total)``.
        workers: processes to use (default ``worker_count()``).

    Raises:
        ConfigError: ``CTXPACK_WORKERS`` is not a whole number of at least 1.
    """
    n = worker_count() if workers is None else workers
    n = min(n, -(-len(items) // _CHUNK))
    if n < 2 or len(items) < POOL_MIN_FILES:
        return list(_reporting(map(partial(_parse_one, cfg), items), len(items), progress))
    # fork is the cheapest start (the grammars and the tokenizer are already loaded), but only
    # safe with no other thread running (Python's or a library's: LanceDB's runtime, onnxruntime);
    # a warm server has threads, so its workers start clean.
    method = "fork" if _single_threaded() else "forkserver"
    import multiprocessing

    log.debug("parsing %d files in %d %s workers", len(items), n, method)
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context(method)) as pool:
        return list(_reporting(pool.map(partial(_parse_one, cfg), items, chunksize=_CHUNK), len(items), progress))


def _single_threaded() -> bool:
    """True when this process runs one thread, native ones included (Linux: /proc; elsewhere Python's only)."""
    if threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return os.name == "posix" and hasattr(os, "fork") and not os.path.isdir("/proc")


def _reporting(results: Iterator[FileContent], total: int, progress: Progress) -> Iterator[FileContent]:
    for i, got in enumerate(results):
        if i % 50 == 0 or i == total - 1:
            progress("parse", i + 1, total)
        yield got
