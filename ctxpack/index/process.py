"""One file through the per-file stages: parse, chunk, count terms and tokens (what every engine runs).

``process_file`` is ``process_content`` (what depends only on the text, the language and the
settings: the costly part, cached by content in ``parse_cache``) then ``with_path`` (what
depends on the path: path terms, the record, chunk ids; cheap to recompute).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Config
from ..models import Chunk, FileRecord, FileRow, ProcessedFile, Progress, SourceFile, Symbol, no_progress
from ..terms import term_counts, terms
from ..tokens import get_counter
from .chunk import chunk_file, chunk_id
from .parse import PARSER_VERSION, parse_source

if TYPE_CHECKING:
    from .parse_cache import ParseCache

_PATH_TERM_WEIGHT = 3

ContentKey = tuple[str, str]  # (content sha1, language)


def settings_key(cfg: Config) -> str:
    # include/exclude are not here: they filter at query time, on one index (rank/filters.py)
    key = (f"{cfg.encoding}|{cfg.chunk_tokens}|{cfg.max_chunk_tokens}|{cfg.max_file_bytes}|{cfg.redact}|"
           f"parser {PARSER_VERSION}" + ("|keys 1" if cfg.redact else ""))
    return hashlib.sha1(key.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class ContentChunk:
    """A chunk without its file: its lines, exact token count, content hash, names and search terms."""

    start_line: int
    end_line: int
    tokens: int
    content_hash: str
    symbols: tuple[str, ...]
    terms: str  # the chunk text's terms, space-separated


# A Symbol's fields after its path: (name, kind, category, line, end_line, signature, parent, doc).
SymbolFields = tuple[str, str, str, int, int, str, str, str]


@dataclass(frozen=True, slots=True)
class FileContent:
    """What ``process_file`` computes from a file's text, language and settings alone (no path).

    ``symbols`` are field tuples (``SymbolFields``: a Symbol is built once, with its path, in ``with_path``);
    ``counts`` are the chunk terms' counts, sorted (first-use order in a provisional one), without the path's terms.
    """

    symbols: tuple[SymbolFields, ...]
    chunks: tuple[ContentChunk, ...]
    counts: tuple[tuple[str, int], ...]
    tokens: int
    lines: int
    error: str = ""

    @property
    def stable(self) -> bool:
        """False when the parse stopped at its time limit: under load it may not next time, so it is not cached."""
        return "timed out" not in self.error


def process_content(text: str, language: str, cfg: Config) -> FileContent:
    """Parse, chunk, term-count and token-count a file's text (pure, path-free: what the parse cache keeps)."""
    counter = get_counter(cfg.encoding)
    parsed = parse_source("", language, text, cfg.parse_timeout_ms)
    src = SourceFile("", language, 0, 0, "", text)
    counts: Counter[str] = Counter()
    chunks = []
    for c in chunk_file(src, parsed.symbols, counter, cfg):
        cterms = terms(c.text)
        counts.update(cterms)
        chunks.append(ContentChunk(c.start_line, c.end_line, c.tokens, c.content_hash, c.symbols, " ".join(cterms)))
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    symbols = tuple((s.name, s.kind, s.category, s.line, s.end_line, s.signature, s.parent, s.doc)
                    for s in parsed.symbols)
    return FileContent(symbols, tuple(chunks), tuple(sorted(counts.items())), sum(c.tokens for c in chunks),
                       lines, parsed.error)


CHARS_PER_TOKEN = 3  # a provisional file's token estimate (code runs 3-4 characters per token in o200k and cl100k)


# Definitions and imports a line states in most languages, for a file not parsed yet (``provisional_content``).
# The line-anchored ones are searched as "\n" + pattern in "\n" + text: a pattern that starts with a
# literal character is scanned for fast, one that starts with ``^`` is tried at every position.
DEF_LINE = (r"[ \t]*(?:(?:export|pub(?:\([\w:]+\))?|public|private|protected|static|async|abstract|final)"
            r"[ \t]+)*(def|class|function|func|fn|struct|enum|trait|interface|type)[ \t]+"
            r"(?:\([^)\n]*\)[ \t]*)?([A-Za-z_][A-Za-z0-9_]*)")
PY_IMPORT_LINE = r"[ \t]*(?:from|import)[ \t]+([\w.]+)"
_DEF_LINE = re.compile("\n" + DEF_LINE)
_IMPORTS = {  # language -> the import lines a regex reads (others: definitions only)
    "python": re.compile("\n" + PY_IMPORT_LINE),
    **dict.fromkeys(("javascript", "typescript", "tsx"),
                    re.compile(r"(?:\bfrom|\brequire\(|^import)[ \t]*['\"]([^'\"\n]+)['\"]", re.M)),
}
_CATEGORY = {"def": "function", "function": "function", "func": "function", "fn": "function", "class": "class",
             "struct": "class", "trait": "interface", "interface": "interface", "enum": "enum", "type": "type"}


def provisional_symbols(text: str, language: str) -> tuple[SymbolFields, ...]:
    """The definitions and imports of ``text`` that a line states (``def name``, ``func (r T) Name``,
    ``import x``, ``from 'y'``): what stands in for the parser's symbols in the ranking's graph until the file is
    parsed. One line each, no parents or docs."""
    out: list[SymbolFields] = []
    if language == "text":
        return ()
    imports = _IMPORTS.get(language)
    padded = "\n" + text  # (every line starts after a "\n"; a match's line is the "\n"s before its name)
    for pattern in (_DEF_LINE, imports) if imports is not None else (_DEF_LINE,):
        line, pos = 0, 0
        for m in pattern.finditer(padded):
            name = m.start(pattern.groups)  # the name: the last group
            line += padded.count("\n", pos, name)
            pos = name
            if pattern is _DEF_LINE:
                end = padded.find("\n", name)
                sig = padded[padded.rfind("\n", 0, name) + 1: end if end >= 0 else len(padded)].strip()[:200]
                out.append((m.group(2), "def", _CATEGORY[m.group(1)], line, line, sig, "", ""))
            else:
                out.append((m.group(1), "ref", "import", line, 0, "", "", ""))
    return tuple(out)


def provisional_content(text: str, language: str) -> FileContent:
    """What stands in for ``process_content`` until a file is parsed (``process_sources``'s ``lazy_above``):
    the whole text's terms, the definitions and imports its lines state (``provisional_symbols``), no chunks,
    and a token count estimated from its length (the packer counts what it packs exactly). Never cached.
    Its term counts are in first-use order (``with_path`` sorts them with the path's terms)."""
    return FileContent(provisional_symbols(text, language), (), tuple(term_counts(text).items()),
                       len(text) // CHARS_PER_TOKEN + 1, text.count("\n") + (0 if text.endswith("\n") else 1))


def with_path(content: FileContent, src: SourceFile) -> ProcessedFile:
    """``process_file``'s output for ``src`` from its path-free part (``content`` of ``src.text``)."""
    path = src.path
    path_terms = terms(path.replace("/", " ").replace(".", " "))
    path_text = " ".join(path_terms)
    counts = dict(content.counts)
    for t in path_terms:
        counts[t] = counts.get(t, 0) + _PATH_TERM_WEIGHT
    items = sorted(counts.items())
    lines = src.text.splitlines(keepends=True) if content.chunks else []
    search = [(Chunk(chunk_id(path, c.start_line, c.content_hash), path, c.start_line, c.end_line,
                     "".join(lines[c.start_line - 1: c.end_line]), c.tokens, c.content_hash, c.symbols),
               c.terms + " " + path_text) for c in content.chunks]
    symbols = tuple(Symbol(path, *s) for s in content.symbols)
    rec = FileRecord(path, src.sha1, src.language, src.size, src.mtime_ns, content.tokens, content.lines)
    row = FileRow(rec, tuple(t for t, _ in items), tuple(c for _, c in items), content.error)
    return ProcessedFile(row, symbols, search)


def process_file(src: SourceFile, cfg: Config) -> ProcessedFile:
    """Parse, chunk, term-count and token-count one file (pure: the stage both engines run).

    Input and output are plain picklable values, so a worker process can run it.
    """
    return with_path(process_content(src.text, src.language, cfg), src)


# What runs ``process_file`` over a list of sources (in this process, or on a cluster: issue 7).
ProcessMany = Callable[[list[SourceFile], Config], list[ProcessedFile]]


def process_local(sources: list[SourceFile], cfg: Config, progress: Progress = no_progress) -> list[ProcessedFile]:
    """``process_file`` over ``sources`` in this process, in order."""
    parsed: list[ProcessedFile] = []
    for i, src in enumerate(sources):
        parsed.append(process_file(src, cfg))
        if i % 50 == 0 or i == len(sources) - 1:
            progress("parse", i + 1, len(sources))
    return parsed


@dataclass(frozen=True, slots=True)
class Processed:
    """``process_sources``'s output: the files in order, and how many contents were parsed (the rest were reused)."""

    files: list[ProcessedFile]
    parsed: int
    provisional: frozenset[str] = frozenset()  # paths not parsed (``lazy_above``): terms and token count only

    @property
    def reused(self) -> int:
        """Files whose content was parsed before (the parse cache, or another file of the same run)."""
        return len(self.files) - self.parsed - len(self.provisional)


def process_sources(sources: list[SourceFile], cfg: Config, cache: ParseCache | None = None,
                    progress: Progress = no_progress, lazy_above: int | None = None,
                    meanwhile: Callable[[], object] | None = None) -> Processed:
    """``process_file`` over ``sources``, in order, parsing each distinct content once
    (on every core when there are many: ``pool.parse_contents``).

    Args:
        sources: the files to process.
        cfg: settings (``cache`` must be for the same ``settings_key``).
        cache: the index's parse cache: contents found there are not parsed, contents parsed are added to it.
        progress: called as ``progress("parse", done, total)`` over the contents to parse.
        lazy_above: when more contents than this are not in ``cache``, none of them is parsed:
            they get ``provisional_content`` (an answer that cannot wait for parsing, see
            ``repo.Repo.completed``).

    Returns:
        The processed files (as ``process_file`` gives them), the number of contents parsed, the paths left provisional.
    """
    keys: dict[ContentKey, FileContent | None] = dict.fromkeys((s.sha1, s.language) for s in sources)
    if cache is not None:
        keys.update(cache.get_many(list(keys)))
    text_of = {(s.sha1, s.language): s.text for s in sources}
    todo = [k for k, v in keys.items() if v is None]
    from .pool import parse_contents, provisional_files  # here: pool imports this module

    if lazy_above is not None and len(todo) > lazy_above:
        late = set(todo)
        lazy = [s for s in sources if (s.sha1, s.language) in late]
        done = dict(zip((s.path for s in lazy), provisional_files(lazy, cfg, progress, meanwhile=meanwhile),
                        strict=True))
        return Processed([done[s.path] if s.path in done else with_path(keys[(s.sha1, s.language)], s)  # type: ignore[arg-type]
                          for s in sources], 0, frozenset(done))

    fresh = dict(zip(todo, parse_contents([(text_of[k], k[1]) for k in todo], cfg, progress), strict=True))
    keys.update(fresh)
    if cache is not None:
        cache.put_many({k: v for k, v in fresh.items() if v.stable}, touched=[k for k in keys if k not in fresh])
    out = []
    for s in sources:
        content = keys[(s.sha1, s.language)]
        assert content is not None
        out.append(with_path(content, s))
    return Processed(out, len(todo))
