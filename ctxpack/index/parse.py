"""tree-sitter parsing: definitions, references and imports of one file.

The tag queries (``ctxpack/queries/<language>.scm``) name whole definitions
``@definition.<kind>`` with their name ``@name``, and referenced names
``@reference.call``, ``@reference.type`` or ``@reference.import``. Parsing is bounded
in time; a file that takes too long, or has no grammar, yields no symbols and is
still indexed as plain text.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

from ..languages import get_language, get_query
from ..models import ParsedFile, Symbol

if TYPE_CHECKING:
    from tree_sitter import Node

__all__ = ["PARSER_VERSION", "parse_source"]

log = logging.getLogger(__name__)

# Bumped when what parsing extracts changes, so indexes built by an older parser are rebuilt.
PARSER_VERSION = 2
_MAX_SIGNATURE = 240
_STRING_OPEN = re.compile(r"^[rRbBuUfF]{0,2}(\"\"\"|'''|\"|')")  # a string literal's prefix and opening quotes
_MAX_NAME = 200


def _text(data: bytes, node: Node) -> str:
    # Slice the source: ``node.text`` on a tree parsed through a read callback calls it again, per node.
    return data[node.start_byte: node.end_byte].decode("utf-8", errors="replace")


def _signature(data: bytes, node: Node, category: str) -> str:
    body = node.child_by_field_name("body")
    raw = data[node.start_byte: node.end_byte]
    if body is not None and body.start_byte > node.start_byte:
        raw = raw[: body.start_byte - node.start_byte]
    else:
        raw = raw.split(b"\n", 1)[0]
    sig = " ".join(raw.decode("utf-8", errors="replace").split())
    sig = sig.rstrip("{:").rstrip()
    return sig if len(sig) <= _MAX_SIGNATURE else sig[: _MAX_SIGNATURE - 1] + "…"


def _doc(data: bytes, node: Node) -> str:
    """First line of a Python docstring, else the comment right above the definition."""
    body = node.child_by_field_name("body")
    if body is not None and body.named_child_count:
        first = body.named_children[0]
        if first.type == "expression_statement" and first.named_child_count and first.named_children[0].type == "string":
            doc = _STRING_OPEN.sub("", _text(data, first.named_children[0])).rstrip("\"'")
            return doc.strip().split("\n", 1)[0].strip()[:200]
    prev = node.prev_named_sibling
    if prev is not None and "comment" in prev.type and prev.end_point[0] >= node.start_point[0] - 1:
        lines = [ln.strip().lstrip("/*#!-").strip() for ln in _text(data, prev).splitlines()]
        lines = [ln for ln in lines if ln and ln not in ("*", "*/")]
        return lines[0][:200] if lines else ""
    return ""


def _tree(text: bytes, language: str, timeout_s: float):  # type: ignore[no-untyped-def]
    from tree_sitter import Parser

    lang = get_language(language)
    if lang is None:
        return None
    parser = Parser(lang)
    deadline = time.monotonic() + timeout_s
    # Chunked read + progress callback lets a pathological file be cancelled (issue 6).
    step = 1 << 16

    def read(offset: int, _point: object) -> bytes:
        return text[offset: offset + step]

    def progress(_offset: int, _has_error: bool) -> bool:
        return time.monotonic() > deadline

    try:
        return parser.parse(read, progress_callback=progress)
    except ValueError:  # py-tree-sitter raises "Parsing failed" when the callback cancels
        return None


def parse_source(path: str, language: str, text: str, timeout_ms: int = 2000) -> ParsedFile:
    """Extract definitions and references from one file.

    Args:
        path: repo-relative path (copied into each Symbol).
        language: a language from ``languages.language_for``.
        text: the decoded file content.
        timeout_ms: parse + query time limit; past it the file gets no symbols.

    Returns:
        A ParsedFile; ``error`` says why symbols are missing (no grammar, timeout).
    """
    query = get_query(language)
    if query is None:
        return ParsedFile(path, (), "" if language == "text" else f"no tag query for {language}")
    data = text.encode("utf-8", errors="surrogatepass")
    timeout_s = timeout_ms / 1000
    start = time.monotonic()
    tree = _tree(data, language, timeout_s)
    if tree is None:
        return ParsedFile(path, (), f"parse timed out after {timeout_ms} ms")
    from tree_sitter import QueryCursor

    deadline = start + timeout_s
    cursor = QueryCursor(query, match_limit=1 << 16)
    # No progress callback here: py-tree-sitter 0.26 segfaults with one on QueryCursor.matches.
    matches = cursor.matches(tree.root_node, _no_custom_predicates)
    if time.monotonic() > deadline:
        return ParsedFile(path, (), f"symbol query timed out after {timeout_ms} ms")

    defs: list[tuple[int, int, Symbol]] = []  # (start_byte, end_byte, symbol)
    seen_defs: set[tuple[str, int]] = set()
    refs: list[Symbol] = []
    seen_refs: set[tuple[str, str, int]] = set()
    for _pattern, caps in matches:
        def_kind = next((k for k in caps if k.startswith("definition.")), None)
        if def_kind is not None:
            names = caps.get("name")
            if not names:
                continue
            node, name_node = caps[def_kind][0], names[0]
            name = _text(data, name_node).strip()
            if not name or len(name) > _MAX_NAME:
                continue
            key = (name, node.start_point[0])
            if key in seen_defs:
                continue
            seen_defs.add(key)
            category = def_kind.split(".", 1)[1]
            sym = Symbol(
                path=path, name=name, kind="def", category=category,
                line=node.start_point[0] + 1, end_line=node.end_point[0] + 1,
                signature=_signature(data, node, category), doc=_doc(data, node),
            )
            defs.append((node.start_byte, node.end_byte, sym))
            continue
        for cap, nodes in caps.items():
            if not cap.startswith("reference."):
                continue
            category = cap.split(".", 1)[1]
            for node in nodes:
                name = _text(data, node).strip().strip("\"'`<>")
                if not name or len(name) > _MAX_NAME:
                    continue
                line = node.start_point[0] + 1
                rkey = (name, category, line)
                if rkey in seen_refs:
                    continue
                seen_refs.add(rkey)
                refs.append(Symbol(path, name, "ref", category, line, line))
    return ParsedFile(path, tuple(_with_parents(defs)) + tuple(refs))


def _no_custom_predicates(*_args: object) -> bool:
    return True


def _with_parents(defs: list[tuple[int, int, Symbol]]) -> list[Symbol]:
    """Set ``parent`` to the innermost enclosing definition."""
    defs.sort(key=lambda d: (d[0], -d[1]))
    out: list[Symbol] = []
    stack: list[tuple[int, Symbol]] = []
    for start, end, sym in defs:
        while stack and stack[-1][0] <= start:
            stack.pop()
        if stack:
            sym = Symbol(sym.path, sym.name, sym.kind, sym.category, sym.line, sym.end_line,
                         sym.signature, stack[-1][1].name, sym.doc)
        out.append(sym)
        stack.append((end, sym))
    return out
