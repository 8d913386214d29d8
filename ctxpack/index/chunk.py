"""Split a file into AST-aligned chunks with exact token counts.

A chunk is a top-level definition (function, class ...) or the code between two of
them. A definition bigger than ``max_chunk_tokens`` is split at its children's
boundaries (methods), then by lines; small neighbours are merged up to
``chunk_tokens``. Files without symbols are cut into line windows.
"""

from __future__ import annotations

import hashlib

from ..config import Config
from ..models import Chunk, SourceFile, Symbol
from ..tokens import TokenCounter, estimate_tokens

__all__ = ["chunk_file", "chunk_id", "estimate_tokens"]

Span = tuple[int, int]  # 1-based inclusive line range


def _line_windows(start: int, end: int, cost: list[int], target: int) -> list[Span]:
    spans: list[Span] = []
    s, acc = start, 0
    for ln in range(start, end + 1):
        acc += cost[ln]
        if acc >= target and ln < end:
            spans.append((s, ln))
            s, acc = ln + 1, 0
    spans.append((s, end))
    return spans


def _segments(start: int, end: int, defs: list[Symbol], cost: list[int], cfg: Config) -> list[Span]:
    """Cover [start, end] with spans aligned to the outermost definitions inside it."""
    spans: list[Span] = []
    cur = start
    outer = [d for d in defs if start <= d.line and d.end_line <= end]
    for d in outer:
        if d.line < cur:  # nested in (or overlapping) a span already taken
            continue
        if d.line > cur:
            spans.append((cur, d.line - 1))
        spans.extend(_fit(d.line, d.end_line, [x for x in defs if x is not d], cost, cfg))
        cur = d.end_line + 1
    if cur <= end:
        spans.append((cur, end))
    return spans


def _fit(start: int, end: int, defs: list[Symbol], cost: list[int], cfg: Config) -> list[Span]:
    """One span if small enough, else split at inner definitions, else by lines."""
    size = sum(cost[start: end + 1])
    if size <= cfg.max_chunk_tokens:
        return [(start, end)]
    inner = [d for d in defs if start <= d.line and d.end_line <= end and (d.line, d.end_line) != (start, end)]
    if inner:
        parts = _segments(start, end, inner, cost, cfg)
        if len(parts) > 1:
            out: list[Span] = []
            for s, e in parts:
                out.extend(_fit(s, e, [], cost, cfg) if sum(cost[s: e + 1]) > cfg.max_chunk_tokens else [(s, e)])
            return out
    return _line_windows(start, end, cost, cfg.chunk_tokens)


def _merge(spans: list[Span], cost: list[int], target: int) -> list[Span]:
    merged: list[Span] = []
    acc = 0
    for s, e in spans:
        size = sum(cost[s: e + 1])
        if merged and acc + size <= target:
            merged[-1] = (merged[-1][0], e)
            acc += size
        else:
            merged.append((s, e))
            acc = size
    return merged


def chunk_id(path: str, start_line: int, content_hash: str) -> str:
    """A chunk's id: its file, first line and content (what the index and the embedding lane key on)."""
    key = f"{path}\0{start_line}\0{content_hash}".encode("utf-8", errors="surrogatepass")
    return hashlib.sha1(key).hexdigest()[:20]


def chunk_file(src: SourceFile, symbols: tuple[Symbol, ...], counter: TokenCounter, cfg: Config) -> list[Chunk]:
    """Chunks covering every line of ``src`` exactly once, in order.

    Args:
        src: the file, with text.
        symbols: its parsed symbols (definitions drive the boundaries).
        counter: exact token counter for the chunks.
        cfg: chunk size targets.

    Returns:
        Chunks sorted by line; empty for an empty file.
    """
    lines = src.text.splitlines(keepends=True)
    if not lines:
        return []
    n = len(lines)
    cost = [0] + [estimate_tokens(ln) for ln in lines]
    defs = sorted((s for s in symbols if s.kind == "def"), key=lambda s: (s.line, -s.end_line))
    defs = [d for d in defs if 1 <= d.line <= d.end_line <= n]
    spans = _segments(1, n, defs, cost, cfg) if defs else _line_windows(1, n, cost, cfg.chunk_tokens)
    spans = _merge(spans, cost, cfg.chunk_tokens)
    texts = ["".join(lines[s - 1: e]) for s, e in spans]
    counts = counter.count_many(texts)
    chunks: list[Chunk] = []
    for (s, e), text, tokens in zip(spans, texts, counts, strict=True):
        content_hash = hashlib.sha1(text.encode("utf-8", errors="surrogatepass")).hexdigest()
        cid = chunk_id(src.path, s, content_hash)
        names = tuple(dict.fromkeys(d.name for d in defs if s <= d.line <= e))
        chunks.append(Chunk(cid, src.path, s, e, text, tokens, content_hash, names))
    return chunks
