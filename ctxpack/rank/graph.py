"""The file graph as walk arrays, personalized PageRank from the best direct matches, and its reasons."""

from __future__ import annotations

import numpy as np

from .index import RankIndex

__all__ = ["graph_reason", "pagerank", "patched_walk", "walk_arrays"]

# hand-set: when a file both uses and is used by seeds, a "used by" seed of the same score is named first
_USES_REASON_RANK = 0.9


def _walk_rows(edges: dict[int, dict[int, float]], rows: list[int]) -> tuple[list[int], list[int], list[float]]:
    """Edge-array entries of ``rows`` (ascending), each row's weights normalised to sum 1."""
    src: list[int] = []
    dst: list[int] = []
    wts: list[float] = []
    for a in rows:
        nb = sorted(edges.get(a, {}).items())  # sorted: the same graph gives the same sums, however built
        total = sum(w for _, w in nb)
        for b, w in nb:
            src.append(a)
            dst.append(b)
            wts.append(w / total)
    return src, dst, wts


def walk_arrays(ri: RankIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The graph as edge arrays sorted by (source, target), row-normalised (built once per index)."""
    if ri.walk_cache is None:
        src, dst, wts = _walk_rows(ri.edges, sorted(ri.edges))
        ri.walk_cache = (np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(wts, np.float64))
    return ri.walk_cache


def patched_walk(old: tuple[np.ndarray, np.ndarray, np.ndarray] | None, edges: dict[int, dict[int, float]],
                  rows: set[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``old`` edge arrays with ``rows`` replaced by their entries in ``edges`` (equal to a fresh build)."""
    if old is None:
        return None
    src, dst, wts = old
    keep = ~np.isin(src, np.fromiter(rows, np.int64, len(rows)))
    ns, nd, nw = _walk_rows(edges, sorted(rows))
    src = np.concatenate([src[keep], np.asarray(ns, np.int64)])
    dst = np.concatenate([dst[keep], np.asarray(nd, np.int64)])
    wts = np.concatenate([wts[keep], np.asarray(nw, np.float64)])
    order = np.lexsort((dst, src))
    return src[order], dst[order], wts[order]


def pagerank(ri: RankIndex, seeds: dict[int, float], damping: float, iters: int = 20) -> np.ndarray | None:
    """Personalized PageRank from ``seeds`` (vectorised power iteration over the edge arrays)."""
    total = sum(seeds.values())
    if total <= 0:
        return None
    n = len(ri.paths)
    pers = np.zeros(n)
    for k, v in seeds.items():
        pers[k] = v / total
    src, dst, wts = walk_arrays(ri)
    rank_ = pers.copy()
    for _ in range(iters):
        rank_ = damping * np.bincount(dst, weights=rank_[src] * wts, minlength=n) + (1 - damping) * pers
    return rank_


def graph_reason(ri: RankIndex, i: int, seeds: dict[int, float]) -> str:
    best: tuple[float, str] | None = None
    for s, sv in seeds.items():
        names = ri.edge_names.get((s, i))
        if names:
            cand = (sv, f"used by {ri.paths[s]} (`{'`, `'.join(names)}`)")
        else:
            names = ri.edge_names.get((i, s))
            if not names:
                continue
            cand = (sv * _USES_REASON_RANK, f"uses `{'`, `'.join(names)}` from {ri.paths[s]}")
        if best is None or cand[0] > best[0]:
            best = cand
    return best[1] if best else ""
