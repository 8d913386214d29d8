"""A cheap check that an index database is still the one its writer left.

LanceDB files are immutable once written (data fragments, version manifests, index
files): a writer only adds new ones, and compaction removes old ones. So the list of
files in the database folder with their sizes and modification times, recorded right
after each write is published, tells a damaged database apart (a truncated or deleted
fragment, a version manifest gone or overwritten, garbage written into a file) with a
few ``stat`` calls, without importing LanceDB. Files added since are never a fault.

The record (``tables.sum`` next to the manifest) names the database and table versions
it was taken at; a record for another state says nothing (``check`` returns None), so
a reader racing a writer never reports a fault that is not there. Compaction deletes
old files: the writer first withdraws the record (``withdraw``) and records again after.

A file that is missing or changed size is damage for certain. A file with only a new
modification time may be a copy of the index (``cp -r``) as well as bytes overwritten in
place: that is a ``Finding`` with ``certain=False``, for the caller to confirm by reading.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SUM_FILE", "Finding", "check", "record", "withdraw"]

SUM_FILE = "tables.sum"
_MUTABLE = ("latest_version_hint.json",)  # rewritten by LanceDB on every commit


@dataclass(frozen=True, slots=True)
class Finding:
    """What looks wrong with a database: ``problem`` names the first file ("x.lance truncated")."""

    problem: str
    certain: bool


def _listing(db_dir: Path) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for dirpath, _dirs, names in os.walk(db_dir):
        for name in names:
            if name in _MUTABLE or name.endswith(".tmp"):
                continue
            full = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.stat(full)
                out[os.path.relpath(full, db_dir)] = (st.st_size, st.st_mtime_ns)
    return out


def _key(db: str, versions: dict[str, int]) -> list[object]:
    return [db, sorted(versions.items())]


def record(index_dir: Path, db: str, versions: dict[str, int]) -> None:
    """Record the files of ``index_dir/db`` as the state at ``versions`` (call after publishing it)."""
    body = {"key": _key(db, versions), "files": _listing(index_dir / db)}
    tmp = index_dir / f"{SUM_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(body, sort_keys=True), encoding="utf-8")
        os.replace(tmp, index_dir / SUM_FILE)
    except OSError:  # the record is a safeguard, not part of the index
        with contextlib.suppress(OSError):
            tmp.unlink()


def withdraw(index_dir: Path) -> None:
    """Drop the record (before an operation that removes files: it would look like damage)."""
    with contextlib.suppress(OSError):
        (index_dir / SUM_FILE).unlink()


def check(index_dir: Path, db: str, versions: dict[str, int]) -> Finding | None:
    """What is wrong with the database ``db`` at ``versions`` (the first damaged file), or None
    when it looks intact or there is no record of that state to compare with."""
    try:
        body = json.loads((index_dir / SUM_FILE).read_text(encoding="utf-8"))
        if body.get("key") != json.loads(json.dumps(_key(db, versions))):
            return None
        files = {str(k): (int(v[0]), int(v[1])) for k, v in body["files"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError):
        return None
    db_dir = index_dir / db
    if not db_dir.is_dir():
        return Finding(f"database folder {db} missing", True)
    touched = None
    for rel, (size, mtime_ns) in sorted(files.items()):
        try:
            st = os.stat(db_dir / rel)
        except FileNotFoundError:
            return Finding(f"{rel} missing", True)
        except OSError as exc:
            return Finding(f"{rel} unreadable ({exc.strerror})", True)
        if st.st_size != size:
            return Finding(f"{rel} {'truncated' if st.st_size < size else 'changed size'}", True)
        if st.st_mtime_ns != mtime_ns and touched is None:
            touched = Finding(f"{rel} rewritten", False)
    return touched
