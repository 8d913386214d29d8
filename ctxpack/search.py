"""Chunk search: full-text (BM25) hits fused with the dense lane's nearest chunks by reciprocal rank."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .embed.lane import embedder_for
from .models import Chunk
from .rank.filters import keep, select_paths

if TYPE_CHECKING:
    from .repo import Repo

_RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al.)


def search_repo(repo: Repo, query: str, k: int = 10) -> list[tuple[Chunk, float]]:
    """``search_chunks`` on a loaded repository (the warm path a server uses); chunk texts are
    redacted as in a pack unless the config turns redaction off."""
    hits = _search(repo, query, k)
    if not repo.cfg.redact:
        return hits
    return [(replace(c, text=repo.redact(c.path, c.text, c.start_line)[0]), s) for c, s in hits]


def _search(repo: Repo, query: str, k: int) -> list[tuple[Chunk, float]]:
    allowed = select_paths(repo.cfg, repo.snapshot.files)  # include/exclude
    lexical = repo.store.search_chunks(query, k * 3 if repo.dense_lane() or allowed is not None else k)
    lexical = keep(lexical, lambda hit: hit[0].path, allowed)
    lane = repo.dense_lane()
    if lane is None or lane.ready == 0:
        return lexical[:k]
    emb = embedder_for(repo.cfg, repo.embedder)
    sims = lane.matrix @ emb.embed([query])[0]
    top = np.argsort(-sims, kind="stable")[: k * 3].tolist()
    fused: dict[tuple[str, int], float] = {}
    chunk_of: dict[tuple[str, int], Chunk] = {}
    for r, (c, _) in enumerate(lexical):
        key = (c.path, c.start_line)
        fused[key] = fused.get(key, 0.0) + 1.0 / (_RRF_K + r)
        chunk_of[key] = c
    for r, row in enumerate(top):
        path, start = lane.chunk[row]
        fused[(path, start)] = fused.get((path, start), 0.0) + 1.0 / (_RRF_K + r)
    missing = sorted({p for p, s in fused if (p, s) not in chunk_of})
    for c in repo.chunks_for(missing):
        chunk_of.setdefault((c.path, c.start_line), c)
    best = sorted((kv for kv in fused.items() if kv[0] in chunk_of and (allowed is None or kv[0][0] in allowed)),
                  key=lambda kv: (-kv[1], kv[0]))[:k]
    return [(chunk_of[key], round(score, 6)) for key, score in best]
