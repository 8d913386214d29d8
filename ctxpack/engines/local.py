"""Indexing engines: where the index stages run (issue 7).

Both engines run the same stages from ``pipeline``: ``plan_update`` (discovery and the
stat/hash check, always local), ``process_file`` (parse, chunk, count), ``apply_update``
(the single writer) and ``embed_missing`` (the embedding cache, single writer too). An
engine only decides *where* ``process_file`` and the embedding batches run:

- ``LocalEngine``: in this process, one file and one batch after the other.
- ``ray_engine.RayEngine``: on Ray workers (Ray Data ``map_batches``; the model in an
  actor pool, loaded once per worker).

``index_targets`` drives one repository or many: every repository is planned first, the
files to parse of all of them go out together (many small repositories keep every
worker busy), each repository's index is written by this process, then every chunk
content missing from the (shared) embedding cache is embedded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import Config
from ..embed.vectors import VectorStore
from ..errors import ConfigError, MissingDependency
from ..models import EmbedStats, IndexStats, SourceFile
from ..pipeline import (
    EmbedMany,
    Progress,
    _dense_ref,
    _embedder_for,
    _noop,
    apply_update,
    embed_missing,
    plan_update,
    process_local,
    vector_store_for,
)
from ..store.tables import IndexStore

if TYPE_CHECKING:
    from ..embed.backends import Embedder
    from ..pipeline import _Parsed

__all__ = ["Engine", "EngineStats", "IndexRun", "LocalEngine", "Target", "index_targets", "make_engine"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EngineStats:
    """What an engine sent to where it runs the stages (the local engine counts too)."""

    files_sent: int = 0
    batches_sent: int = 0  # embedding batches
    chunks_embedded: int = 0


class Engine(Protocol):
    """Where ``process_file`` and the embedding batches run."""

    name: str
    stats: EngineStats

    def process_many(self, items: list[tuple[SourceFile, Config]], progress: Progress) -> list[_Parsed]:
        """``process_file`` over ``items``, results in the same order."""
        ...

    def embed_many(self, cfg: Config, model_id: str, embedder: Embedder | None) -> EmbedMany | None:
        """What runs the embedding batches (None: ``embed_missing`` loads the model here)."""
        ...

    def close(self) -> None:
        ...


@dataclass(slots=True)
class LocalEngine:
    """Runs every stage in this process (the default ``--engine local``)."""

    name: str = "local"
    stats: EngineStats = field(default_factory=EngineStats)

    def process_many(self, items: list[tuple[SourceFile, Config]], progress: Progress) -> list[_Parsed]:
        self.stats.files_sent += len(items)
        out: list[_Parsed] = []
        for i, (src, cfg) in enumerate(items):
            out.extend(process_local([src], cfg))
            if i % 50 == 0 or i == len(items) - 1:
                progress("parse", i + 1, len(items))
        return out

    def embed_many(self, cfg: Config, model_id: str, embedder: Embedder | None) -> EmbedMany | None:
        from ..pipeline import embed_batches

        emb = _embedder_for(cfg, embedder)
        if emb.model_id != model_id:
            raise ConfigError(f"embedder {emb.model_id} does not match the configured model {model_id}")

        def run(todo: list[str], texts: dict[str, str], batch: int) -> Iterator[tuple[list[str], object]]:
            for part, vecs in embed_batches(emb, todo, texts, batch):
                self.stats.batches_sent += 1
                self.stats.chunks_embedded += len(part)
                yield part, vecs

        return run  # type: ignore[return-value]

    def close(self) -> None:
        return None


def make_engine(name: str, address: str | None = None, workers: int | None = None) -> Engine:
    """The engine called ``name`` ("local" or "ray").

    Raises:
        ConfigError: unknown engine, or options the engine does not take.
        MissingDependency: ``ray`` without the ``ctxpack[ray]`` extra.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1: {workers}")
    if name == "local":
        if address or workers:
            raise ConfigError("--address and --workers need --engine ray")
        return LocalEngine()
    if name == "ray":
        from .ray import RayEngine

        return RayEngine(address=address, workers=workers)
    raise ConfigError(f"unknown engine: {name!r}. Use local or ray")


@dataclass(frozen=True, slots=True)
class Target:
    """One repository to index: its name (in a multi-repository index), root and settings.

    ``cfg.index_dir`` says where its index goes; ``cfg.vectors_dir`` its embedding cache.
    """

    name: str
    root: Path
    cfg: Config


@dataclass(frozen=True, slots=True)
class IndexRun:
    """What ``index_targets`` did."""

    engine: str
    repos: dict[str, IndexStats]
    embeddings: EmbedStats | None
    files_sent: int
    chunks_embedded: int


def index_targets(targets: list[Target], engine: Engine, *, rebuild: bool = False, progress: Progress = _noop,
                  embedder: Embedder | None = None) -> IndexRun:
    """Index ``targets`` with ``engine``: plan locally, process where the engine runs, write here.

    Args:
        targets: the repositories (names unique).
        engine: ``LocalEngine`` or ``RayEngine``.
        rebuild: ignore existing indexes.
        progress: called as ``progress(stage, done, total)``.
        embedder: a given embedder (tests); else the configured model.

    Returns:
        Per-repository stats, the embedding stats (None when embeddings are off) and what was sent out.

    Raises:
        IndexLocked: another process is writing one of the indexes.
        MissingDependency: embeddings asked for a model whose backend is missing.
    """
    stores = {t.name: IndexStore(_index_dir(t)) for t in targets}
    results: dict[str, IndexStats] = {}
    sent0 = engine.stats.files_sent
    with contextlib.ExitStack() as locks:
        for t in targets:
            locks.enter_context(stores[t.name].lock())
        plans = {t.name: plan_update(t.root, stores[t.name], t.cfg, rebuild, progress) for t in targets}
        items = [(src, t.cfg) for t in targets if not plans[t.name].noop for src in plans[t.name].sources]
        parsed = engine.process_many(items, progress) if items else []
        at = 0
        for t in targets:
            plan = plans[t.name]
            n = 0 if plan.noop else len(plan.sources)
            results[t.name] = apply_update(stores[t.name], t.cfg, plan, parsed[at: at + n], progress)
            at += n
            stores[t.name].load()  # (re)writes the snapshot cache in the critical section, as build_index does
    estats = _embed_targets(targets, stores, engine, progress, embedder)
    return IndexRun(engine.name, results, estats, engine.stats.files_sent - sent0, engine.stats.chunks_embedded)


def _index_dir(t: Target) -> Path:
    from ..pipeline import index_dir_for

    return index_dir_for(t.root, t.cfg)


def _embed_targets(targets: list[Target], stores: dict[str, IndexStore], engine: Engine, progress: Progress,
                   embedder: Embedder | None) -> EmbedStats | None:
    """Embed every chunk content of the targets missing from their (shared) embedding cache."""
    cfg = targets[0].cfg
    if not cfg.embed and embedder is None:
        return None
    model_id = _dense_ref(cfg, embedder)
    if model_id is None:
        from ..embed.backends import DEFAULT_MODEL

        if cfg.model == DEFAULT_MODEL:
            log.warning("dense lane off: no embedding backend installed (pip install 'ctxpack[embed]')")
            return None
        raise MissingDependency("no embedding backend installed. Install: pip install 'ctxpack[embed]'")
    by_cache: dict[Path, list[Target]] = {}
    for t in targets:
        if (t.cfg.model, t.cfg.embed_backend, t.cfg.embed) != (cfg.model, cfg.embed_backend, cfg.embed):
            raise ConfigError(f"repository {t.name} asks for another embedding model than {targets[0].name}. "
                              "Index them separately")
        by_cache.setdefault(vector_store_for(stores[t.name], t.cfg).dir.resolve(), []).append(t)
    total: EmbedStats | None = None
    runner: EmbedMany | None = None
    for vdir, group in sorted(by_cache.items()):
        snaps = {t.name: stores[t.name].load() for t in group}
        hashes = {sp.content_hash for s in snaps.values() for spans in s.chunks.values() for sp in spans}

        def texts_for(missing: set[str], group: list[Target] = group,
                      snaps: dict[str, object] = snaps) -> dict[str, str]:
            out: dict[str, str] = {}
            for t in group:
                left = missing - out.keys()
                if left:
                    out.update(stores[t.name].chunk_texts(left, snaps[t.name].manifest))  # type: ignore[attr-defined]
            return out

        vs = VectorStore(vdir)
        dm = vs.load(model_id)
        if dm is None or not hashes <= dm.index.keys():
            runner = runner or engine.embed_many(cfg, model_id, embedder)
        st = embed_missing(vs, cfg, model_id, hashes, texts_for, lambda: _embedder_for(cfg, embedder), progress,
                           embed_many=runner)
        total = st if total is None else EmbedStats(model_id, total.chunks + st.chunks, total.embedded + st.embedded,
                                                    total.cached + st.cached, total.seconds + st.seconds,
                                                    total.complete and st.complete)
    return total
