"""The journal (``pending-<id>.pkl``): updates the manifest names that the tables do not hold yet.

An update on the read path (``ctxpack pack`` after an edit, a checkout or a pull) is recorded
here instead of in the tables, so it needs no LanceDB import. A journal holds the net change per table: the
paths whose rows go, and the rows that come. It is written once under a fresh name and never
rewritten, so a reader holding its name always reads the same content.
"""

from __future__ import annotations

import os
import pickle
import re
import uuid
from pathlib import Path
from typing import Any

from ..errors import IndexCorrupt
from .columns import TABLES

__all__ = ["JOURNAL_RE", "Journal", "read_journal", "write_journal"]

JOURNAL_RE = re.compile(r"pending-[0-9a-f]{12}\.pkl")
# (paths whose rows go, rows that come as column lists), per table
Journal = tuple[dict[str, set[str]], dict[str, dict[str, list[Any]]]]


def read_journal(index_dir: Path, name: str) -> Journal:
    """The journal ``name`` of the index in ``index_dir``.

    Raises:
        IndexCorrupt: the journal is missing or unreadable.
    """
    try:
        if not JOURNAL_RE.fullmatch(name):
            raise ValueError(name)
        with open(index_dir / name, "rb") as fh:
            changed, rows = pickle.load(fh)
        if set(changed) != set(TABLES) or set(rows) != set(TABLES):
            raise ValueError("tables")
    except Exception as exc:
        raise IndexCorrupt(
            f"index journal unreadable: {index_dir / name}. Run: ctxpack index --rebuild") from exc
    return changed, rows


def write_journal(index_dir: Path, changed: dict[str, set[str]], rows: dict[str, dict[str, list[Any]]]) -> str:
    """Write a new journal (durably, then renamed into place); its name, for the manifest."""
    name = f"pending-{uuid.uuid4().hex[:12]}.pkl"
    tmp = index_dir / f"{name}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        pickle.dump((changed, rows), fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / name)
    return name
