"""Understand an edit instruction: terms, identifiers, paths, quoted strings, stack frames."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..terms import IDENT_RE, split_identifier, terms

__all__ = ["QueryInfo", "analyze_query", "frame_lines", "frame_points_to"]

_PATH_RE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.[A-Za-z0-9]{1,6})(?![\w/])")
_DIR_PATH_RE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+)")
_QUOTED_RE = re.compile(r"\"([^\"\n]{3,200})\"|'([^'\n]{3,200})'|`([^`\n]{2,200})`")
# Python "File "x.py", line 3", JS "at f (src/x.js:10:5)", Go/Rust/others "src/x.go:42"
_FRAME_RE = re.compile(r"File \"([^\"]+)\", line (\d+)|([\w./\\-]+\.[A-Za-z]{1,5}):(\d+)")
_DOTTED_RE = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:(?:\.|::|->|#)[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True, slots=True)
class QueryInfo:
    """What ranking extracts from the instruction."""

    text: str
    terms: tuple[str, ...]
    identifiers: tuple[str, ...]  # words that look like code or may name a symbol
    code_identifiers: frozenset[str]  # the ones that are unmistakably code (snake, camel, dotted)
    paths: tuple[str, ...]  # path-like mentions: src/x.py, x.py, src/pkg
    words: frozenset[str]  # lowercased words, for file-stem matches
    quoted: tuple[str, ...]
    frames: tuple[tuple[str, int], ...]
    mentions_tests: bool


def _looks_like_code(ident: str) -> bool:
    return "_" in ident.strip("_") or len(split_identifier(ident)) > 1 or any(c.isdigit() for c in ident[1:])


def analyze_query(text: str) -> QueryInfo:
    """Extract every signal ranking uses from ``text`` (pure; no index access)."""
    idents: dict[str, None] = {}
    code: set[str] = set()
    for dotted in _DOTTED_RE.findall(text):
        parts = [p for p in re.split(r"\.|::|->|#", dotted) if p]
        if not all(p[:1].islower() for p in parts) or len(parts) == 2:
            for p in parts:
                idents.setdefault(p)
                if len(p) > 2 and not p.islower() or "_" in p:
                    code.add(p)
    for ident in IDENT_RE.findall(text):
        if len(ident) < 3 or len(ident) > 80:
            continue
        idents.setdefault(ident)
        if _looks_like_code(ident):
            code.add(ident)
    for q in _QUOTED_RE.findall(text):
        s = next(x for x in q if x)
        if IDENT_RE.fullmatch(s):
            code.add(s)
    paths = dict.fromkeys(m.strip("./") for m in _PATH_RE.findall(text) if not m[0].isdigit())
    for m in _DIR_PATH_RE.findall(text):
        if "/" in m and not m.startswith(("http", "www.")):
            paths.setdefault(m.strip("./"))
    frames: list[tuple[str, int]] = []
    for m in _FRAME_RE.finditer(text):
        p, ln = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        frames.append((p.replace("\\", "/"), int(ln)))
    quoted = tuple(next(x for x in q if x) for q in _QUOTED_RE.findall(text))
    words = frozenset(w.lower() for w in IDENT_RE.findall(text) if len(w) >= 3)
    lower = text.lower()
    return QueryInfo(
        text=text,
        terms=tuple(terms(text)),
        identifiers=tuple(idents),
        code_identifiers=frozenset(code),
        paths=tuple(p for p in paths if p),
        words=words,
        quoted=quoted,
        frames=tuple(frames),
        mentions_tests=bool(re.search(r"\btest|\bspec\b|\bspecs\b", lower)),
    )


def frame_points_to(frame_path: str, path: str) -> bool:
    """True when a stack frame's file (absolute, relative, another machine's) is the repository file ``path``."""
    fl, pl = frame_path.lower().lstrip("./"), path.lower()
    return fl == pl or fl.endswith("/" + pl) or pl.endswith("/" + fl)


def frame_lines(frames: tuple[tuple[str, int], ...], path: str) -> tuple[int, ...]:
    """The lines of ``path`` that the query's stack frames point at."""
    return tuple(line for fpath, line in frames if frame_points_to(fpath, path))
