"""The index on disk: LanceDB tables plus a manifest that makes updates atomic.

Layout of an index directory::

    .gitignore        "*": the index never ends up in the repository's history
    manifest.json     schema, encoding, database folder and the table versions to read
    write.lock        flock'd by the one process allowed to write
    db-<id>/          the LanceDB database: tables files, symbols, chunks
    pending-<id>.pkl  updates not yet written to the database (the journal; see below)
    snapshot.pkl      what ranking and packing read, at the manifest's state (a cache)
    rank.pkl          the ranking index built from it (a cache, also keyed by the code that builds it)

Readers open each table at the version the manifest names, so a writer killed
mid-update (even ``kill -9``) leaves the previous index intact: the manifest is
replaced atomically (``os.replace``) only after every table is written, and the next
writer first restores any table that moved past its manifest version.

An update on the read path (``ctxpack pack`` after an edit, a checkout or a pull) does not
import LanceDB, which alone costs seconds: it is recorded in a journal the manifest names,
and the snapshot cache is patched, so the pack answers from memory. The journal holds the
net change to the tables (paths whose rows go, rows that come). Readers of the tables
overlay it; the next ordinary write, a full-text search, or a read-path update finding a
journal over ``_JOURNAL_MAX_PATHS`` paths writes it to the tables (``fold``: ``ctxpack
pack`` does it behind its answer when the journal is that big, see ``cli/pack.py``);
``journal`` reads and writes it, ``cache`` holds the snapshot cache, ``columns`` the
schemas, ``manifest`` the manifest, ``lock`` the write lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import IndexCorrupt, IndexLocked, IndexNotFound, IndexOutdated
from ..models import Chunk, FileRow, Skipped, Symbol
from . import integrity
from .cache import CACHE, RANK_CACHE, read_cached_columns, write_cached_columns
from .columns import (
    CACHED_COLUMNS,
    TABLES,
    IndexSnapshot,
    cached_part,
    chunk_columns,
    chunks_of,
    file_columns,
    interned,
    lancedb_module,
    patched_columns,
    snapshot_from_columns,
    symbol_columns,
)
from .journal import JOURNAL_RE, Journal, read_journal, write_journal
from .lock import exclusive_lock
from .manifest import SCHEMA_VERSION, Manifest
from .versions import DB_NAME_RE, compact_tables, drop_stale, publish_manifest, write_tables

__all__ = ["IndexStore"]

log = logging.getLogger(__name__)

_OPTIMIZE_EVERY = 20  # updates between compactions (each write makes a version)
BEHIND_PID = "behind.pid"  # exists while a pack's detached child writes this index (``cli.pack``)
_JOURNAL_MAX_PATHS = 500  # a journal over this many paths is folded: behind a pack, or by the next update


class IndexStore:
    """Reads and writes one index directory."""

    def __init__(self, index_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(index_dir)
        self.manifest_path = self.dir / "manifest.json"
        # The columns this store object just wrote, for the ``load`` that follows (once).
        self._fresh: tuple[Manifest, dict[str, dict[str, list[Any]]]] | None = None
        # The last journal read (name, content): an update reads it to check, then to merge.
        self._journal_read: tuple[str, tuple[dict[str, set[str]], dict[str, dict[str, list[Any]]]]] | None = None

    # ---- reading -----------------------------------------------------------------

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> Manifest:
        """The current manifest.

        Raises:
            IndexNotFound: no index in this directory.
            IndexCorrupt: the manifest is unreadable.
            IndexOutdated: it was written by another schema version.
        """
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise IndexNotFound(f"no index in {self.dir}. Run: ctxpack index REPO") from None
        except OSError as exc:
            raise IndexCorrupt(f"cannot read index manifest {self.manifest_path}: {exc.strerror}") from exc
        try:
            man = Manifest.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorrupt(f"index manifest is corrupt: {self.manifest_path}. Run: ctxpack index --rebuild") from exc
        if man.schema != SCHEMA_VERSION:
            raise IndexOutdated(
                f"index schema {man.schema} does not match this ctxpack ({SCHEMA_VERSION}). Run: ctxpack index --rebuild"
            )
        return man

    def _tables(self, man: Manifest) -> dict[str, Any]:
        db_path = self.dir / man.db
        if not db_path.is_dir():
            raise IndexCorrupt(f"index database folder missing: {db_path}. Run: ctxpack index --rebuild")
        db = lancedb_module().connect(str(db_path))
        out = {}
        try:
            for name in TABLES:
                tbl = db.open_table(name)
                if tbl.version != man.versions[name]:
                    tbl.checkout(man.versions[name])
                out[name] = tbl
        except Exception as exc:  # lancedb raises several unrelated types for damaged data
            raise IndexCorrupt(f"index table unreadable in {db_path}: {type(exc).__name__}. Run: ctxpack index --rebuild") from exc
        return out

    def load(self) -> IndexSnapshot:
        """Load files, term counts, symbols and chunk spans at the manifest's versions.

        Served from ``snapshot.pkl`` when it matches the manifest (importing lancedb
        alone costs seconds, more than a warm pack); otherwise read from LanceDB and
        the cache is rewritten.

        Raises:
            IndexNotFound, IndexOutdated, IndexCorrupt: see ``manifest``.
        """
        for attempt in range(3):
            man = self.manifest()
            fresh, self._fresh = self._fresh, None
            if fresh is not None and fresh[0] == man:
                return snapshot_from_columns(fresh[1], man)
            cached = self._read_cache(man)
            if cached is not None:
                return cached
            try:
                return snapshot_from_columns(self._read_columns(man), man)
            except IndexCorrupt:
                if attempt == 2 or self.manifest() == man:
                    raise  # not a writer moving on (and dropping the journal) under us
        raise AssertionError("unreachable")

    def refresh_cache(self) -> None:
        """Rewrite the snapshot cache for the current manifest (after a write), unless it is current."""
        man = self.manifest()
        if not self._cache_is_current(man):
            self._read_columns(man)

    def _read_columns(self, man: Manifest) -> dict[str, dict[str, list[Any]]]:
        """The tables' columns at ``man``'s versions, read from LanceDB; the snapshot cache is rewritten."""
        tables = self._tables(man)
        try:
            fcols = tables["files"].to_arrow().to_pydict()
            scols = tables["symbols"].to_arrow().to_pydict()
            ccols = tables["chunks"].search().select(
                ["path", "start_line", "end_line", "tokens", "content_hash", "id", "symbols"]
            ).limit(None).to_arrow().to_pydict()
        except Exception as exc:
            raise IndexCorrupt(f"index data unreadable in {self.dir}: {type(exc).__name__}. Run: ctxpack index --rebuild") from exc
        cols = {"files": fcols, "symbols": scols, "chunks": ccols}
        journal = self._journal(man)
        if journal is not None:
            cols = patched_columns(cols, journal[0], journal[1], CACHED_COLUMNS)
        cols = interned(cols)
        write_cached_columns(self.dir, man, cols)
        return cols

    def _journal(self, man: Manifest) -> Journal | None:
        """The updates ``man`` names that the tables do not hold yet: (paths whose rows go, rows
        that come), per table; None when there are none.

        Raises:
            IndexCorrupt: the journal is missing or unreadable.
        """
        if not man.pending:
            return None
        if self._journal_read is not None and self._journal_read[0] == man.pending:
            return self._journal_read[1]  # a journal is never rewritten under its name
        changed, rows = read_journal(self.dir, man.pending)
        self._journal_read = (man.pending, (changed, rows))
        return changed, rows

    def damage(self, man: Manifest) -> str | None:
        """What is damaged in the tables ``man`` names (``"files.lance/data/x.lance missing"``), or None.

        A few ``stat`` calls against the record the last writer left (``integrity``); a file
        that was only rewritten in place is confirmed by reading the tables (LanceDB import).
        """
        found = integrity.check(self.dir, man.db, man.versions)
        if found is None or found.certain:
            return None if found is None else found.problem
        if not self._readable(man):
            return found.problem
        integrity.record(self.dir, man.db, man.versions)  # a copy of the index, not damage
        return None

    def _readable(self, man: Manifest) -> bool:
        """True when every table reads whole at ``man``'s versions."""
        try:
            for tbl in self._tables(man).values():
                tbl.to_arrow()
        except Exception:  # lancedb raises several unrelated types for damaged data
            return False
        return True

    def check_journal(self, man: Manifest) -> None:
        """Raise ``IndexCorrupt`` when ``man`` names a journal that cannot be read (a cached
        snapshot hides it until the tables are next written)."""
        self._journal(man)

    def _read_cache(self, man: Manifest) -> IndexSnapshot | None:
        cols = read_cached_columns(self.dir, man)
        return None if cols is None else snapshot_from_columns(cols, man)

    def _cache_is_current(self, man: Manifest) -> bool:
        return read_cached_columns(self.dir, man, key_only=True) is not None

    def restat(self, man: Manifest, stats: dict[str, tuple[int, int]]) -> bool:
        """Record new (size, mtime) of files whose content did not change, in the cache only.

        A checkout or a touch changes no indexed content, so no table is rewritten (and
        lancedb is not even imported). The tables keep the old stats; were the cache lost,
        the next run re-reads those files, finds their hashes unchanged and records the
        stats again.

        Returns:
            False when there is no cache to update (the caller then writes the tables).
        """
        cols = read_cached_columns(self.dir, man)
        if cols is None:
            return False
        f = cols["files"]
        for i, path in enumerate(f["path"]):
            st = stats.get(path)
            if st is not None:
                f["size"][i], f["mtime_ns"][i] = st
        write_cached_columns(self.dir, man, cols)
        return True

    def chunks_for(self, paths: list[str], manifest: Manifest | None = None) -> list[Chunk]:
        """Chunks of the given files, in (path, line) order, at ``manifest``'s versions."""
        if not paths:
            return []
        man = manifest or self.manifest()
        wanted = set(paths)
        journal = self._journal(man)
        out = []
        if journal is not None:  # the journal's rows replace the tables' for the paths it changed
            out = [c for c in chunks_of(journal[1]["chunks"]) if c.path in wanted]
            wanted -= journal[0]["chunks"]
        if wanted:
            quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in sorted(wanted))
            rows = self._tables(man)["chunks"].search().where(f"path IN ({quoted})").limit(None).to_arrow().to_pydict()
            out += chunks_of(rows)
        out.sort(key=lambda c: (c.path, c.start_line))
        return out

    def chunk_texts(self, hashes: set[str], manifest: Manifest | None = None) -> dict[str, str]:
        """Text of the chunks with these content hashes (one text per hash)."""
        if not hashes:
            return {}
        man = manifest or self.manifest()
        out: dict[str, str] = {}
        journal = self._journal(man)
        if journal is not None:
            rows = journal[1]["chunks"]
            for h, text in zip(rows["content_hash"], rows["text"], strict=True):
                if h in hashes and h not in out:
                    out[h] = text
            if len(out) == len(hashes):
                return out
        tables = self._tables(man)
        try:
            at = tables["chunks"].search().select(["content_hash", "text"]).limit(None).to_arrow()
        except Exception as exc:
            raise IndexCorrupt(f"index data unreadable in {self.dir}: {type(exc).__name__}. Run: ctxpack index --rebuild") from exc
        for h, text in zip(at.column("content_hash").to_pylist(), at.column("text").to_pylist(), strict=True):
            if h in hashes and h not in out:
                out[h] = text
        return out

    def search_chunks(self, query: str, k: int = 20) -> list[tuple[Chunk, float]]:
        """Full-text (BM25) search over chunks' identifier-split text."""
        from ..terms import terms

        q = " ".join(dict.fromkeys(terms(query)))
        if not q:
            return []
        man = self.manifest()
        if man.pending:  # the full-text index covers the tables only: write the journal to them first
            with self.lock():
                man = self.fold()
        tables = self._tables(man)
        try:
            rows = tables["chunks"].search(q, query_type="fts").limit(k).to_list()
        except Exception as exc:
            raise IndexCorrupt(f"full-text index unusable in {self.dir}: {type(exc).__name__}. Run: ctxpack index --rebuild") from exc
        return [
            (Chunk(r["id"], r["path"], r["start_line"], r["end_line"], r["text"], r["tokens"],
                   r["content_hash"], tuple(r["symbols"] or ())), float(r["_score"]))
            for r in rows
        ]

    # ---- writing -----------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, wait_s: float = 30.0) -> Iterator[None]:
        """Hold the write lock (``flock``: released by the OS if the holder dies).

        Raises:
            IndexLocked: another writer kept it for ``wait_s`` seconds.
        """
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise IndexCorrupt(f"index path is not a directory: {self.dir}. Use --index-dir with a directory") from None
        gi = self.dir / ".gitignore"
        if not gi.exists():
            ours = {".gitignore", "manifest.json", "write.lock", CACHE, RANK_CACHE, "vectors", integrity.SUM_FILE,
                    BEHIND_PID}
            foreign = [c.name for c in self.dir.iterdir()
                       if c.name not in ours and not DB_NAME_RE.fullmatch(c.name) and not JOURNAL_RE.fullmatch(c.name)]
            if foreign:
                raise IndexCorrupt(
                    f"{self.dir} is not a ctxpack index (it holds {foreign[0]!r} and more). "
                    "Use --index-dir with an empty or new directory"
                )
            gi.write_text("*\n", encoding="utf-8")
        busy = IndexLocked(f"index is being written by another process: {self.dir}. Wait for it or stop it")
        with exclusive_lock(self.dir / "write.lock", wait_s, 0.1, lambda: busy):
            yield

    def write(
        self,
        *,
        encoding: str,
        settings: str,
        rebuild: bool,
        removed: list[str],
        files: list[FileRow],
        symbols: list[Symbol],
        chunks: list[tuple[Chunk, str]],
        skipped: list[Skipped],
        touched: list[FileRow] = (),  # type: ignore[assignment]
        defer: bool = False,
    ) -> Manifest:
        """Apply one update (call under ``lock``) and publish it atomically.

        Args:
            encoding, settings: recorded in the manifest.
            rebuild: write a fresh database instead of updating the current one.
            removed: paths whose rows are deleted (changed files are removed, then re-added).
            files, symbols, chunks: new rows; chunks come with their search text.
            skipped: the discovery's skipped list, kept for reports.
            touched: files whose content is unchanged but whose stat changed (files table only).
            defer: record the update in the journal instead of the tables when it is an
                update of a cached index (no LanceDB import), whatever its size, unless the
                journal it adds to already holds over ``_JOURNAL_MAX_PATHS`` paths (nobody
                folded it: this update writes it all to the tables).

        Returns:
            The new manifest.
        """
        old: Manifest | None = None
        if not rebuild:
            try:
                old = self.manifest()
                if old.encoding != encoding or old.settings != settings or not (self.dir / old.db).is_dir():
                    old = None
            except (IndexNotFound, IndexOutdated, IndexCorrupt):
                old = None
        cols = {"files": file_columns([*files, *touched]), "symbols": symbol_columns(symbols),
                "chunks": chunk_columns(chunks)}
        changed = sorted(set(removed) | {f.record.path for f in files})
        changed_by_table = {name: set(changed) for name in TABLES}
        changed_by_table["files"] |= {f.record.path for f in touched}
        # The snapshot cache of the new state, from memory: the columns written, on top of the
        # prior cache for an update (None when there is none: ``refresh_cache`` reads back).
        cached: dict[str, dict[str, list[Any]]] | None = cached_part(cols)
        pending_before = 0
        if old is not None:
            prior = read_cached_columns(self.dir, old)  # the state the manifest names, journal included
            cached = None if prior is None else patched_columns(prior, changed_by_table, cached, CACHED_COLUMNS)
            journal = self._journal(old)
            if journal is not None:  # the net change: the journal's, then this update's
                pending_before = len(set().union(*journal[0].values()))
                cols = patched_columns(journal[1], changed_by_table, cols, {t: tuple(cols[t]) for t in TABLES})
                changed_by_table = {t: journal[0][t] | changed_by_table[t] for t in TABLES}
        if defer and old is not None and cached is not None and pending_before <= _JOURNAL_MAX_PATHS:
            name = write_journal(self.dir, changed_by_table, cols)
            self._journal_read = (name, (changed_by_table, cols))  # what it holds, without reading it back
            man = Manifest(SCHEMA_VERSION, encoding, settings, old.db, old.versions, tuple(skipped), time.time(),
                           old.updates, name)
        else:
            man = self._write_tables(old, encoding, settings, cols, changed_by_table, skipped)
        return self._commit(man, old, cached)

    def journal_paths(self, man: Manifest | None = None) -> int:
        """How many paths the journal ``man`` (default: the current manifest) names holds; 0 without one.

        Raises:
            IndexCorrupt: the journal is missing or unreadable.
        """
        journal = self._journal(man or self.manifest())
        return 0 if journal is None else len(set().union(*journal[0].values()))

    def fold_due(self) -> bool:
        """True when the journal is big enough to write to the tables now (``_JOURNAL_MAX_PATHS``)."""
        try:
            return self.journal_paths() > _JOURNAL_MAX_PATHS
        except (IndexNotFound, IndexOutdated, IndexCorrupt):
            return False  # the next update deals with it

    def fold(self, *, drop: bool = False) -> Manifest:
        """Write the journal's updates to the tables (call under ``lock``); the new manifest.

        ``drop``: delete the journal right away (an explicit index run: a reader that loads
        meanwhile finds the manifest moved on and loads again, see ``load``)."""
        man = self.manifest()
        journal = self._journal(man)
        if journal is None:
            return man
        cached = read_cached_columns(self.dir, man)  # the same content: only the key changes
        new = self._write_tables(man, man.encoding, man.settings, journal[1], journal[0], list(man.skipped))
        new = self._commit(new, man, cached)
        if drop:
            with contextlib.suppress(OSError):
                (self.dir / man.pending).unlink()
        return new

    def _write_tables(self, old: Manifest | None, encoding: str, settings: str, cols: dict[str, dict[str, list[Any]]],
                      changed_by_table: dict[str, set[str]], skipped: list[Skipped]) -> Manifest:
        """``versions.write_tables``, with a failure on an existing database told apart: damage
        (``IndexCorrupt``: the caller rebuilds) or a failed write on readable tables (``OSError``)."""
        try:
            return write_tables(self.dir, old, encoding, settings, cols, changed_by_table, skipped)
        except (OSError, IndexCorrupt):
            raise  # disk full, permissions: the caller reports them
        except Exception as exc:  # lancedb raises several unrelated types, for damage and for a full disk
            if old is None:
                raise
            if self._readable(old):  # the write failed, not the data: nothing to rebuild
                raise OSError(_first_line(exc)) from exc
            raise IndexCorrupt(f"index table unreadable in {self.dir / old.db}: {_first_line(exc)}. "
                               "Run: ctxpack index --rebuild") from exc

    def _commit(self, man: Manifest, old: Manifest | None, cached: dict[str, dict[str, list[Any]]] | None) -> Manifest:
        """Publish ``man`` (replacing ``old``), compact now and then, drop what it no longer names,
        and write the snapshot cache ``cached`` (its state) when there is one."""
        publish_manifest(self.dir, man, old)
        if old is not None and not man.pending and man.updates % _OPTIMIZE_EVERY == 0:
            self._optimize(man.db)
        drop_stale(self.dir, man)
        man = self.manifest()
        if old is None or old.db != man.db or old.versions != man.versions:
            integrity.record(self.dir, man.db, man.versions)  # never over a journal-only update
        if cached is not None:
            write_cached_columns(self.dir, man, cached)
            self._fresh = (man, cached)
        return man

    def _optimize(self, db_name: str) -> None:
        integrity.withdraw(self.dir)  # compaction removes old files: not damage
        versions = compact_tables(self.dir, db_name)
        man = dataclasses.replace(self.manifest(), versions=versions)
        publish_manifest(self.dir, man)
        integrity.record(self.dir, man.db, man.versions)


def _first_line(exc: BaseException) -> str:
    """An exception as one short line (LanceDB's messages carry Rust source paths after a comma)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(", /")[0][:160]
