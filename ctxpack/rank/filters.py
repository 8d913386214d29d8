"""``include``/``exclude`` globs, applied when ranking, to one index that holds every discoverable file.

They used to be applied at discovery, so changing them rebuilt the whole on-disk index (and
the warning blamed "encoding, chunking or parser": issue 18). Now the index always holds
every file discovery finds (``.ctxpackignore`` and ``.gitignore`` still apply there), and
the globs only choose which indexed files a pack or a search may use. An include pattern
that matches no indexed file is a one-line warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

import pathspec

from ..config import Config

__all__ = ["keep", "path_filter", "select_paths"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def _spec(patterns: Iterable[str]) -> pathspec.PathSpec | None:
    lines = [p for p in patterns if p.strip() and not p.lstrip().startswith("#")]
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def path_filter(cfg: Config) -> Callable[[str], bool] | None:
    """A test of repository-relative paths for ``cfg``'s include/exclude globs (gitignore syntax),
    or None when there are none."""
    include, exclude = _spec(cfg.include), _spec(cfg.exclude)
    if include is None and exclude is None:
        return None

    def allowed(path: str) -> bool:
        if exclude is not None and exclude.match_file(path):
            return False
        return include is None or include.match_file(path)

    return allowed


def select_paths(cfg: Config, indexed: Iterable[str]) -> set[str] | None:
    """The indexed paths ``cfg``'s globs allow (None: no globs, all of them); warns for each
    include pattern that matches no indexed file."""
    allowed = path_filter(cfg)
    if allowed is None:
        return None
    paths = list(indexed)
    for pattern in cfg.include:
        spec = _spec([pattern])
        if spec is not None and not any(spec.match_file(p) for p in paths):
            log.warning("include pattern matches no indexed file: %r", pattern)
    return {p for p in paths if allowed(p)}


def keep(items: list[T], path_of: Callable[[T], str], allowed: set[str] | None) -> list[T]:
    """``items`` whose path is in ``allowed`` (all of them when it is None)."""
    return items if allowed is None else [x for x in items if path_of(x) in allowed]

