"""Which language a file is, and where its grammar and tag query come from.

Grammars are the per-language wheels (``tree-sitter-python`` ...), loaded lazily;
queries are package data in ``ctxpack/queries/<language>.scm``.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Language, Query

__all__ = [
    "CODE_LANGUAGES",
    "get_language",
    "get_query",
    "is_code",
    "language_for",
]

# language -> (module, function returning the grammar pointer)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "php": ("tree_sitter_php", "language_php"),
    "kotlin": ("tree_sitter_kotlin", "language"),
}
CODE_LANGUAGES = frozenset(_GRAMMARS)

_EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".cs": "csharp",
    ".rb": "ruby", ".rake": "ruby",
    ".php": "php",
    ".kt": "kotlin", ".kts": "kotlin",
}
_FILENAMES = {"Rakefile": "ruby", "Gemfile": "ruby"}
# Text files that are programs or configuration without a grammar here: still code to a reader.
_OTHER_CODE = frozenset({
    ".sh", ".bash", ".zsh", ".swift", ".scala", ".m", ".mm", ".lua", ".pl", ".r", ".sql",
    ".vue", ".svelte", ".dart", ".ex", ".exs", ".erl", ".hs", ".ml", ".clj", ".zig", ".nim",
    ".proto", ".graphql",
})


def name_and_suffix(path: str) -> tuple[str, str]:
    """A repo-relative path's last part and its suffix, as ``PurePosixPath``'s ``name`` and
    ``suffix`` give them (``.bashrc`` and ``name.`` have none), without building a path:
    this runs for every file of every listing."""
    name = path.rpartition("/")[2]
    i = name.rfind(".")
    return name, name[i:] if 0 < i < len(name) - 1 else ""


def language_for(path: str) -> str:
    """The language of a repo-relative path; ``"text"`` when no grammar applies."""
    name, suffix = name_and_suffix(path)
    return _FILENAMES.get(name) or _EXTENSIONS.get(suffix.lower(), "text")


def is_code(path: str) -> bool:
    """True for source files (with or without a grammar), False for docs and data."""
    name, suffix = name_and_suffix(path)
    suffix = suffix.lower()
    return _FILENAMES.get(name) is not None or suffix in _EXTENSIONS or suffix in _OTHER_CODE


@lru_cache(maxsize=None)
def get_language(language: str) -> Language | None:
    """The tree-sitter Language for ``language``, or None when its grammar is missing."""
    spec = _GRAMMARS.get(language)
    if spec is None:
        return None
    from tree_sitter import Language

    try:
        module = importlib.import_module(spec[0])
    except ImportError:
        return None
    return Language(getattr(module, spec[1])())


# A query that extends another language's (TSX is TypeScript plus JSX).
_QUERY_BASE = {"tsx": "typescript"}


@lru_cache(maxsize=None)
def get_query(language: str) -> Query | None:
    """The compiled tag query for ``language``, or None without grammar or query file."""
    lang = get_language(language)
    if lang is None:
        return None
    texts = []
    for name in (_QUERY_BASE.get(language), language):
        if name is None:
            continue
        ref = resources.files("ctxpack") / "queries" / f"{name}.scm"
        if not ref.is_file():
            return None
        texts.append(ref.read_text(encoding="utf-8"))
    from tree_sitter import Query

    return Query(lang, "\n".join(texts))
