"""What an indexing engine is (issue 7), and what it is given: the repositories to index.

An engine decides *where* ``index.process.process_file`` and the embedding batches run; both
engines run the same stages and this process stays the single writer of every index:

- ``local.LocalEngine``: in this process, one file and one batch after the other.
- ``ray.RayEngine``: on Ray workers (Ray Data ``map_batches``; the model in an actor pool,
  loaded once per worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import Config
from ..models import ProcessedFile, Progress, SourceFile

if TYPE_CHECKING:
    from ..embed.backends import Embedder
    from ..embed.run import EmbedMany

__all__ = ["Engine", "EngineStats", "Target"]


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

    def process_many(self, items: list[tuple[SourceFile, Config]], progress: Progress) -> list[ProcessedFile]:
        """``process_file`` over ``items``, results in the same order."""
        ...

    def embed_many(self, cfg: Config, model_id: str, embedder: Embedder | None) -> EmbedMany | None:
        """What runs the embedding batches (None: ``embed_missing`` loads the model here)."""
        ...

    def close(self) -> None:
        ...


@dataclass(frozen=True, slots=True)
class Target:
    """One repository to index: its name (in a multi-repository index), root and settings.

    ``cfg.index_dir`` says where its index goes; ``cfg.vectors_dir`` its embedding cache.
    """

    name: str
    root: Path
    cfg: Config
