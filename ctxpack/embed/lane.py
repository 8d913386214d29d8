"""The dense lane of a loaded repository: its vectors as one matrix, and each file's best chunk similarity."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import Config
from ..errors import ConfigError, CtxpackError
from ..store.tables import IndexStore
from .vectors import VectorStore

if TYPE_CHECKING:
    from ..repo import Repo
    from .backends import Embedder, ModelRef


log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class DenseLane:
    """Vectors of the snapshot's chunks that are embedded, arranged for one matrix product."""

    model_id: str
    ready: int  # distinct chunk contents with a vector
    total: int  # distinct chunk contents in the index
    matrix: np.ndarray  # (ready chunks, dim): rows of the chunks below
    file_of: np.ndarray  # file index (RankIndex order) of each row
    label: tuple[str, ...]  # what each row is called in a reason: its first symbol, else path:lines
    chunk: tuple[tuple[str, int], ...]  # (path, start line) of each row
    rows_of: dict[str, tuple[int, ...]]  # path -> its rows


@dataclass(frozen=True, slots=True)
class DenseHits:
    """One query against the dense lane: every embedded chunk's cosine similarity to it."""

    lane: DenseLane
    sims: np.ndarray  # (rows,) cosine of each lane row to the query

    def files(self) -> dict[int, tuple[float, str]]:
        """Each file's best chunk similarity: ``{file index: (cosine, chunk label)}``."""
        order = np.argsort(-self.sims, kind="stable")
        out: dict[int, tuple[float, str]] = {}
        for r in order.tolist():
            f = int(self.lane.file_of[r])
            if f not in out:
                out[f] = (float(self.sims[r]), self.lane.label[r])
        return out

    def regions(self, path: str) -> dict[int, float]:
        """The similarity of each embedded chunk of ``path``: ``{start line: cosine}``."""
        return {self.lane.chunk[r][1]: float(self.sims[r]) for r in self.lane.rows_of.get(path, ())}


def dense_ref(cfg: Config, embedder: Embedder | None) -> str | None:
    """The model id the dense lane uses, or None when the lane is off (no heavy import)."""
    if embedder is not None:
        return embedder.model_id
    if not cfg.embed:
        return None
    from .backends import DEFAULT_MODEL, dense_available

    if not dense_available():
        return None
    try:
        return _resolve(cfg).model_id
    except CtxpackError as exc:
        if cfg.model != DEFAULT_MODEL:
            raise  # a model the user asked for: say why it cannot be used
        log.debug("dense lane off: %s", exc)
        return None


def _resolve(cfg: Config) -> ModelRef:
    from .backends import resolve_model

    return resolve_model(cfg.model, cfg.embed_backend)


def vector_store_for(store: IndexStore, cfg: Config) -> VectorStore:
    """The embedding cache of an index: ``vectors_dir`` (shareable) or ``<index dir>/vectors``."""
    return VectorStore(Path(cfg.vectors_dir).expanduser() if cfg.vectors_dir else store.dir / "vectors")


def load_dense(repo: Repo) -> DenseLane | None:
    model_id = dense_ref(repo.cfg, repo.embedder)
    if model_id is None:
        return None
    ri = repo.rank_index
    hashes = {sp.content_hash for spans in repo.snapshot.chunks.values() for sp in spans}
    dm = vector_store_for(repo.store, repo.cfg).load(model_id)
    rows: list[int] = []
    files: list[int] = []
    labels: list[str] = []
    where: list[tuple[str, int]] = []
    if dm is not None:
        pos = {p: i for i, p in enumerate(ri.paths)}
        for path, spans in repo.snapshot.chunks.items():
            fi = pos.get(path)
            if fi is None:
                continue
            for sp in spans:
                r = dm.index.get(sp.content_hash)
                if r is not None:
                    rows.append(r)
                    files.append(fi)
                    labels.append(sp.symbols[0] if sp.symbols else f"{path}:{sp.start_line}-{sp.end_line}")
                    where.append((path, sp.start_line))
    ready = len(hashes & dm.index.keys()) if dm is not None else 0
    dim = dm.matrix.shape[1] if dm is not None else 0
    matrix = dm.matrix[np.asarray(rows, dtype=np.int64)] if rows else np.zeros((0, dim), np.float32)
    rows_of: dict[str, list[int]] = {}
    for r, (path, _) in enumerate(where):
        rows_of.setdefault(path, []).append(r)
    return DenseLane(model_id, ready, len(hashes), matrix, np.asarray(files, dtype=np.int64), tuple(labels),
                      tuple(where), {p: tuple(rs) for p, rs in rows_of.items()})


def embedder_for(repo_or_cfg: Config, embedder: Embedder | None) -> Embedder:
    if embedder is not None:
        return embedder
    from .backends import load_embedder

    cfg = repo_or_cfg
    return load_embedder(cfg.model, cfg.embed_backend, cfg.embed_max_tokens)


def dense_hits(repo: Repo, query: str) -> DenseHits | None:
    """The query against every embedded chunk (one matrix product).

    None when the dense lane is off or nothing is embedded yet (the model is then never loaded).
    """
    lane = repo.dense_lane()
    if lane is None or lane.ready == 0 or not len(lane.matrix):
        return None
    emb = embedder_for(repo.cfg, repo.embedder)
    if emb.model_id != lane.model_id:
        raise ConfigError(f"embedder {emb.model_id} does not match the index's vectors ({lane.model_id})")
    return DenseHits(lane, lane.matrix @ emb.embed([query])[0])


def dense_scores(repo: Repo, query: str) -> dict[int, tuple[float, str]] | None:
    """Each file's best chunk similarity to the query: ``{file index: (cosine, chunk label)}`` (None: lane off)."""
    hits = dense_hits(repo, query)
    return hits.files() if hits is not None else None
