"""One file through the per-file stages: parse, chunk, count terms and tokens (what every engine runs)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable

from ..config import Config
from ..models import FileRecord, FileRow, ProcessedFile, Progress, SourceFile, no_progress
from ..terms import terms
from ..tokens import get_counter
from .chunk import chunk_file
from .parse import PARSER_VERSION, parse_source

_PATH_TERM_WEIGHT = 3


def settings_key(cfg: Config) -> str:
    # include/exclude are not here: they filter at query time, on one index (rank/filters.py)
    key = (f"{cfg.encoding}|{cfg.chunk_tokens}|{cfg.max_chunk_tokens}|{cfg.max_file_bytes}|{cfg.redact}|"
           f"parser {PARSER_VERSION}" + ("|keys 1" if cfg.redact else ""))
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def process_file(src: SourceFile, cfg: Config) -> ProcessedFile:
    """Parse, chunk, term-count and token-count one file (pure: the stage both engines run).

    Input and output are plain picklable values, so a worker process can run it.
    """
    counter = get_counter(cfg.encoding)
    parsed = parse_source(src.path, src.language, src.text, cfg.parse_timeout_ms)
    chunks = chunk_file(src, parsed.symbols, counter, cfg)
    path_terms = terms(src.path.replace("/", " ").replace(".", " "))
    path_text = " ".join(path_terms)
    counts: Counter[str] = Counter()
    search = []
    for c in chunks:
        cterms = terms(c.text)
        counts.update(cterms)
        search.append((c, " ".join(cterms) + " " + path_text))
    for t in path_terms:
        counts[t] += _PATH_TERM_WEIGHT
    items = sorted(counts.items())
    rec = FileRecord(src.path, src.sha1, src.language, src.size, src.mtime_ns,
                     sum(c.tokens for c in chunks), src.text.count("\n") + (0 if src.text.endswith("\n") else 1))
    row = FileRow(rec, tuple(t for t, _ in items), tuple(c for _, c in items), parsed.error)
    return ProcessedFile(row, parsed.symbols, search)


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
