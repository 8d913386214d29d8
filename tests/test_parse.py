"""Per-language symbol extraction on the real grammars (sample_repos/lang)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctxpack.index.parse import parse_source
from ctxpack.languages import CODE_LANGUAGES, get_query, language_for, name_and_suffix

LANG_DIR = Path(__file__).resolve().parent.parent / "sample_repos" / "lang"
EXPECTED = json.loads((LANG_DIR / "expected.json").read_text())


def test_every_supported_language_has_a_sample() -> None:
    assert set(EXPECTED) == set(CODE_LANGUAGES)
    assert len(CODE_LANGUAGES) >= 13


_PART = st.text(st.sampled_from("ab.Z_-"), min_size=1, max_size=6).filter(lambda p: p not in (".", ".."))


@given(st.lists(_PART, min_size=1, max_size=4))
def test_a_paths_name_and_suffix_are_pathlibs(parts: list[str]) -> None:
    """Listing reads names and suffixes with string slicing (it runs for every file): the same as pathlib's."""
    from pathlib import PurePosixPath

    path = "/".join(parts)
    p = PurePosixPath(path)
    assert name_and_suffix(path) == (p.name, p.suffix)


@pytest.mark.parametrize("lang", sorted(EXPECTED))
def test_language_symbols(lang: str) -> None:
    spec = EXPECTED[lang]
    path = spec["file"]
    assert language_for(path) == lang
    assert get_query(lang) is not None
    text = (LANG_DIR / path).read_text(encoding="utf-8")
    parsed = parse_source(path, lang, text)
    assert parsed.error == ""
    defs = {(s.name, s.category) for s in parsed.symbols if s.kind == "def"}
    refs = {(s.name, s.category) for s in parsed.symbols if s.kind == "ref"}
    missing_defs = {tuple(d) for d in spec["defs"]} - defs
    missing_refs = {tuple(r) for r in spec["refs"]} - refs
    assert not missing_defs, f"{lang}: definitions not found: {sorted(missing_defs)}"
    assert not missing_refs, f"{lang}: references not found: {sorted(missing_refs)}"
    for s in parsed.symbols:
        assert 1 <= s.line <= s.end_line <= text.count("\n") + 1
    # no definition reported twice for the same place
    keys = [(s.name, s.line) for s in parsed.symbols if s.kind == "def"]
    assert len(keys) == len(set(keys))


def test_signatures_docs_and_parents_python() -> None:
    text = (
        "class Cart:\n"
        '    """A shopping cart."""\n\n'
        "    def total(self, region: str) -> int:\n"
        '        """Total price for a region."""\n'
        "        return 1\n"
    )
    syms = {s.name: s for s in parse_source("c.py", "python", text).symbols if s.kind == "def"}
    assert syms["Cart"].category == "class" and syms["Cart"].doc == "A shopping cart."
    assert syms["total"].category == "method" and syms["total"].parent == "Cart"
    assert syms["total"].signature == "def total(self, region: str) -> int"
    assert syms["total"].doc == "Total price for a region."


def test_docstrings_keep_their_first_letter() -> None:
    # A docstring's own leading r/b/u/R/B/U letters are text, not a string prefix.
    text = (
        'def build():\n    """Build the settings."""\n\n'
        "def ret():\n    '''Return a value.'''\n\n"
        'def raw():\n    r"""Raise on bad input."""\n\n'
        'def multi():\n    """\n    Update the cache.\n\n    More text.\n    """\n'
    )
    docs = {s.name: s.doc for s in parse_source("d.py", "python", text).symbols if s.kind == "def"}
    assert docs == {"build": "Build the settings.", "ret": "Return a value.", "raw": "Raise on bad input.",
                    "multi": "Update the cache."}


def test_unknown_language_is_plain_text() -> None:
    parsed = parse_source("notes.txt", "text", "just words\n")
    assert parsed.symbols == () and parsed.error == ""


def test_broken_code_still_yields_symbols() -> None:
    text = "def ok():\n    return 1\n\ndef broken(:\n    pass\n\nclass Fine:\n    pass\n"
    names = {s.name for s in parse_source("b.py", "python", text).symbols if s.kind == "def"}
    assert {"ok", "Fine"} <= names


def test_pathological_file_is_bounded() -> None:
    text = "x = " + "(" * 50_000 + ")" * 50_000 + "\n"
    t0 = time.monotonic()
    parsed = parse_source("deep.py", "python", text, timeout_ms=500)
    assert time.monotonic() - t0 < 10
    assert isinstance(parsed.symbols, tuple)
    slow = parse_source("deep.py", "python", text * 20, timeout_ms=1)  # cancelled: plain text, a reason
    assert slow.symbols == () and "timed out" in slow.error
