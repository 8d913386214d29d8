"""The repository map: an indented tree of the files left out, with their top-level symbols."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from ..models import Symbol
from ..tokens import TokenCounter, estimate_tokens
from .blocks import block_tokens

__all__ = ["fit_map", "repo_map_text"]


def _map_line(path: str, symbols_for: Callable[[str], list[Symbol]]) -> str:
    defs = [s.name for s in symbols_for(path) if s.kind == "def" and not s.parent][:6]
    return PurePosixPath(path).name + (f": {', '.join(defs)}" if defs else "")


def repo_map_text(paths: list[str], symbols_for: Callable[[str], list[Symbol]]) -> str:
    """An indented directory tree of ``paths`` with each file's top-level symbols."""
    out: list[str] = []
    prev: tuple[str, ...] = ()
    for path in sorted(paths):
        parts = PurePosixPath(path).parts
        dirs = parts[:-1]
        common = 0
        while common < min(len(dirs), len(prev)) and dirs[common] == prev[common]:
            common += 1
        for depth in range(common, len(dirs)):
            out.append("  " * depth + dirs[depth] + "/\n")
        out.append("  " * len(dirs) + _map_line(path, symbols_for) + "\n")
        prev = dirs
    return "".join(out)


def fit_map(order: list[str], symbols_for: Callable[[str], list[Symbol]], room: int, counter: TokenCounter,
             fmt: str) -> tuple[str, int] | None:
    """The largest best-ranked prefix of ``order`` whose map block fits ``room`` tokens."""
    chosen: list[str] = []
    est = 0
    for path in order:
        est += estimate_tokens(path) // 2 + estimate_tokens(_map_line(path, symbols_for))
        if est > room:
            break
        chosen.append(path)
    while chosen:
        body = repo_map_text(chosen, symbols_for)
        t = block_tokens(counter, fmt, "", "map", body)
        if t <= room:
            return body, t
        chosen = chosen[: int(len(chosen) * 0.9)]
    return None
