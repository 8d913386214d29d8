from __future__ import annotations

import hashlib

from ctxpack.config import Config
from ctxpack.index.chunk import chunk_file
from ctxpack.index.parse import parse_source
from ctxpack.models import SourceFile
from ctxpack.tokens import get_counter


def _src(path: str, text: str, language: str) -> SourceFile:
    return SourceFile(path, language, len(text), 0, hashlib.sha1(text.encode()).hexdigest(), text)


def _method(i: int) -> str:
    body = "".join(f"        total_{j} = self.items[{j}] * {i}\n" for j in range(25))
    return f"    def method_{i}(self):\n        \"\"\"Compute part {i}.\"\"\"\n{body}        return total_0\n\n"


def _check_cover(chunks, text: str) -> None:  # type: ignore[no-untyped-def]
    n = len(text.splitlines())
    assert chunks[0].start_line == 1 and chunks[-1].end_line == n
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start_line == a.end_line + 1
    assert "".join(c.text for c in chunks) == text


def test_chunks_cover_file_exactly_and_count_tokens() -> None:
    text = "import os\n\nLIMIT = 3\n\n\nclass Big:\n" + "".join(_method(i) for i in range(12)) + "\ndef tail():\n    return 1\n"
    src = _src("big.py", text, "python")
    syms = parse_source(src.path, src.language, text).symbols
    cfg = Config(chunk_tokens=200, max_chunk_tokens=400)
    counter = get_counter("o200k_base")
    chunks = chunk_file(src, syms, counter, cfg)
    _check_cover(chunks, text)
    assert all(c.tokens == counter.count(c.text) for c in chunks)
    # the big class was split at method boundaries: some chunk starts exactly at a method
    method_lines = {s.line for s in syms if s.kind == "def" and s.name.startswith("method_")}
    assert len(method_lines & {c.start_line for c in chunks}) >= 3
    assert any("method_3" in c.symbols for c in chunks)


def test_small_siblings_are_merged() -> None:
    text = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(30))
    src = _src("small.py", text, "python")
    chunks = chunk_file(src, parse_source("small.py", "python", text).symbols, get_counter("o200k_base"), Config())
    _check_cover(chunks, text)
    assert len(chunks) < 5


def test_plain_text_is_windowed() -> None:
    text = "".join(f"line {i} of notes about the system\n" for i in range(600))
    src = _src("notes.txt", text, "text")
    chunks = chunk_file(src, (), get_counter("o200k_base"), Config(chunk_tokens=300))
    _check_cover(chunks, text)
    assert len(chunks) > 3 and all(c.tokens < 700 for c in chunks)


def test_empty_file_has_no_chunks() -> None:
    assert chunk_file(_src("e.py", "", "python"), (), get_counter("o200k_base"), Config()) == []


def test_ids_are_stable() -> None:
    text = "def a():\n    return 1\n"
    src = _src("a.py", text, "python")
    syms = parse_source("a.py", "python", text).symbols
    one = chunk_file(src, syms, get_counter("o200k_base"), Config())
    two = chunk_file(src, syms, get_counter("o200k_base"), Config())
    assert [c.id for c in one] == [c.id for c in two]
