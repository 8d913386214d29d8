"""Regions exactly as ctxpack cuts and embeds them, and a BM25 index over them.

``chunk_blob`` runs ctxpack's own per-file stage (``pipeline.process_file``: tree-sitter
parse, AST-aligned chunks, identifier-split terms), so a training region is byte for byte
what the dense lane embeds at pack time: the chunk's text, with no header.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ctxpack.config import Config
from ctxpack.index.discover import _content_reason, _path_reason
from ctxpack.languages import CODE_LANGUAGES, language_for
from ctxpack.models import SourceFile
from ctxpack.index.process import process_file

__all__ = ["Bm25", "Region", "chunk_blob", "region_text", "usable_path"]

MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Region:
    """One chunk of one file: what the model scores against an instruction."""

    path: str
    start: int  # 1-based inclusive
    end: int
    text: str  # what the dense lane embeds
    terms: str  # ctxpack's identifier-split chunk terms plus path terms (its full-text column)


def region_text(text: str) -> str:
    """The text ctxpack embeds for a chunk (today: the chunk text itself)."""
    return text


def usable_path(path: str, size: int) -> bool:
    """A file ctxpack would index and parse with a grammar."""
    return size <= MAX_FILE_BYTES and _path_reason(path) is None and language_for(path) in CODE_LANGUAGES


def chunk_blob(path: str, data: bytes, cfg: Config) -> list[Region]:
    """ctxpack's chunks of one file's content; empty if discovery would skip it."""
    reason, text = _content_reason(path, data)
    if reason is not None or not text.strip():
        return []
    src = SourceFile(path, language_for(path), len(data), 0, hashlib.sha1(data).hexdigest(), text)
    parsed = process_file(src, cfg)
    return [Region(path, c.start_line, c.end_line, region_text(c.text), terms) for c, terms in parsed.chunks]


def overlaps(region: Region, hunks: list[tuple[int, int]]) -> bool:
    return any(s <= region.end and region.start <= e for s, e in hunks)


class Bm25:
    """Okapi BM25 over whitespace-separated term strings (k1=1.2, b=0.75)."""

    def __init__(self, docs: list[str], k1: float = 1.2, b: float = 0.75) -> None:
        from scipy.sparse import csr_matrix

        self.vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = []
        for r, doc in enumerate(docs):
            counts = Counter(doc.split())
            lengths.append(sum(counts.values()))
            for t, n in counts.items():
                rows.append(r)
                cols.append(self.vocab.setdefault(t, len(self.vocab)))
                vals.append(n)
        n_docs = max(len(docs), 1)
        avgdl = max(sum(lengths) / n_docs, 1e-9)
        tf = np.asarray(vals, dtype=np.float32)
        dl = np.asarray(lengths, dtype=np.float32)[np.asarray(rows, dtype=np.int64)] if rows else tf
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=len(self.vocab)) if cols else np.zeros(0)
        idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        w = tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
        if cols:
            w = w * idf[np.asarray(cols, dtype=np.int64)]
        self.matrix = csr_matrix((w, (rows, cols)), shape=(len(docs), len(self.vocab)), dtype=np.float32)

    def scores(self, query_terms: list[str]) -> np.ndarray:
        q = np.zeros(len(self.vocab), dtype=np.float32)
        for t in set(query_terms):
            i = self.vocab.get(t)
            if i is not None:
                q[i] = 1.0
        return np.asarray(self.matrix @ q).ravel() if len(self.vocab) else np.zeros(self.matrix.shape[0])


def spread(items: list, k: int) -> list:
    """``k`` items evenly spaced over ``items`` (all of them if fewer)."""
    if len(items) <= k:
        return list(items)
    step = len(items) / k
    return [items[math.floor(i * step)] for i in range(k)]
