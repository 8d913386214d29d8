"""BM25 over the index's code-aware terms, and how many query terms each path has."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from .index import POSTING_SHIFT, RankIndex
from .query import QueryInfo

__all__ = ["BM25_B", "BM25_K1", "bm25_idf", "bm25_scores", "bm25_weight", "path_overlap"]

BM25_K1 = 1.2  # Okapi BM25's usual term-frequency saturation and length normalisation
BM25_B = 0.75


def bm25_idf(n_docs: int, df: int) -> float:
    """BM25's inverse document frequency of a term found in ``df`` of ``n_docs`` documents."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def bm25_weight(tf: Any, doc_len: Any, avg_len: float, scale: Any = 1.0) -> Any:
    """BM25's term weight ``scale * tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avg_len))``.

    The one place the formula is written: files (``tf`` and ``doc_len`` as arrays, ``scale``
    1, the idf applied later) and commit messages (scalars, ``scale`` the idf) both use it.
    Multiplying by a ``scale`` of 1 is exact, so either use computes what it always did.
    """
    return scale * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * doc_len / avg_len))


def _postings_of(ri: RankIndex, t: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A term's postings as arrays: (file indices, BM25 term-frequency factor), cached per index."""
    got = ri.term_arrays.get(t)
    if got is None:
        packed = ri.postings.get(t)
        if packed is None or not packed.size:
            return None
        if ri.doc_len_array is None:
            ri.doc_len_array = np.asarray(ri.doc_len, dtype=np.float64)
        idx = packed >> POSTING_SHIFT
        tf = (packed & ((1 << POSTING_SHIFT) - 1)).astype(np.float64)
        dl = ri.doc_len_array[idx]
        got = (idx, bm25_weight(tf, dl, ri.avg_len))
        if len(ri.term_arrays) > 20_000:
            ri.term_arrays.clear()
        ri.term_arrays[t] = got
    return got


def bm25_scores(ri: RankIndex, q: QueryInfo) -> tuple[np.ndarray, np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    """BM25 of every file (zero: no query term), how many query terms each matches, and each
    term's contributions (term, files, scores)."""
    n = len(ri.paths)
    scores = np.zeros(n)
    matched = np.zeros(n)
    per_term = []
    qtf: dict[str, int] = defaultdict(int)
    for t in q.terms:
        qtf[t] += 1
    for t, qc in qtf.items():
        got = _postings_of(ri, t)
        if got is None:
            continue
        idx, norm = got
        idf = bm25_idf(n, len(idx))
        s = idf * norm * (1 + math.log(qc))
        scores[idx] += s
        matched[idx] += 1
        per_term.append((t, idx, s))
    return scores, matched, per_term


def path_overlap(ri: RankIndex, qset: set[str]) -> np.ndarray:
    """How many of the query's terms each file's path has."""
    if ri.path_index is None:
        acc: dict[str, list[int]] = defaultdict(list)
        for i, pts in enumerate(ri.path_terms):
            for t in pts:
                acc[t].append(i)
        ri.path_index = {t: np.asarray(v, np.int64) for t, v in acc.items()}
    out = np.zeros(len(ri.paths))
    for t in qset:
        idx = ri.path_index.get(t)
        if idx is not None:
            out[idx] += 1
    return out
