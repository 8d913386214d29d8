"""Code-aware term extraction shared by indexing and query analysis.

Identifiers are kept whole (lowercased) and also split at snake_case and camelCase
boundaries, so ``applyDiscountCode`` matches "apply discount code" and the exact
identifier alike.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from itertools import chain
from sys import intern

__all__ = ["IDENT_RE", "ident_terms", "split_identifier", "term_counts", "terms"]

IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have if in into is it its of on or so "
    "that the then this to was were will with when which while we you i not no do does "
    "can should would could also just all any some use used using via now add adds added "
    "fix fixes fixed make makes made allow allows update updates updated new more less get "
    "set let var self this".split()
)


def split_identifier(ident: str) -> list[str]:
    """Lowercase parts of an identifier: ``HTTPServer_config`` -> [http, server, config]."""
    parts: list[str] = []
    for piece in ident.split("_"):
        if piece:
            parts.extend(p.lower() for p in _CAMEL_RE.findall(piece))
    return parts


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=200_000)
def ident_terms(ident: str) -> tuple[str, ...]:
    """Terms of one identifier: the whole (lowercased) when it has parts, and its stemmed parts."""
    if len(ident) > 64:
        return ()
    parts = split_identifier(ident)
    out = []
    whole = ident.lower()
    if len(parts) > 1 and whole not in STOPWORDS:
        out.append(intern(whole))
    for p in parts:
        if len(p) > 1 and p not in STOPWORDS and not p.isdigit():
            out.append(intern(_stem(p)))  # one string per term, however many identifiers hold it
    return tuple(out)


def terms(text: str) -> list[str]:
    """Search terms of ``text``: whole identifiers plus their stemmed parts, no stopwords."""
    return list(chain.from_iterable(map(ident_terms, IDENT_RE.findall(text))))


def term_counts(text: str) -> Counter[str]:
    """Term frequencies of ``text`` (``Counter(terms(text))``, each distinct identifier split once)."""
    out: dict[str, int] = {}  # (a Counter's += on a new term calls its __missing__, in Python: 15% slower)
    get = out.get
    for ident, n in Counter(IDENT_RE.findall(text)).items():
        for t in ident_terms(ident):
            out[t] = get(t, 0) + n
    return Counter(out)
