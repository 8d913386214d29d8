"""The user's current work: what the working tree and git's index change against HEAD.

Files changed there (modified, staged, added, untracked and not ignored) are a ranking
input, with the line ranges of their hunks; ``diff_text`` is the uncommitted diff itself,
for ``pack --diff``.

Every git call goes through ``gitcmd.run_git``, with the repository's own configuration
unable to run programs (fsmonitor, hooks, external diff and textconv drivers, pager).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..gitcmd import run_git, start_git

__all__ = ["WorkingChanges", "changes", "diff_text", "git_state"]

log = logging.getLogger(__name__)

_TIMEOUT_S = 10.0
_MAX_DIFF_BYTES = 8 * 1024 * 1024
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class WorkingChanges:
    """Paths (repo-relative POSIX) changed against HEAD, each with its changed line ranges
    (new side, 1-based inclusive; empty for a new or untracked file: all of it is new)."""

    files: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # identifiers on the changed lines (added or removed), first seen first

    def __bool__(self) -> bool:
        return bool(self.files)


def _git(root: Path, *args: str) -> str | None:
    """``git args`` in ``root`` through the package's git helper (the repository's config cannot
    run programs); stdout, or None on failure."""
    return _decoded(run_git(root, *args, timeout=_TIMEOUT_S))


def _decoded(out: bytes | None) -> str | None:
    return None if out is None else out[:_MAX_DIFF_BYTES].decode("utf-8", "replace")


_prefixes: dict[tuple[str, tuple[object, ...]], str | None] = {}


def _toplevel_prefix(root: Path) -> str | None:
    """``root``'s path inside its git work tree ("" at the top), or None when it is not in one.

    Memoized while ``git_state`` stays the same (a warm server asks after every edit)."""
    state = git_state(root)
    key = (str(root), state) if state is not None else None
    if key is not None and key in _prefixes:
        return _prefixes[key]
    out = _git(root, "rev-parse", "--is-inside-work-tree", "--show-prefix")
    if out is None:
        return None
    lines = out.splitlines()
    prefix = lines[1] if len(lines) > 1 and lines[0] == "true" else None
    if key is not None:
        if len(_prefixes) > 64:
            _prefixes.clear()
        _prefixes[key] = prefix
    return prefix


def _diff_args(prefix: str, *extra: str) -> list[str]:
    """``git diff`` against HEAD (staged and unstaged together), paths relative to ``root``."""
    return ["diff", "HEAD", "--no-ext-diff", "--no-textconv", "--no-color", *extra,
            *(["--relative"] if prefix else []), "--", "."]


def changes(root: str | os.PathLike[str]) -> WorkingChanges:
    """What is uncommitted in the git work tree at ``root`` (empty outside git or on a clean tree)."""
    root = Path(root)
    prefix = _toplevel_prefix(root)
    if prefix is None:
        return WorkingChanges()
    # Both at once: each is a git process of 10-20 ms on a 5k-file tree.
    diff = start_git(root, *_diff_args(prefix, "-U0"), timeout=_TIMEOUT_S)
    others = start_git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", ".", timeout=_TIMEOUT_S)
    out = _decoded(diff())
    files: dict[str, list[tuple[int, int]]] = {}
    names: dict[str, None] = {}
    if out:
        for block in re.split(r"^diff --git ", out, flags=re.MULTILINE)[1:]:
            m = re.search(r"^\+\+\+ (?:b/(.*)|/dev/null)$", block, re.MULTILINE)
            if m is None or m.group(1) is None:
                continue  # a deletion: nothing to favour
            path = m.group(1).strip()
            spans = files.setdefault(path, [])
            for line in block.splitlines():
                if line[:1] in "+-" and not line.startswith(("+++ ", "--- ")):
                    names.update(dict.fromkeys(_IDENT.findall(line)))
            for h in _HUNK.finditer(block):
                start, count = int(h.group(1)), int(h.group(2) if h.group(2) is not None else 1)
                # a pure deletion (count 0) marks the line after it
                spans.append((max(start, 1), max(start, 1) + max(count, 1) - 1))
    untracked = _decoded(others())
    for path in (untracked or "").split("\0"):
        if path:
            files.setdefault(path, [])
    return WorkingChanges({p: tuple(s) for p, s in sorted(files.items())}, tuple(names))


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def git_state(root: str | os.PathLike[str]) -> tuple[object, ...] | None:
    """A fingerprint of git's index and HEAD for the work tree holding ``root``, from a few stats
    and no git process: it changes when something is staged, committed or checked out.
    None when no git directory is found (then nothing may be memoized on it)."""
    here = Path(root).resolve()
    for d in (here, *here.parents):
        dot = d / ".git"
        if dot.is_dir():
            gitdir = dot
            break
        if dot.is_file():
            try:
                line = dot.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return None
            if not line.startswith("gitdir:"):
                return None
            gitdir = (d / line[len("gitdir:"):].strip()).resolve()
            break
    else:
        return None
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        common = gitdir / (gitdir / "commondir").read_text().strip() if (gitdir / "commondir").is_file() else gitdir
    except OSError:
        return None
    ref = common / head[len("ref:"):].strip() if head.startswith("ref:") else None
    return (head, _stat(gitdir / "index"), _stat(ref) if ref else None, _stat(common / "packed-refs"))


def diff_text(root: str | os.PathLike[str]) -> str:
    """The uncommitted diff (working tree and index against HEAD) as a patch; "" when there is none."""
    root = Path(root)
    prefix = _toplevel_prefix(root)
    if prefix is None:
        return ""
    return _git(root, *_diff_args(prefix)) or ""
