"""The uncommitted diff as a block of the pack (``pack --diff``).

The patch is split per file; a file's part is kept only when the file is one the index
would show (so a secret or excluded file's changes never enter through the diff), and
each kept part is redacted like file text. The block is cut at line boundaries to the
room it is given, with a last line saying how much was left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["DIFF_SHARE", "diff_body", "fit_diff"]

DIFF_SHARE = 0.25  # the diff block may take at most this share of the budget
_MIN_LINES = 6
_FILE_START = re.compile(r"^diff --git ", re.MULTILINE)
_PATHS = re.compile(r"^(?:\+\+\+ b/|--- a/)(.+)$", re.MULTILINE)


def _path_of(part: str) -> str | None:
    """The file a ``diff --git`` part changes (its new path, or the old one for a deletion)."""
    found = [m.group(1).rstrip("\t") for m in _PATHS.finditer(part)]
    if found:
        return found[-1]  # "+++ b/x" comes after "--- a/x"
    first = part.split("\n", 1)[0]  # "a/x b/x" of a mode change or binary file
    m = re.match(r"a/(.+) b/(.+)$", first)
    return m.group(2) if m else None


def diff_body(patch: str, keep: Callable[[str], bool],
              clean: Callable[[str, str, int], str]) -> tuple[str, tuple[str, ...], int]:
    """The parts of ``patch`` for files ``keep`` accepts, each passed through ``clean(path, text, 0)``.

    Returns:
        (the body, the paths it covers, how many files' changes were left out).
    """
    parts = [p for p in _FILE_START.split(patch) if p.strip()]
    out: list[str] = []
    paths: list[str] = []
    left = 0
    for part in parts:
        path = _path_of(part)
        if path is None or not keep(path):
            left += 1
            continue
        out.append(clean(path, "diff --git " + part, 0))
        paths.append(path)
    body = "".join(out)
    if left:
        plural = "s" if left > 1 else ""
        body += f"[{left} more changed file{plural} left out: not indexed (secret, ignored or excluded)]\n"
    return body, tuple(paths), left


def fit_diff(body: str, room: int, count: Callable[[str], int]) -> tuple[str, int] | None:
    """``body`` cut at line boundaries so that ``count`` of it fits ``room`` (a note ends a cut body);
    (text, tokens), or None when not even a few lines fit."""
    t = count(body)
    if t <= room:
        return body, t
    lines = body.splitlines(keepends=True)
    lo, hi, best = _MIN_LINES, len(lines) - 1, None  # fewer: headers without a changed line
    while lo <= hi:
        mid = (lo + hi) // 2
        text = "".join(lines[:mid]) + f"[diff cut to fit the budget: {len(lines) - mid} more lines]\n"
        t = count(text)
        if t <= room:
            best, lo = (text, t), mid + 1
        else:
            hi = mid - 1
    return best

