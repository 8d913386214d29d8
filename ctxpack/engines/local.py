"""The local engine: every indexing stage in this process (the default ``--engine local``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import Config
from ..embed.lane import embedder_for
from ..embed.run import EmbedMany, embed_batches
from ..errors import ConfigError
from ..index.process import process_local
from ..models import ProcessedFile, Progress, SourceFile
from .base import Engine, EngineStats

if TYPE_CHECKING:
    from ..embed.backends import Embedder

__all__ = ["LocalEngine", "make_engine"]


@dataclass(slots=True)
class LocalEngine:
    """Runs every stage in this process (the default ``--engine local``)."""

    name: str = "local"
    stats: EngineStats = field(default_factory=EngineStats)

    def process_many(self, items: list[tuple[SourceFile, Config]], progress: Progress) -> list[ProcessedFile]:
        self.stats.files_sent += len(items)
        out: list[ProcessedFile] = []
        for i, (src, cfg) in enumerate(items):
            out.extend(process_local([src], cfg))
            if i % 50 == 0 or i == len(items) - 1:
                progress("parse", i + 1, len(items))
        return out

    def embed_many(self, cfg: Config, model_id: str, embedder: Embedder | None) -> EmbedMany | None:
        emb = embedder_for(cfg, embedder)
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
