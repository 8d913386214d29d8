"""Table versions on disk: write an update to the tables, publish the manifest that names it,
compact now and then, and drop what no manifest names any more."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from ..models import Skipped
from .columns import TABLES, create_fts_index, lancedb_module, table_schemas
from .integrity import SUM_FILE
from .journal import JOURNAL_RE
from .manifest import SCHEMA_VERSION, Manifest

__all__ = ["DB_NAME_RE", "compact_tables", "drop_stale", "publish_manifest", "write_tables"]

log = logging.getLogger(__name__)

DB_NAME_RE = re.compile(r"db-[0-9a-f]{12}")
_KEEP_OLD_S = 600  # old table versions and journals stay readable this long (a reader may be on them)


def write_tables(index_dir: Path, old: Manifest | None, encoding: str, settings: str,
                 cols: dict[str, dict[str, list[Any]]],
                 changed_by_table: dict[str, set[str]], skipped: list[Skipped]) -> Manifest:
    """Write ``cols`` to the tables (a fresh database when ``old`` is None, else delete the rows of
    ``changed_by_table`` and add); the manifest to publish."""
    import pyarrow as pa

    schemas = table_schemas()
    lancedb = lancedb_module()
    data = {name: pa.Table.from_pydict(cols[name], schema=schemas[name]) for name in TABLES}
    versions: dict[str, int] = {}
    if old is None:
        db_name = f"db-{uuid.uuid4().hex[:12]}"
        db = lancedb.connect(str(index_dir / db_name))
        for name in TABLES:
            tbl = db.create_table(name, data=data[name], schema=schemas[name], mode="overwrite")
            if name == "chunks":
                create_fts_index(tbl)
            versions[name] = tbl.version
        return Manifest(SCHEMA_VERSION, encoding, settings, db_name, versions, tuple(skipped), time.time(), 0)
    db = lancedb.connect(str(index_dir / old.db))
    for name in TABLES:
        tbl = db.open_table(name)
        if tbl.version != old.versions[name]:
            # A writer died after touching this table: go back to what readers see.
            tbl.restore(old.versions[name])
        changed = sorted(changed_by_table[name])
        for i in range(0, len(changed), 500):
            part = changed[i: i + 500]
            tbl.delete("path IN (" + ", ".join("'" + p.replace("'", "''") + "'" for p in part) + ")")
        if data[name].num_rows:
            tbl.add(data[name])
        # No full-text re-index per update: LanceDB searches rows added since the index
        # was built by a flat scan next to it, and ``compact_tables`` folds them in.
        versions[name] = tbl.version
    return Manifest(SCHEMA_VERSION, encoding, settings, old.db, versions, tuple(skipped), time.time(),
                    old.updates + 1)


def publish_manifest(index_dir: Path, man: Manifest, old: Manifest | None = None) -> None:
    """Replace the manifest atomically (the commit point of every write). A journal ``old``
    named and ``man`` does not is retired: its clock for ``drop_stale`` starts now."""
    tmp = index_dir / f"manifest.{os.getpid()}.tmp"
    tmp.write_text(man.to_json(), encoding="utf-8")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / "manifest.json")
    if old is not None and old.pending and old.pending != man.pending:
        with contextlib.suppress(OSError):
            os.utime(index_dir / old.pending)


def compact_tables(index_dir: Path, db_name: str) -> dict[str, int]:
    """Compact the tables of ``db_name`` (old versions stay readable ``_KEEP_OLD_S``); their new versions."""
    from datetime import timedelta

    db = lancedb_module().connect(str(index_dir / db_name))
    for name in TABLES:
        try:
            db.open_table(name).optimize(cleanup_older_than=timedelta(seconds=_KEEP_OLD_S))
        except Exception as exc:  # compaction is an optimisation: never fail the update
            log.warning("index compaction of %s failed: %s", name, exc)
    return {name: db.open_table(name).version for name in TABLES}


def drop_stale(index_dir: Path, man: Manifest) -> None:
    """Remove what ``man`` does not name: other databases, leftover temporary files, and other
    journals once no reader can still be on them (kept as long as the tables' old versions)."""
    now = time.time()
    for child in index_dir.iterdir():
        name = child.name
        with contextlib.suppress(OSError):
            if child.is_dir() and DB_NAME_RE.fullmatch(name) and name != man.db:
                shutil.rmtree(child, ignore_errors=True)
            elif name.startswith(("manifest.", "pending-", SUM_FILE)) and name.endswith(".tmp"):
                child.unlink()
            elif JOURNAL_RE.fullmatch(name) and name != man.pending and now - child.stat().st_mtime > _KEEP_OLD_S:
                child.unlink()
