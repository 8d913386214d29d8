"""Index one repository or many with an engine (issue 7).

Every repository is planned first (``index.update.plan_update``: discovery and the stat/hash
check, always local), the files to parse of all of them go out together (many small
repositories keep every worker busy), each repository's index is written by this process
(``apply_update``), then every chunk content missing from the (shared) embedding cache is
embedded (``embed.run.embed_missing``, single writer too).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..embed.lane import dense_ref, embedder_for, vector_store_for
from ..embed.run import EmbedMany, embed_missing
from ..embed.vectors import VectorStore
from ..errors import ConfigError, MissingDependency
from ..index.update import apply_update, plan_update
from ..models import EmbedStats, IndexStats, Progress, no_progress
from ..store.tables import IndexStore
from .base import Engine, Target

if TYPE_CHECKING:
    from ..embed.backends import Embedder


__all__ = ["IndexRun", "index_targets"]

log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class IndexRun:
    """What ``index_targets`` did."""

    engine: str
    repos: dict[str, IndexStats]
    embeddings: EmbedStats | None
    files_sent: int
    chunks_embedded: int


def index_targets(targets: list[Target], engine: Engine, *, rebuild: bool = False, progress: Progress = no_progress,
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
    from ..config import index_dir_for

    return index_dir_for(t.root, t.cfg)


def _embed_targets(targets: list[Target], stores: dict[str, IndexStore], engine: Engine, progress: Progress,
                   embedder: Embedder | None) -> EmbedStats | None:
    """Embed every chunk content of the targets missing from their (shared) embedding cache."""
    cfg = targets[0].cfg
    if not cfg.embed and embedder is None:
        return None
    model_id = dense_ref(cfg, embedder)
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
        st = embed_missing(vs, cfg, model_id, hashes, texts_for, lambda: embedder_for(cfg, embedder), progress,
                           embed_many=runner)
        total = st if total is None else EmbedStats(model_id, total.chunks + st.chunks, total.embedded + st.embedded,
                                                    total.cached + st.cached, total.seconds + st.seconds,
                                                    total.complete and st.complete)
    return total
