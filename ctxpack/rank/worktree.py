"""The working-tree signal of the ranking: files changed in the work tree, and the files their
changed lines link to.

A changed file is favoured (feature ``worktree``, reason "changed in the working tree").
Its changed lines also point at the rest of the change: a definition whose lines changed
has users that may need to follow, and a name used on a changed line has a definition
that may need to change with it (feature ``worktree_link``). Both are zero on a clean tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .index import RankIndex

__all__ = ["add_worktree_features"]

_MAX_FANOUT = 4  # a name defined or used in more files than this says little
_MAX_NAMES = 200


def add_worktree_features(ri: RankIndex, changed: Mapping[str, tuple[tuple[int, int], ...]], names: tuple[str, ...],
                          add: Callable[[int, str, float, str], None]) -> None:
    """Add ``worktree`` to changed files and ``worktree_link`` to the files their changes name."""
    index = {p: i for i, p in enumerate(ri.paths)} if changed else {}
    mine = {index[p] for p in changed if p in index}
    for i in sorted(mine):
        add(i, "worktree", 1.0, "changed in the working tree")
    if not mine:
        return
    linked: dict[int, str] = {}
    # Definitions whose lines changed: their users.
    for i in sorted(mine):
        spans = changed[ri.paths[i]]
        for sym in ri.def_symbols.get(i, ()):
            if any(a <= sym.end_line and sym.line <= b for a, b in spans):
                users = ri.users.get(sym.name, set()) - mine
                if 0 < len(users) <= _MAX_FANOUT:
                    for u in sorted(users):
                        linked.setdefault(u, f"uses `{sym.name}`, changed in the working tree")
    # Names on changed lines: their definitions elsewhere.
    for name in names[:_MAX_NAMES]:
        defs = [d for d in ri.defs_by_name.get(name, ()) if d not in mine]
        if 0 < len(defs) <= _MAX_FANOUT:
            for d in defs:
                linked.setdefault(d, f"defines `{name}`, used in a working-tree change")
    for i, why in linked.items():
        add(i, "worktree_link", 1.0, why)
