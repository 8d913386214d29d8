from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxpack.errors import ConfigError
from ctxpack.tokens import TokenCounter, get_counter, joins_cleanly


def test_offline_tables_verified_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "tk"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    c = TokenCounter("o200k_base")
    assert c.count("hello world") == 2
    key = hashlib.sha1(b"https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken").hexdigest()
    data = (cache / key).read_bytes()
    assert hashlib.sha256(data).hexdigest() == "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def test_corrupt_cache_file_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "tk"
    cache.mkdir()
    key = hashlib.sha1(b"https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken").hexdigest()
    (cache / key).write_bytes(b"garbage")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert TokenCounter("cl100k_base").count("def foo(): pass") == 4


def test_special_token_text_counts_as_text() -> None:
    c = TokenCounter("o200k_base")
    assert c.count("<|endoftext|>") > 1


def test_encodings_differ_and_unknown_rejected() -> None:
    text = "def apply_discount(cart, code):\n    return cart.total * 0.9\n"
    assert TokenCounter("o200k_base").count(text) > 0
    assert TokenCounter("cl100k_base").count(text) > 0
    with pytest.raises(ConfigError):
        TokenCounter("p50k_base")


@pytest.mark.parametrize("limit", [0, 1, 5, 17, 100])
def test_truncate_never_exceeds(limit: int) -> None:
    c = TokenCounter("o200k_base")
    text = "".join(f"line {i}: value = compute_{i}(x)\n" for i in range(200))
    cut = c.truncate(text, limit)
    assert c.count(cut) <= limit
    assert text.startswith(cut)


# Text that stresses tiktoken's piece boundaries: newlines, runs of spaces, slashes, digits,
# punctuation, contractions, letters with marks, and any other character.
_edge = st.text(alphabet=st.sampled_from(list("\n\r \t/'sS0123456789<>#=`{}()-_.:;\"é\u0301\u00a0\u3000x")) | st.characters(),
                max_size=40)


@settings(max_examples=400, deadline=None)
@given(left=_edge, right=_edge, encoding=st.sampled_from(["o200k_base", "cl100k_base"]))
def test_clean_joins_add_up_exactly(left: str, right: str, encoding: str) -> None:
    c = get_counter(encoding)
    if joins_cleanly(left, right):
        assert c.count(left + right) == c.count(left) + c.count(right)
    left, right = left + "\n", "<" + right  # how rendered blocks meet
    assert joins_cleanly(left, right)
    assert c.count(left + right) == c.count(left) + c.count(right)
    assert c.count_joined([left, right]) == c.count(left + right)


def test_unclean_joins_are_counted_whole() -> None:
    c = get_counter("o200k_base")
    assert not joins_cleanly("a\n", "/b") and not joins_cleanly("a", "b") and not joins_cleanly("a\n", "\nb")
    assert not joins_cleanly("a\n", "  \n b") and not joins_cleanly("a\n", "   ")
    for left, right in (("x = 1\n", "\n\ny"), ("a\n", "//b"), ("ab", "cd"), ("a\n", " \r\nb")):
        assert c.count_joined([left, right]) == c.count(left + right)


def test_indented_lines_join_cleanly() -> None:
    # Chunks of code mostly start with an indented line: their counts add up too.
    assert joins_cleanly("a\n", "    def f():\n") and joins_cleanly("a\n", "\t// x") and joins_cleanly("a\n", "⋮ x")


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.builds(lambda ind, t: ind + t, st.sampled_from(["", " ", "    ", "\t"]), _edge), max_size=6),
       encoding=st.sampled_from(["o200k_base", "cl100k_base"]))
def test_count_joined_is_exact_for_any_parts(parts: list[str], encoding: str) -> None:
    c = get_counter(encoding)
    parts = [p + "\n" if i % 2 else p for i, p in enumerate(parts)]  # a mix of clean and unclean joins
    assert c.count_joined(parts) == c.count("".join(parts))
    assert c.count_joined(parts, [c.count(p) for p in parts]) == c.count("".join(parts))


def test_lean_encoding_still_counts_batches_and_decodes() -> None:
    # The counter drops tiktoken's Python copy of the rank table; batch encoding and decoding
    # run on the Rust core and must be unaffected.
    c = get_counter("o200k_base")
    texts = [f"def f_{i}(x):\n    return x * {i}  # <|endoftext|>\n" for i in range(100)]
    assert c.count_many(texts) == [c.count(t) for t in texts]
    assert c.truncate(texts[0] * 10, 12) and c.count(c.truncate(texts[0] * 10, 12)) <= 12
