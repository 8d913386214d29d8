"""Fill the embedding cache: embed the chunk contents it lacks, in batches, publishing as it goes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..config import Config
from ..errors import ConfigError
from ..models import EmbedStats, Progress, no_progress
from ..store.columns import IndexSnapshot
from ..store.tables import IndexStore
from .lane import vector_store_for
from .vectors import VectorStore

if TYPE_CHECKING:
    from .backends import Embedder


# What embeds the texts of ``todo`` (content hashes, in order) in batches of ``batch``, yielding
# (hashes, vectors) per batch (in this process, or on a cluster: issue 7).
EmbedMany = Callable[[list[str], dict[str, str], int], Iterator[tuple[list[str], np.ndarray]]]


def embed_batches(embedder: Embedder, todo: list[str], texts: dict[str, str],
                  batch: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """Embed ``todo``'s texts in this process, ``batch`` at a time."""
    for part in embed_plan(todo, batch):
        yield part, embedder.embed([texts[h] for h in part])


def embed_plan(todo: list[str], batch: int) -> list[list[str]]:
    """The batches ``todo`` is embedded in (the same for every engine, so the same padding)."""
    return [todo[i: i + batch] for i in range(0, len(todo), batch)]


def embed_missing(vs: VectorStore, cfg: Config, model_id: str, hashes: set[str],
                  texts_for: Callable[[set[str]], dict[str, str]], get_embedder: Callable[[], Embedder],
                  progress: Progress = no_progress, should_stop: Callable[[], bool] = lambda: False,
                  embed_many: EmbedMany | None = None) -> EmbedStats:
    """Embed the chunk contents ``hashes`` missing from the cache ``vs`` (the single writer).

    Args:
        texts_for: the text of each of a set of hashes.
        get_embedder: loads the model (only called when something is missing and ``embed_many`` is None).
        embed_many: where the batches run (default: ``embed_batches`` in this process).
    """
    t0 = time.monotonic()
    dm = vs.load(model_id)
    if dm is not None and hashes <= dm.index.keys():
        return EmbedStats(model_id, len(hashes), 0, len(hashes), time.monotonic() - t0, True)
    with vs.lock():
        dm = vs.load(model_id)  # another process may have embedded while we waited
        missing = hashes - (dm.index.keys() if dm is not None else set())
        cached = len(hashes) - len(missing)
        done = 0
        if missing:
            if embed_many is None:
                emb = get_embedder()
                if emb.model_id != model_id:
                    raise ConfigError(f"embedder {emb.model_id} does not match the configured model {model_id}")

                def embed_many(t: list[str], x: dict[str, str], n: int) -> Iterator[tuple[list[str], np.ndarray]]:
                    return embed_batches(emb, t, x, n)
            texts = texts_for(missing)
            todo = sorted(texts, key=lambda h: (len(texts[h]), h))  # similar lengths per batch: less padding
            progress("embed", 0, len(todo))
            pend_h: list[str] = []
            pend_v: list[np.ndarray] = []
            last_flush = time.monotonic()
            batches = iter(embed_many(todo, texts, cfg.embed_batch))  # lazy: stopping skips the rest
            while not should_stop():
                got = next(batches, None)
                if got is None:
                    break
                part, vecs = got
                pend_v.append(vecs)
                pend_h += part
                done += len(part)
                progress("embed", done, len(todo))
                if len(pend_h) >= 2048 or time.monotonic() - last_flush > 15:
                    vs.add(model_id, pend_h, np.vstack(pend_v))  # published: pack sees partial progress
                    pend_h, pend_v, last_flush = [], [], time.monotonic()
            if pend_h:
                vs.add(model_id, pend_h, np.vstack(pend_v))
            vs.finish(model_id)
    return EmbedStats(model_id, len(hashes), done, cached, time.monotonic() - t0, cached + done == len(hashes))


def embed_snapshot(store: IndexStore, snap: IndexSnapshot, cfg: Config, model_id: str,
                   get_embedder: Callable[[], Embedder], progress: Progress,
                   should_stop: Callable[[], bool]) -> EmbedStats:
    """Embed the snapshot's chunks missing from the cache (the model is loaded only if some are)."""
    hashes = {sp.content_hash for spans in snap.chunks.values() for sp in spans}
    return embed_missing(vector_store_for(store, cfg), cfg, model_id, hashes,
                         lambda m: store.chunk_texts(m, snap.manifest), get_embedder, progress, should_stop)
