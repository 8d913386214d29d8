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

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MAX_COMMITS", "MAX_FILES_PER_COMMIT", "History", "head_commit", "read_history"]

log = logging.getLogger(__name__)

MAX_COMMITS = 2_000  # newest non-merge commits read
MAX_FILES_PER_COMMIT = 30  # bigger commits (reformatting, vendoring, renames) say little about coupling
_CACHE = "history.json"
_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class History:
    """The newest commits reachable from ``head``, newest first, each as the paths it changed.

    Paths are relative to the indexed root (``git log --relative``); commits that changed
    no file under the root, or more than ``MAX_FILES_PER_COMMIT``, are left out.
    """

    head: str
    commits: tuple[tuple[str, ...], ...]


def _git(root: Path, *args: str) -> str | None:
    try:
        p = subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=_TIMEOUT_S,
                           env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("git %s failed in %s: %s", args[0], root, exc)
        return None
    if p.returncode != 0:
        return None
    return p.stdout.decode("utf-8", errors="surrogateescape")


def head_commit(root: Path) -> str | None:
    """The commit HEAD points to, or None outside a git work tree (or without git)."""
    out = _git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    return out.strip() or None if out else None


def read_history(root: Path, cache_dir: Path | None = None) -> History | None:
    """The history at HEAD, from ``cache_dir`` when it was read for the same commit.

    Returns:
        None when ``root`` is not inside a git work tree with at least one commit.
    """
    head = head_commit(root)
    if head is None:
        return None
    cache = cache_dir / _CACHE if cache_dir is not None else None
    if cache is not None:
        try:
            got = json.loads(cache.read_text(encoding="utf-8"))
            if got.get("head") == head and got.get("max_commits") == MAX_COMMITS:
                return History(head, tuple(tuple(c) for c in got["commits"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    out = _git(root, "-c", "core.quotePath=false", "log", "--no-merges", "--no-renames", "--relative",
               "--name-only", "--format=%x00", f"-n{MAX_COMMITS}", head, "--")
    if out is None:
        return None
    commits = []
    for block in out.split("\x00")[1:]:
        paths = tuple(dict.fromkeys(line for line in block.split("\n") if line))
        if 0 < len(paths) <= MAX_FILES_PER_COMMIT:
            commits.append(paths)
    hist = History(head, tuple(commits))
    if cache is not None:
        tmp = cache.with_name(f".{_CACHE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"head": head, "max_commits": MAX_COMMITS, "commits": commits}), encoding="utf-8")
            os.replace(tmp, cache)
        except OSError as exc:  # a read-only index directory: read git again next time
            log.debug("cannot cache the git history in %s: %s", cache_dir, exc)
            tmp.unlink(missing_ok=True)
    return hist
