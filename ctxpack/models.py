"""Plain typed values passed between pipeline stages.

They hold no handles (no tables, models or open files): identity lives in the store.
Paths are repo-relative POSIX strings, normalized once in ``discover``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "EmbedStats",
    "Chunk",
    "Discovery",
    "FileRecord",
    "FileRow",
    "IndexStats",
    "Pack",
    "PackedFile",
    "ParsedFile",
    "ProcessedFile",
    "Progress",
    "RankedFile",
    "Redaction",
    "Skipped",
    "SourceFile",
    "Symbol",
    "Uses",
]

Mode = Literal["full", "chunks", "skeleton", "map", "diff"]
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def no_progress(_stage: str, _done: int, _total: int) -> None:
    """A ``Progress`` that reports nothing."""
    return None


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A text file accepted by discovery, with its decoded content."""

    path: str
    language: str  # "python", ..., or "text" for files without a grammar
    size: int
    mtime_ns: int
    sha1: str
    text: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path left out, and why (shown to the user, never silent)."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Discovery:
    """The result of walking a repository."""

    files: tuple[SourceFile, ...]
    skipped: tuple[Skipped, ...]


@dataclass(slots=True, unsafe_hash=True)
class Symbol:
    """A definition or a reference found by tree-sitter.

    ``kind`` is "def" or "ref"; ``category`` is the definition kind (class, function,
    method, interface, type, enum, constant, module) or the reference kind (call, type,
    import).

    Treat it as immutable (it is hashed). It is not ``frozen`` only because a frozen
    dataclass builds 6x slower, and a big index makes hundreds of thousands of them per
    load (0.26 s of a sqlalchemy checkout's first pack).
    """

    path: str
    name: str
    kind: Literal["def", "ref"]
    category: str
    line: int  # 1-based
    end_line: int
    signature: str = ""
    parent: str = ""  # enclosing definition name, for methods
    doc: str = ""  # first line of the docstring or leading comment


# A file's references, compactly: each (name, is it an import) once with how many times the file
# uses it, in first-use order. All the ranking reads of references (a big index has hundreds of
# thousands of them: as Symbols they were the largest part of a loaded snapshot).
Uses = tuple[tuple[str, bool, int], ...]


def count_uses(refs: Iterable[tuple[str, bool]]) -> Uses:
    """``Uses`` of a file's references given as (name, is it an import), in the file's order."""
    return tuple((name, is_import, n) for (name, is_import), n in Counter(refs).items())  # (first-seen order)


def uses_of(symbols: Iterable[Symbol]) -> Uses:
    """The references among ``symbols`` (the non-definitions) as ``Uses``."""
    return count_uses((s.name, s.category == "import") for s in symbols if s.kind != "def")


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """Symbols of one file; ``error`` is set when the parser fell back to plain text."""

    path: str
    symbols: tuple[Symbol, ...]
    error: str = ""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A contiguous, AST-aligned range of lines of one file."""

    id: str
    path: str
    start_line: int  # 1-based, inclusive
    end_line: int
    text: str
    tokens: int
    content_hash: str
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the index keeps about a file."""

    path: str
    sha1: str
    language: str
    size: int
    mtime_ns: int
    tokens: int
    lines: int


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What an index run did."""

    files: int
    parsed: int  # new or changed files whose content was parsed in this run
    removed: int
    unchanged: int
    chunks: int
    symbols: int
    skipped: tuple[Skipped, ...]
    seconds: float
    index_dir: str
    reused: int = 0  # new or changed files whose content was parsed before (the parse cache): not parsed again


@dataclass(frozen=True, slots=True)
class EmbedStats:
    """What an embedding run did (the dense lane)."""

    model: str  # model id, backend included
    chunks: int  # distinct chunk contents in the index
    embedded: int  # computed in this run
    cached: int  # already in the embedding cache
    seconds: float
    complete: bool  # False when stopped early (interrupted or asked to stop)


@dataclass(frozen=True, slots=True)
class RankedFile:
    """A file scored for an instruction, with human-readable reasons."""

    path: str
    score: float
    reasons: tuple[str, ...]
    features: tuple[tuple[str, float], ...] = ()  # the signal values behind the score


@dataclass(frozen=True, slots=True)
class PackedFile:
    """One file's part of a pack: whole, selected chunks, or a skeleton."""

    path: str
    mode: Mode
    text: str  # the rendered body (no wrapper)
    tokens: int  # tokens of the file's rendered block, wrapper included
    score: float
    reasons: tuple[str, ...]
    ranges: tuple[tuple[int, int], ...]
    language: str = "text"


@dataclass(frozen=True, slots=True)
class Redaction:
    """One secret replaced in packed text (the secret itself is never kept)."""

    path: str
    line: int  # 1-based line in the file; 0 when not known (skeletons)
    type: str

    @property
    def marker(self) -> str:
        """What replaced the secret in the text: ``[REDACTED:<type>]``."""
        return f"[REDACTED:{self.type.lower().replace(' ', '-')}]"


@dataclass(frozen=True, slots=True)
class Pack:
    """The packed context for one instruction."""

    query: str
    budget: int
    encoding: str
    files: tuple[PackedFile, ...]
    skipped: tuple[Skipped, ...]
    tokens: int = 0
    context: str = ""
    format: str = "xml"
    lanes: dict[str, object] = field(default_factory=dict)
    omitted: tuple[Skipped, ...] = ()  # well-ranked files that did not fit, and why
    redactions: tuple[Redaction, ...] = ()


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file as written to the index: its record, term counts and parse status."""

    record: FileRecord
    terms: tuple[str, ...]
    counts: tuple[int, ...]
    parse_error: str = ""


@dataclass(frozen=True, slots=True)
class ProcessedFile:
    """One file after the per-file stages (``index.process.process_file``): what the index writer takes."""

    row: FileRow
    symbols: tuple[Symbol, ...]
    chunks: list[tuple[Chunk, str]]  # each chunk with its search text (its terms and its path's)
