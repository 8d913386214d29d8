"""A file as its skeleton: signatures and first doc lines with line numbers, cut to fit a room."""

from __future__ import annotations

import bisect
import functools
import itertools

from ..models import FileRecord, PackedFile, RankedFile, Symbol
from ..tokens import TokenCounter, estimate_tokens
from .blocks import block_tokens

__all__ = ["as_skeleton", "skeleton_text"]


def skeleton_text(symbols: list[Symbol]) -> str:
    """Signatures and first doc lines of a file's definitions, with line numbers."""
    depth: dict[str, int] = {}
    lines = []
    for s in sorted((s for s in symbols if s.kind == "def"), key=lambda s: (s.line, s.end_line)):
        d = depth.get(s.parent, -1) + 1 if s.parent else 0
        depth[s.name] = d
        sig = s.signature or f"{s.category} {s.name}"
        doc = f"  — {s.doc}" if s.doc else ""
        lines.append(f"{s.line:>5}: {'  ' * d}{sig}{doc}\n")
    return "".join(lines)


@functools.lru_cache(maxsize=64)  # bounded: a big file's skeleton is tens of KB
def _skeleton_layout(body: str) -> tuple[tuple[str, ...], tuple[int, ...], bytes]:
    """A skeleton's lines, their start offsets and nesting depths (memoized: a warm process cuts
    the same skeletons query after query). A line is ``"   12: <indent>signature"``."""
    lines = tuple(body.splitlines(keepends=True))
    starts = tuple(itertools.accumulate((len(ln) for ln in lines), initial=0))[:-1]
    depth = bytes(min(max(len(ln[7:]) - len(ln[7:].lstrip(" ")), 0), 255) for ln in lines)
    return lines, starts, depth


def _lines_naming(low: str, starts: tuple[int, ...], qterms: frozenset[str] | set[str]) -> set[int]:
    """Indices of the lines of a lowercased skeleton that contain a query term (a scan per term, in C)."""
    hit: set[int] = set()
    for q in qterms:
        i = low.find(q)
        while i >= 0:
            hit.add(bisect.bisect_right(starts, i) - 1)
            i = low.find(q, i + len(q))
    return hit


def as_skeleton(r: RankedFile, rec: FileRecord, body: str, room: int, counter: TokenCounter, fmt: str,
                 qterms: frozenset[str] | set[str] = frozenset()) -> PackedFile | None:
    """The file's skeleton within ``room`` tokens.

    Whole when it fits; else the definitions that name a query term, then the outermost
    ones, in file order, with a count of those left out.
    """
    if not body:
        return None
    frame = block_tokens(counter, fmt, r.path, "skeleton", "", rec.language)
    avail = room - frame - 12  # 12: the "more definitions" line
    if avail < 10:
        return None
    t = block_tokens(counter, fmt, r.path, "skeleton", body, rec.language)
    if t > room:
        lines, starts, depth = _skeleton_layout(body)
        hit = _lines_naming(body.lower(), starts, qterms)
        order = sorted(range(len(lines)), key=lambda i: (i not in hit, depth[i], i))
        # Take lines by estimate (scaled to this body's real count), then count exactly and
        # drop the last taken until it fits.
        scale = (t - frame) / (estimate_tokens(body) + 1)
        chosen: list[int] = []
        est = 0.0
        for i in order:
            est += estimate_tokens(lines[i]) * scale
            if est > avail:
                break
            chosen.append(i)
        def cut(keep: list[int]) -> tuple[str, int]:
            parts = [lines[i] for i in sorted(keep)] + [f"⋮ ({len(lines) - len(keep)} more definitions)\n"]
            return "".join(parts), block_tokens(counter, fmt, r.path, "skeleton", "".join(parts), rec.language,
                                                pieces=parts)

        body, t = cut(chosen)
        while t > room and chosen:  # the estimate was short: drop the last taken
            chosen.pop()
            body, t = cut(chosen)
        for i in order[len(chosen): len(chosen) + 8]:  # the estimate was long: take a few more
            more = cut([*chosen, i])
            if more[1] > room:
                break
            chosen.append(i)
            body, t = more
        if not chosen:
            return None
    return PackedFile(r.path, "skeleton", body, t, r.score, r.reasons, (), rec.language)
