"""A packed block's exact token count, and a whole file's body as packed."""

from __future__ import annotations

from ..render import block_parts
from ..tokens import TokenCounter

__all__ = ["block_tokens", "full_body"]


def full_body(text: str) -> str:
    """A whole file's text as packed (ending with a newline)."""
    return text if text.endswith("\n") or not text else text + "\n"


def block_tokens(counter: TokenCounter, fmt: str, path: str, mode: str, body: str, language: str = "text",
                 ranges: tuple[tuple[int, int], ...] = (), pieces: list[str] | None = None) -> int:
    """Exact tokens of a file's rendered block; the body's count is memoized on its own, so a
    file counted once (or pre-counted by a warm server's worker) costs a digest, not an encode.

    ``pieces``: ``body`` as the texts it was joined from (chunks), each counted (and memoized)
    on its own where they join cleanly.
    """
    opening, full, closing = block_parts(fmt, path, mode, body, language, ranges)
    if pieces is None or full != body:
        return counter.count_joined([opening, full, closing])
    return counter.count_joined([opening, *pieces, closing])
