"""What the repository's git history says about its files, at the indexed commit.

Two ranking signals come from it (see ``rank``): how recently a file changed (edits
cluster on files that are being worked on) and which files changed together with the
best matches (an edit to one usually needs its co-changed partners). Only commits
reachable from HEAD count, never the working tree, so the signal is reproducible.

The history is read with one ``git log`` (a few hundred milliseconds on a 30,000-commit
repository, limited to the newest ``MAX_COMMITS``) and cached in the index directory
keyed by the HEAD commit. Anything that goes wrong (no git, not a repository, a
shallow or broken clone, a timeout) means no history: ranking works without it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..gitcmd import run_git, start_git
from ..terms import term_counts

__all__ = ["MAX_COMMITS", "MAX_FILES_PER_COMMIT", "History", "HistoryIndex", "head_commit", "index_history",
           "read_history", "start_history"]

log = logging.getLogger(__name__)

MAX_COMMITS = 2_000  # newest non-merge commits read
MAX_FILES_PER_COMMIT = 30  # bigger commits (reformatting, vendoring, renames) say little about coupling
_CACHE = "history.json"
_TIMEOUT_S = 20.0
_FORMAT = 2  # of the cache file
_RECENT_SCALE = 10.0  # commits: a file last changed this many commits ago has recent = 0.5


@dataclass(frozen=True, slots=True)
class History:
    """The newest commits reachable from ``head``, newest first: the paths each changed, and its message.

    Paths are relative to the indexed root (``git log --relative``); commits that changed
    no file under the root, or more than ``MAX_FILES_PER_COMMIT``, are left out.
    """

    head: str
    commits: tuple[tuple[str, ...], ...]
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HistoryIndex:
    """A history over one index's files (file indices into its sorted paths), ready for ranking."""

    history: History
    commits: tuple[tuple[int, ...], ...]  # newest first; commits that changed no indexed file are dropped
    subjects: tuple[str, ...]  # first line of each commit's message
    commits_of: dict[int, list[int]]  # file -> its commits, newest first
    recent: list[float]  # 1 / (1 + commits since the file last changed / 10); 0 = never changed
    churn: list[float]  # log(1 + commits that changed the file), scaled to [0, 1]
    postings: dict[str, array[int]]  # message term -> commit, tf, commit, tf, ... (flat: 8 bytes a posting)
    msg_len: list[int]
    avg_len: float


def _git(root: Path, *args: str) -> str | None:
    out = run_git(root, *args, timeout=_TIMEOUT_S)
    return None if out is None else out.decode("utf-8", errors="surrogateescape")


def head_commit(root: Path) -> str | None:
    """The commit HEAD points to, or None outside a git work tree (or without git)."""
    out = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    return out.strip() or None if out else None


def read_history(root: Path, cache_dir: Path | None = None) -> History | None:
    """The history at HEAD, from ``cache_dir`` when it was read for the same commit.

    Returns:
        None when ``root`` is not inside a git work tree with at least one commit.
    """
    return start_history(root, cache_dir)()


def start_history(root: Path, cache_dir: Path | None = None) -> Callable[[], History | None]:
    """``read_history`` started now, answered later: ``git log`` runs while the caller works
    (a first pack reads and counts the tree meanwhile). The result may be called again: it answers the same."""
    head = head_commit(root)
    if head is None:
        return lambda: None
    cache = cache_dir / _CACHE if cache_dir is not None else None
    if cache is not None and (hist := _cached(cache, head)) is not None:
        return lambda: hist
    log_out = start_git(root, "log", "--no-merges", "--no-renames", "--relative", "--name-only",
                        "--format=%x00%B%x01", f"-n{MAX_COMMITS}", head, "--", timeout=_TIMEOUT_S)
    return functools.cache(lambda: _parsed(head, log_out(), cache))


def _cached(cache: Path, head: str) -> History | None:
    try:
        got = json.loads(cache.read_text(encoding="utf-8"))
        if got.get("head") == head and got.get("format") == _FORMAT and got.get("max_commits") == MAX_COMMITS:
            commits, messages = tuple(tuple(map(str, c)) for c in got["commits"]), tuple(map(str, got["messages"]))
            if len(commits) == len(messages):
                return History(head, commits, messages)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # a damaged cache is only a cache: read git again
    return None


def _parsed(head: str, raw: bytes | None, cache: Path | None) -> History | None:
    """The history in ``git log``'s output (saved to ``cache``)."""
    if raw is None:
        return None
    out = raw.decode("utf-8", errors="surrogateescape")
    commits, messages = [], []
    for block in out.split("\x00")[1:]:
        message, _, names = block.partition("\x01")
        paths = tuple(dict.fromkeys(line for line in names.split("\n") if line))
        if 0 < len(paths) <= MAX_FILES_PER_COMMIT:
            commits.append(paths)
            messages.append(message.strip())
    hist = History(head, tuple(commits), tuple(messages))
    if cache is not None:
        tmp = cache.with_name(f".{_CACHE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"head": head, "format": _FORMAT, "max_commits": MAX_COMMITS, "commits": commits,
                                       "messages": messages}), encoding="utf-8")
            os.replace(tmp, cache)
        except OSError as exc:  # a read-only index directory: read git again next time
            log.debug("cannot cache the git history in %s: %s", cache.parent, exc)
            tmp.unlink(missing_ok=True)
    return hist


def index_history(history: History, paths: list[str]) -> HistoryIndex:
    """``history`` over the files ``paths`` (an index's sorted paths): per-file recency and churn,
    commits as file indices, and a term index over the commit messages."""
    idx = {p: i for i, p in enumerate(paths)}
    n = len(paths)
    recent, counts = [0.0] * n, [0] * n
    commits: list[tuple[int, ...]] = []
    subjects: list[str] = []
    commits_of: dict[int, list[int]] = {}
    postings: dict[str, array[int]] = {}
    msg_len: list[int] = []
    for files_, message in zip(history.commits, history.messages, strict=True):
        files = tuple(sorted({idx[p] for p in files_ if p in idx}))
        if not files:
            continue
        k = len(commits)
        commits.append(files)
        subjects.append(message.split("\n", 1)[0][:100])
        for i in files:
            if not counts[i]:
                recent[i] = 1.0 / (1.0 + k / _RECENT_SCALE)
            counts[i] += 1
            commits_of.setdefault(i, []).append(k)
        tf = term_counts(message)  # (terms in first-use order, as ``terms`` gives them)
        for t, c in tf.items():
            if (plist := postings.get(t)) is None:
                plist = postings[t] = array("i")
            plist.append(k)
            plist.append(c)
        msg_len.append(sum(tf.values()))
    top = math.log1p(max(counts, default=0)) or 1.0
    avg = sum(msg_len) / len(msg_len) if msg_len else 1.0
    return HistoryIndex(history, tuple(commits), tuple(subjects), commits_of, recent,
                        [math.log1p(c) / top for c in counts], postings, msg_len, avg)
