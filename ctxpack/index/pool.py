"""Parse many contents on every core (issue 17): a process pool, used only where it pays.

``parse_contents`` runs ``process.process_content`` over its items (``provisional_files``:
``process.provisional_content`` with the path's part) in this process below ``POOL_MIN_FILES``
items of less than ``POOL_MIN_CHARS`` together (or with one worker), else in a pool of
``worker_count()`` processes; either way the results come back in the items' order and are the same values.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from itertools import chain
from typing import TypeVar

from ..config import Config
from ..errors import ConfigError
from ..models import ProcessedFile, Progress, SourceFile, no_progress
from ..tokens import get_counter
from . import process, secrets
from .process import FileContent

__all__ = ["POOL_MIN_CHARS", "POOL_MIN_FILES", "WORKERS_ENV", "busy_cores", "parse_contents", "provisional_files",
           "single_threaded", "worker_count", "worker_start"]

log = logging.getLogger(__name__)

WORKERS_ENV = "CTXPACK_WORKERS"
# Below this many files a pool costs more than it saves: starting two forked workers and
# shipping texts and results through pipes costs ~30-60 ms, about 15 files' parse
# (benchmarks/parse_pool.py measures it; benchmarks/results/bigrepo-checkout.md has a run).
POOL_MIN_FILES = 48
# ... or when the texts are this long together: a few big files (the best ranked files of a
# big change, parsed for one pack) take ~0.5-1 s on one core.
POOL_MIN_CHARS = 250_000
_TASKS_PER_WORKER = 8  # tasks of about equal size per worker: few round trips, and no worker left idle at the end
_LOOKS = 3  # busy_cores: looks at the runnable tasks
_In = TypeVar("_In")
_Out = TypeVar("_Out")


def worker_count() -> int:
    """How many processes parse: ``CTXPACK_WORKERS`` when set, else the usable cores that are idle.

    Cores busy with other work (``busy_cores``) are left out: on a loaded machine a pool only
    adds its own costs (measured: benchmarks/results/bigrepo-checkout.md).

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
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    busy = busy_cores()
    n = max(1, min(cores, int(cores - busy + 0.5)))
    if n < cores:
        log.debug("%d of %d cores busy with other work: %d worker(s)", round(busy), cores, n)
    return n


def busy_cores() -> float:
    """How many other tasks want a core now: Linux's count of runnable tasks (``/proc/loadavg``)
    less this process's own runnable threads; elsewhere the 1-minute load average less one.

    The count of this moment, not the average: the average still holds, for a minute, the work
    that just ended (this command's previous run, the index written behind its answer). This
    process's threads are left out: numpy's BLAS threads spin for a while after a call. The least
    of three looks 2 ms apart: a task that runs for a moment (a kernel worker, a shell between
    two commands) is not other work for the next second."""
    try:
        least = None
        for look in range(_LOOKS):
            if look:
                time.sleep(0.002)
            with open("/proc/loadavg", encoding="ascii") as fh:
                runnable = int(fh.read().split()[3].split("/")[0])
            busy = max(0, runnable - _own_runnable())
            least = busy if least is None else min(least, busy)
            if not least:
                break
        return float(least or 0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):
        return 0.0


def _own_runnable() -> int:
    """This process's threads that are runnable now (at least this one), and its child processes
    (a ``git log`` started to run meanwhile): work of ours, not other work wanting the cores.
    A child counts whatever its state: it is runnable, then waits on the disk, then is runnable
    again, and ``/proc/loadavg`` was read a moment before."""
    n = 0
    for task in os.listdir("/proc/self/task"):
        n += _state(f"/proc/self/task/{task}/stat") == "R"
        try:
            with open(f"/proc/self/task/{task}/children", encoding="ascii") as fh:
                n += len(fh.read().split())
        except OSError:
            continue
    return max(1, n)


def _state(stat_path: str) -> str:
    """A task's state letter in its ``stat`` file (``R`` runnable), or "" when it is gone."""
    try:
        with open(stat_path, encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def worker_start(parent: int) -> None:
    """A worker lets go of the parent's locks and dies with it (``kill -9`` of an index run
    must not leave workers holding the index's write lock). ``parent``: the pid to check it is
    still the worker's parent (0: a forkserver's worker, whose parent is the forkserver)."""
    from ..store.lock import close_inherited

    close_inherited()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:  # the parent died before that took effect
        os._exit(1)


def _parse_one(cfg: Config, item: tuple[str, str]) -> FileContent:
    return process.process_content(item[0], item[1], cfg)


def _provisional_one(_cfg: Config, src: SourceFile) -> ProcessedFile:
    return process.with_path(process.provisional_content(src.text, src.language), src)


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
    return _map(_parse_one, items, [len(text) for text, _ in items], cfg, progress, workers, "parse",
                partial(get_counter, cfg.encoding))


def provisional_files(sources: list[SourceFile], cfg: Config, progress: Progress = no_progress,
                      workers: int | None = None, meanwhile: Callable[[], object] | None = None) -> list[ProcessedFile]:
    """``with_path(provisional_content(...))`` of each source, in order (in a process pool when it
    pays): terms, line-stated symbols and a token estimate, no parse (``process_sources``'s
    ``lazy_above``). The path's part runs in the workers too: it is a fifth of the work.
    ``meanwhile``: more for this process to do while it waits for the workers (after the tokenizer
    and the secret scanner); not run when the work stays in this process.

    Raises:
        ConfigError: ``CTXPACK_WORKERS`` is not a whole number of at least 1.
    """
    return _map(_provisional_one, sources, [len(s.text) for s in sources], cfg, progress, workers, "terms",
                partial(_before_a_pack, cfg, meanwhile))


def _before_a_pack(cfg: Config, more: Callable[[], object] | None = None) -> None:
    """What a pack answered first loads after its provisional terms: the tokenizer, and the secret scanner."""
    get_counter(cfg.encoding)
    if cfg.redact:
        secrets.warm()
    if more is not None:
        more()


def _map(one: Callable[[Config, _In], _Out], items: list[_In], sizes: list[int], cfg: Config, progress: Progress,
         workers: int | None, stage: str, meanwhile: Callable[[], object]) -> list[_Out]:
    """``one`` over ``items`` (of ``sizes`` characters), in a pool when it pays; this process runs
    ``meanwhile`` while it waits for the workers (what it will need next)."""
    if len(items) < 2 or (len(items) < POOL_MIN_FILES and sum(sizes) < POOL_MIN_CHARS):  # (before looking at
        return list(_reporting(map(partial(one, cfg), items), len(items), progress, stage))  # the cores: an edit)
    n = min(worker_count() if workers is None else workers, len(items))
    if n < 2:
        return list(_reporting(map(partial(one, cfg), items), len(items), progress, stage))
    # fork is the cheapest start (the grammars and the tokenizer are already loaded), but only
    # safe with no other Python thread running; a warm server has threads, so its workers start
    # clean (forkserver: unless that would rerun the program's main script, see _main_runs_again).
    method = "fork" if single_threaded() else "forkserver"
    if method == "forkserver" and _main_runs_again():
        log.debug("%s: %d files in this process (a threaded program whose main script a worker would rerun)",
                  stage, len(items))
        return list(_reporting(map(partial(one, cfg), items), len(items), progress, stage))
    import multiprocessing

    if one is _parse_one:
        warm_queries(items)  # type: ignore[arg-type]  # once here, inherited by forked workers and ready for this process
    log.debug("%s: %d files in %d %s workers", stage, len(items), n, method)
    try:
        with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context(method),
                                 initializer=worker_start,
                                 # a forkserver's workers are its children, not this process's
                                 initargs=(os.getpid() if method == "fork" else 0,)) as pool:
            tasks = _tasks(sizes, n * _TASKS_PER_WORKER)
            results = chain.from_iterable(pool.map(partial(_each, one, cfg), [items[a:b] for a, b in tasks]))
            # This process only waits for them: load what it needs next (workers forked
            # later, for the next parse, inherit the tokenizer).
            meanwhile()
            return list(_reporting(results, len(items), progress, stage))
    except (BrokenProcessPool, OSError) as exc:  # a worker killed (out of memory), no processes left to start
        log.warning("%s in %d processes failed (%s); working in this one", stage, n, exc)
        return list(_reporting(map(partial(one, cfg), items), len(items), progress, stage))


def _each(one: Callable[[Config, _In], _Out], cfg: Config, items: list[_In]) -> list[_Out]:
    return [one(cfg, item) for item in items]


def _tasks(sizes: list[int], count: int) -> list[tuple[int, int]]:
    """``sizes`` cut into about ``count`` runs of about equal total, as (start, end) index pairs in order.

    Few tasks, not one per file: each task's items and results cross a pipe, pickled by a thread
    of this process that needs the interpreter lock (busy here while the workers run, ``meanwhile``)."""
    share = max(1, sum(sizes) // max(1, count))
    out, start, acc = [], 0, 0
    for i, size in enumerate(sizes):
        acc += size
        if acc >= share:
            out.append((start, i + 1))
            start, acc = i + 1, 0
    if start < len(sizes):
        out.append((start, len(sizes)))
    return out


def warm_queries(items: list[tuple[str, str]]) -> None:
    """Compile the tag queries of the items' languages in this process (C++'s takes ~0.4 s)."""
    from ..languages import get_query

    for language in dict.fromkeys(lang for _, lang in items):
        get_query(language)


def _main_runs_again() -> bool:
    """True when a worker started clean (forkserver) would run this program's main script again
    (a script without an ``if __name__ == "__main__"`` guard would redo its work there)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and (spec.name == "__main__" or spec.name.endswith(".__main__")):
        return False  # python -m PKG: multiprocessing does not import it again
    path = getattr(main, "__file__", None)
    return path is not None and os.path.basename(path) not in ("ctxpack", "ctxpack.exe")  # our entry point has a guard


def single_threaded() -> bool:
    """True when this process runs no Python thread but the main one (then forking it is safe).

    Native threads do not count: OpenBLAS's (numpy starts them at import) are fork-safe, and a
    forked worker never calls into LanceDB (whose runtime threads would not follow it).
    """
    return threading.active_count() == 1


def _reporting(results: Iterator[_Out], total: int, progress: Progress, stage: str = "parse") -> Iterator[_Out]:
    for i, got in enumerate(results):
        if i % 50 == 0 or i == total - 1:
            progress(stage, i + 1, total)
        yield got
