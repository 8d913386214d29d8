"""Parse ahead, in forked processes, the files a pack may show as chunks and that are not parsed yet (issue 17).

A big change is answered before its files are parsed (``repo.Repo.provisional``). A pack that
shows chunks of such a file parses it when it gets there, one file at a time on this process's
core: at 128K, a numpy checkout's pack parsed 26 of them this way (2.3 s, the C++ tag query's
compilation among it). The packer knows early which files it may show as chunks, and in what
order (``PackInputs.expect_chunks``), so two workers parse them in that order on the cores
while this process packs (mostly waiting for them). When the packer reaches a file, its parse
is ready, or being made (waited for), or not started yet (the caller parses it itself and the
worker's copy is never read). A worker writes each result to a file of a private temporary
directory and says so through a pipe, so it never waits for this process to read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..models import SourceFile
from .discover import Candidate, read_source
from .process import FileContent, process_content

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

__all__ = ["Ahead", "ParseAhead"]

log = logging.getLogger(__name__)

Ahead = tuple[SourceFile, FileContent] | None  # a file's source and parse; None: no longer an indexable text
_WAIT_S = 30.0  # the longest wait for the file the worker is parsing (a parse stops at cfg.parse_timeout_ms)


class ParseAhead:
    """``workers`` forked workers parsing ``cands`` in order (the first takes the 1st, 3rd ... when there are
    two); ``take`` hands out what they have parsed.

    Start it only in a process with no other Python thread (see ``pool.single_threaded``), and ``close`` it
    before forking anything else."""

    def __init__(self, root: Path, cands: list[Candidate], cfg: Config, workers: int = 2) -> None:
        import multiprocessing

        n = max(1, min(workers, len(cands)))
        self._where = {c.path: (k % n, k // n) for k, c in enumerate(cands)}  # path -> (worker, its k-th file)
        self._dir = Path(tempfile.mkdtemp(prefix="ctxpack-ahead-"))
        ctx = multiprocessing.get_context("fork")
        self._workers: list[_Worker] = []
        for w in range(n):
            conn, child_conn = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_work, args=(os.getpid(), root, cands[w::n], cfg, self._dir / str(w), child_conn),
                               daemon=True)
            (self._dir / str(w)).mkdir()
            proc.start()
            child_conn.close()
            self._workers.append(_Worker(proc, conn, len(cands[w::n])))

    def take(self, path: str) -> tuple[bool, Ahead]:
        """``(True, result)`` when a worker parsed ``path`` or is parsing it (then this waits), else
        ``(False, None)``: not in the list, not reached yet, or the worker failed (parse it here)."""
        where = self._where.get(path)
        if where is None:
            return False, None
        w, k = where
        worker = self._workers[w]
        if worker.broken:
            return False, None
        worker.drain(wait=False)
        if k == worker.done + 1:  # being parsed now
            worker.drain(wait=True, until=k)
        if k > worker.done:
            return False, None
        try:
            with open(self._dir / str(w) / f"{k}.pkl", "rb") as fh:
                return True, pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError) as exc:
            log.debug("parse ahead: no result for %s (%s)", path, exc)
            return False, None

    def close(self) -> None:
        """Stop the workers (whatever they were doing) and remove their results."""
        for worker in self._workers:
            worker.stop()
        self._workers = []
        shutil.rmtree(self._dir, ignore_errors=True)


class _Worker:
    """One worker process, the pipe it reports on, and how far it got."""

    def __init__(self, proc: BaseProcess, conn: Connection, total: int) -> None:
        self.proc: BaseProcess | None = proc
        self.conn = conn
        self.total = total
        self.done = -1  # it has written the results of its files [0, done]
        self.broken = False

    def drain(self, *, wait: bool, until: int = -1) -> None:
        """Read the notices that are there (``wait``: until ``until`` is done, at most ``_WAIT_S`` each)."""
        try:
            while not (wait and self.done >= until):
                if not self.conn.poll(_WAIT_S if wait else 0):
                    if wait:
                        log.debug("parse ahead: a worker took over %.0f s for one file", _WAIT_S)
                        self.broken = True
                    return
                self.done = self.conn.recv()
        except (EOFError, OSError):  # it ended (all done, or it failed): what it wrote stays readable
            self.broken = self.done < self.total - 1

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.proc.close()
            self.proc = None
        self.conn.close()


def _work(parent: int, root: Path, cands: list[Candidate], cfg: Config, out_dir: Path, conn: Connection) -> None:
    """The worker: each candidate read and parsed, its result written, its index sent."""
    from .pool import worker_start

    worker_start(parent)
    with contextlib.suppress(OSError):
        os.nice(10)  # what the packer waits for comes first: this is a guess at what it will ask
    for k, cand in enumerate(cands):
        src = read_source(root, cand, cfg.redact)
        result: Ahead = None
        if isinstance(src, SourceFile):
            result = (src, process_content(src.text, src.language, cfg))
        tmp = out_dir / f".{k}.tmp"
        with open(tmp, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, out_dir / f"{k}.pkl")
        conn.send(k)
    conn.close()
