"""A file that does not fit whole, as its chunks most relevant to the query (with line ranges)."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from ..models import Chunk, FileRecord, PackedFile, RankedFile
from ..terms import term_counts
from ..tokens import TokenCounter
from .blocks import block_tokens

if TYPE_CHECKING:
    from .files import PackInputs
    from .policy import PackPolicy


__all__ = ["as_chunks", "region_scores"]

_CHANGED_CHUNK = 1000.0  # relevance added to a chunk holding lines changed in the working tree
_FRAME_CHUNK = 1.0  # ... holding a line a stack frame of the query points at (above any query-term match)


_MEMO_ENTRIES = 4096
_memo: OrderedDict[bytes, tuple[Counter[str], int]] = OrderedDict()
_memo_lock = threading.Lock()


def _term_counts(text: str) -> tuple[Counter[str], int]:
    """A text's term counts and term total, memoized by the text's digest (least recently used out):
    a warm process sees the same chunks again, and a memo keyed by the texts would keep them alive."""
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    with _memo_lock:
        hit = _memo.get(key)
        if hit is not None:
            _memo.move_to_end(key)
            return hit
    counts = term_counts(text)
    got = counts, sum(counts.values())
    with _memo_lock:
        _memo[key] = got
        if len(_memo) > _MEMO_ENTRIES:
            _memo.popitem(last=False)
    return got


def _lexical(chunk: Chunk, qweights: dict[str, float], names: set[str]) -> float:
    """Query terms in the chunk (each times its weight), and query names it defines."""
    counts, n = _term_counts(chunk.text)
    if not n:
        return 0.0
    hits = sum(counts[t] * w for t, w in qweights.items() if t in counts)
    named = sum(3 for s in chunk.symbols if s in names)
    return (hits + named) / (n ** 0.5)


def region_scores(chunks: list[Chunk], qterms: set[str], names: set[str], sims: dict[int, float] | None,
                  dense_share: float, weight: Callable[[str], float] | None = None) -> list[float]:
    """Each chunk's relevance to the query, in [0, 1]: its lexical score (over the file's best)
    blended with its dense similarity (over the file's range) when the chunks are embedded.

    Both are scaled within the file because only the order of one file's chunks matters here.
    """
    qweights = {t: weight(t) if weight else 1.0 for t in qterms}
    lex = [_lexical(c, qweights, names) for c in chunks]
    top = max(lex, default=0.0)
    scores = [x / top if top > 0 else 0.0 for x in lex]
    known = [v for c in chunks if (v := (sims or {}).get(c.start_line)) is not None]
    if dense_share <= 0 or len(known) < 2:
        return scores
    lo, hi = min(known), max(known)
    span = (hi - lo) or 1.0
    a = dense_share if top > 0 else 1.0
    dense = [((sims or {}).get(c.start_line, lo) - lo) / span for c in chunks]
    return [(1 - a) * s + a * d for s, d in zip(scores, dense, strict=True)]


def _numbered_chunks(chunks: list[Chunk]) -> tuple[list[str], tuple[tuple[int, int], ...]]:
    """The body of a chunks block, as its parts (chunk texts and "omitted" markers), and its line ranges."""
    parts: list[str] = []
    ranges: list[tuple[int, int]] = []
    prev_end = 0
    for c in sorted(chunks, key=lambda c: c.start_line):
        if prev_end and c.start_line > prev_end + 1:
            parts.append(f"⋮ (lines {prev_end + 1}-{c.start_line - 1} omitted)\n")
        text = c.text if c.text.endswith("\n") else c.text + "\n"
        parts.append(text)
        if ranges and ranges[-1][1] + 1 == c.start_line:
            ranges[-1] = (ranges[-1][0], c.end_line)
        else:
            ranges.append((c.start_line, c.end_line))
        prev_end = c.end_line
    return parts, tuple(ranges)


def as_chunks(r: RankedFile, rec: FileRecord, inputs: PackInputs, qterms: set[str], names: set[str],
              room: int, counter: TokenCounter, fmt: str, clean: Callable[[str, str, int], str],
              policy: PackPolicy) -> PackedFile | None:
    if room < 50:  # (before the chunks: of a file not parsed yet, they cost a parse)
        return None
    chunks = inputs.chunks_for([r.path])
    if not chunks:
        return None
    sims = inputs.region_sims(r.path) if inputs.region_sims else None
    scores = region_scores(chunks, qterms, names, sims, policy.region_dense,
                           inputs.term_weight if policy.region_idf else None)
    rel = {id(c): sc for c, sc in zip(chunks, scores, strict=True)}
    spans = (inputs.changed_lines(r.path) if inputs.changed_lines else None) or ()
    if policy.region_head and chunks:  # the file's head (imports, module docstring): edits often touch it
        first = min(chunks, key=lambda c: c.start_line)
        rel[id(first)] += policy.region_head
    frames = (inputs.frame_lines(r.path) if inputs.frame_lines else None) or ()
    for c in chunks:  # the regions the user is changing come first, then those a traceback points at
        if any(a <= c.end_line and c.start_line <= b for a, b in spans):
            rel[id(c)] += _CHANGED_CHUNK
        if any(c.start_line <= line <= c.end_line for line in frames):
            rel[id(c)] += _FRAME_CHUNK
    order = sorted(chunks, key=lambda c: (-rel[id(c)], c.start_line))
    chosen: list[Chunk] = []
    total = block_tokens(counter, fmt, r.path, "chunks", "", rec.language, ((1, 1),)) + 8
    for c in order:
        if rel[id(c)] <= 0 and chosen and not policy.region_fill:
            break
        cost = c.tokens + 12
        if total + cost > room:
            continue
        chosen.append(c)
        total += cost
    # Only the chosen chunks are redacted (the scan is the costly part); the exact count below
    # is of the redacted text, and drops chunks until it fits.
    chosen = [replace(c, text=clean(c.path, c.text, c.start_line)) for c in chosen]
    while chosen:
        parts, ranges = _numbered_chunks(chosen)
        body = "".join(parts)
        t = block_tokens(counter, fmt, r.path, "chunks", body, rec.language, ranges, pieces=parts)
        if t <= room:
            return PackedFile(r.path, "chunks", body, t, r.score, r.reasons, ranges, rec.language)
        chosen.pop()
    return None
