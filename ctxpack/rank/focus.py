"""Focus files (the files being edited) as the user names them: absolute, or relative to the repository.

Editors pass absolute paths; people type paths relative to the repository (or, on the command
line, to the current directory, which the CLI turns into absolute paths first, see
``cli_focus``). A focus file that is missing, outside the repository or not indexed is a
one-line warning, not silently ignored (issue 18).
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Container
from pathlib import Path

__all__ = ["cli_focus", "resolve_focus"]

log = logging.getLogger(__name__)


def cli_focus(paths: tuple[str, ...]) -> tuple[str, ...]:
    """``--focus`` values with the ones that name an existing file relative to the current directory
    made absolute (the pack may run in another process and directory: ``--daemon``)."""
    out = []
    for f in paths:
        p = Path(f)
        out.append(str(p.resolve()) if not p.is_absolute() and p.is_file() else f)
    return tuple(out)


def resolve_focus(root: Path, indexed: Container[str], focus: tuple[str, ...]) -> tuple[str, ...]:
    """Repository-relative POSIX paths of the ``focus`` files that are indexed, in order, once each.

    Args:
        root: the repository root (resolved).
        indexed: the indexed paths.
        focus: absolute or repository-relative paths (``\\`` separators and ``./`` accepted).

    Returns:
        The usable focus paths; each other one is logged as a warning.
    """
    out: dict[str, None] = {}
    for f in focus:
        rel = f.replace("\\", "/")
        while rel.startswith("./"):
            rel = rel[2:]
        if os.path.isabs(rel):
            try:
                rel = Path(rel).resolve().relative_to(root).as_posix()
            except ValueError:
                log.warning("focus file outside the repository: %s", f)
                continue
        elif rel:
            rel = posixpath.normpath(rel)
        if not rel or ".." in rel.split("/"):
            log.warning("focus file outside the repository: %s", f)
            continue
        if rel in indexed:
            out[rel] = None
        elif (root / rel).is_file():
            log.warning("focus file not indexed (skipped or excluded): %s", f)
        else:
            log.warning("focus file not found: %s (pass a path relative to the repository or the current "
                        "directory, or an absolute one)", f)
    return tuple(out)
