"""ctxpack: pack the files a code edit needs into a token budget.

Heavy dependencies (lancedb, tree-sitter grammars, tiktoken, torch) load lazily, so
``import ctxpack`` and ``ctxpack --help`` stay instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Config, RankWeights, load_config
from .errors import (
    BudgetError,
    Cancelled,
    ConfigError,
    CtxpackError,
    EmbeddingError,
    IndexCorrupt,
    IndexLocked,
    IndexNotFound,
    IndexOutdated,
    MissingDependency,
    ParseError,
)
from .models import Chunk, EmbedStats, IndexStats, Pack, PackedFile, RankedFile, Redaction, Skipped, SourceFile, Symbol

if TYPE_CHECKING:
    from .pipeline import Repo, build_index, embed_index, open_repo, pack_for, rank_for
    from .render import pack_to_dict, render

__version__ = "0.1.0"

__all__ = [
    "BudgetError",
    "Cancelled",
    "Chunk",
    "Config",
    "ConfigError",
    "CtxpackError",
    "EmbedStats",
    "EmbeddingError",
    "IndexCorrupt",
    "IndexLocked",
    "IndexNotFound",
    "IndexOutdated",
    "IndexStats",
    "MissingDependency",
    "Pack",
    "PackedFile",
    "ParseError",
    "RankWeights",
    "RankedFile",
    "Redaction",
    "Repo",
    "Skipped",
    "SourceFile",
    "Symbol",
    "__version__",
    "build_index",
    "embed_index",
    "load_config",
    "open_repo",
    "pack_for",
    "pack_to_dict",
    "rank_for",
    "render",
]

_LAZY = {
    "Repo": "pipeline", "build_index": "pipeline", "open_repo": "pipeline", "embed_index": "pipeline", "pack_for": "pipeline",
    "rank_for": "pipeline", "pack_to_dict": "render", "render": "render",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ctxpack' has no attribute {name!r}")
