"""The index on disk: LanceDB tables plus a manifest that makes updates atomic.

Layout of an index directory::

    .gitignore        "*": the index never ends up in the repository's history
    manifest.json     schema, encoding, database folder and the table versions to read
    write.lock        flock'd by the one process allowed to write
    db-<id>/          the LanceDB database: tables files, symbols, chunks
    pending-<id>.pkl  updates not yet written to the database (the journal; see below)
    snapshot.pkl      what ranking and packing read, at the manifest's state (a cache)

Readers open each table at the version the manifest names, so a writer killed
mid-update (even ``kill -9``) leaves the previous index intact: the manifest is
replaced atomically (``os.replace``) only after every table is written, and the next
writer first restores any table that moved past its manifest version.

A small update on the read path (``ctxpack pack`` after an edit) does not import
LanceDB, which alone costs seconds: it is recorded in a journal the manifest names,
and the snapshot cache is patched. The journal holds the net change to the tables
(paths whose rows go, rows that come). Readers of the tables overlay it; the next
ordinary write, a full-text search or a journal over ``_JOURNAL_MAX_PATHS`` paths
writes it to the tables.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import pickle
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import integrity
from .errors import IndexCorrupt, IndexLocked, IndexNotFound, IndexOutdated, MissingDependency
from .models import Chunk, FileRecord, Skipped, Symbol

__all__ = ["SCHEMA_VERSION", "ChunkSpan", "FileRow", "IndexSnapshot", "IndexStore", "Manifest"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
TABLES = ("files", "symbols", "chunks")
_CACHE = "snapshot.pkl"
_CACHE_FORMAT = 4  # 2: repeated strings shared; 3: the key pickled first; 4: repeated numbers shared
_DB_NAME = re.compile(r"db-[0-9a-f]{12}")
_OPTIMIZE_EVERY = 20  # updates between compactions (each write makes a version)
_JOURNAL = re.compile(r"pending-[0-9a-f]{12}\.pkl")
_JOURNAL_MAX_PATHS = 500  # a deferred update that would leave more changed paths pending is written through
_KEEP_OLD_S = 600  # old table versions and journals stay readable this long (a reader may be on them)


def _lancedb() -> Any:
    # Lance's Rust logger writes WARN lines to stderr ("No existing dataset ..."): keep them for errors.
    os.environ.setdefault("LANCEDB_LOG", "error")
    try:
        import lancedb
    except ImportError as exc:  # pragma: no cover - lancedb is a core dependency
        raise MissingDependency("the index needs lancedb. Install: pip install lancedb") from exc
    return lancedb


def _schemas() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "files": pa.schema([
            ("path", pa.string()), ("sha1", pa.string()), ("language", pa.string()),
            ("size", pa.int64()), ("mtime_ns", pa.int64()), ("tokens", pa.int64()),
            ("lines", pa.int64()), ("terms", pa.list_(pa.string())), ("counts", pa.list_(pa.int32())),
            ("parse_error", pa.string()),
        ]),
        "symbols": pa.schema([
            ("path", pa.string()), ("name", pa.string()), ("kind", pa.string()),
            ("category", pa.string()), ("line", pa.int32()), ("end_line", pa.int32()),
            ("signature", pa.string()), ("parent", pa.string()), ("doc", pa.string()),
        ]),
        "chunks": pa.schema([
            ("id", pa.string()), ("path", pa.string()), ("start_line", pa.int32()),
            ("end_line", pa.int32()), ("text", pa.string()), ("tokens", pa.int32()),
            ("content_hash", pa.string()), ("symbols", pa.list_(pa.string())),
            ("search_text", pa.string()),
        ]),
    }


@dataclass(frozen=True, slots=True)
class Manifest:
    """What the index directory says about itself."""

    schema: int
    encoding: str
    settings: str  # fingerprint of the settings that change what is stored
    db: str
    versions: dict[str, int]
    skipped: tuple[Skipped, ...]
    updated: float
    updates: int
    pending: str = ""  # the journal of updates not yet in the tables ("" when there is none)

    def to_json(self) -> str:
        d = {
            "schema": self.schema, "encoding": self.encoding, "settings": self.settings,
            "db": self.db, "versions": self.versions, "updated": self.updated,
            "updates": self.updates, "pending": self.pending,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }
        return json.dumps(d, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        d = json.loads(text)
        return cls(
            schema=int(d["schema"]), encoding=str(d["encoding"]), settings=str(d.get("settings", "")),
            db=str(d["db"]), versions={k: int(v) for k, v in d["versions"].items()},
            skipped=tuple(Skipped(s["path"], s["reason"]) for s in d.get("skipped", [])),
            updated=float(d.get("updated", 0)), updates=int(d.get("updates", 0)),
            pending=str(d.get("pending", "")),
        )


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file as written to the index: its record, term counts and parse status."""

    record: FileRecord
    terms: tuple[str, ...]
    counts: tuple[int, ...]
    parse_error: str = ""


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """A chunk without its text (the text is the file's lines ``start``..``end``)."""

    id: str
    start_line: int
    end_line: int
    tokens: int
    content_hash: str
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IndexSnapshot:
    """The parts of the index ranking and packing need, in memory (values, no handles)."""

    files: dict[str, FileRecord]
    file_terms: dict[str, tuple[list[str], list[int]]]
    symbols: dict[str, tuple[Symbol, ...]]  # path -> its symbols (files with none are absent)
    chunks: dict[str, list[ChunkSpan]]
    manifest: Manifest


def _interned(cols: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
    """``cols`` with the strings and numbers that repeat (paths, names, kinds, terms, lines) shared, in place.

    Arrow hands out a new string object per cell: for a large repository that is millions of
    copies of a few thousand paths and terms. Shared, they take a fraction of the memory, and
    the pickled snapshot cache stores each once (pickle memoizes objects).
    """
    intern = sys.intern
    for table, names in (("files", ("path", "language")), ("symbols", ("path", "name", "kind", "category", "parent")),
                         ("chunks", ("path",))):
        col = cols[table]
        for name in names:
            col[name] = [intern(v) if isinstance(v, str) else v for v in col[name]]
    cols["files"]["terms"] = [[intern(t) for t in ts] for ts in cols["files"]["terms"]]
    cols["chunks"]["symbols"] = [[intern(t) for t in ts] if ts else ts for ts in cols["chunks"]["symbols"]]
    # Line numbers and counts repeat too (ints above 256 are one object per cell otherwise).
    share: dict[int, int] = {}
    one = share.setdefault
    for table, names in (("symbols", ("line", "end_line")), ("chunks", ("start_line", "end_line", "tokens"))):
        for name in names:
            cols[table][name] = [one(v, v) for v in cols[table][name]]
    cols["files"]["counts"] = [[one(v, v) for v in cs] for cs in cols["files"]["counts"]]
    return cols


def _snapshot_from_columns(cols: dict[str, dict[str, list[Any]]], man: Manifest) -> IndexSnapshot:
    f = cols["files"]
    files = {
        p: FileRecord(p, sha, lang, size, mt, tok, ln)
        for p, sha, lang, size, mt, tok, ln in zip(f["path"], f["sha1"], f["language"], f["size"], f["mtime_ns"],
                                                   f["tokens"], f["lines"], strict=True)
    }
    file_terms = {p: (t, c) for p, t, c in zip(f["path"], f["terms"], f["counts"], strict=True)}
    s = cols["symbols"]
    per_path: dict[str, list[Symbol]] = {}
    for sym in map(Symbol, s["path"], s["name"], s["kind"], s["category"], s["line"], s["end_line"],
                   s["signature"], s["parent"], s["doc"]):
        per_path.setdefault(sym.path, []).append(sym)
    symbols = {p: tuple(v) for p, v in per_path.items()}
    c = cols["chunks"]
    chunks: dict[str, list[ChunkSpan]] = {}
    for path, a, b, tok, h, cid, syms in zip(c["path"], c["start_line"], c["end_line"], c["tokens"],
                                              c["content_hash"], c["id"], c["symbols"], strict=True):
        chunks.setdefault(path, []).append(ChunkSpan(cid, a, b, tok, h, tuple(syms or ())))
    for spans in chunks.values():
        spans.sort(key=lambda x: x.start_line)
    return IndexSnapshot(files, file_terms, symbols, chunks, man)


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
        db = _lancedb().connect(str(db_path))
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
                return _snapshot_from_columns(fresh[1], man)
            cached = self._read_cache(man)
            if cached is not None:
                return cached
            try:
                return _snapshot_from_columns(self._read_columns(man), man)
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
            cols = _patched(cols, journal[0], journal[1], _CACHED)
        cols = _interned(cols)
        self._write_cache(man, cols)
        return cols

    def _journal(self, man: Manifest) -> tuple[dict[str, set[str]], dict[str, dict[str, list[Any]]]] | None:
        """The updates ``man`` names that the tables do not hold yet: (paths whose rows go, rows
        that come), per table; None when there are none.

        Raises:
            IndexCorrupt: the journal is missing or unreadable.
        """
        if not man.pending:
            return None
        if self._journal_read is not None and self._journal_read[0] == man.pending:
            return self._journal_read[1]  # a journal is never rewritten under its name
        try:
            if not _JOURNAL.fullmatch(man.pending):
                raise ValueError(man.pending)
            with open(self.dir / man.pending, "rb") as fh:
                changed, rows = pickle.load(fh)
            if set(changed) != set(TABLES) or set(rows) != set(TABLES):
                raise ValueError("tables")
        except Exception as exc:
            raise IndexCorrupt(
                f"index journal unreadable: {self.dir / man.pending}. Run: ctxpack index --rebuild") from exc
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

    def _cache_key(self, man: Manifest) -> str:
        return json.dumps([SCHEMA_VERSION, _CACHE_FORMAT, man.db, man.versions, man.encoding, man.settings,
                           man.pending], sort_keys=True)

    def _cached_columns(self, man: Manifest, *, key_only: bool = False) -> dict[str, dict[str, list[Any]]] | None:
        """The cached columns when the cache matches ``man`` (``{}`` with ``key_only``), else None.

        The cache file holds two pickles, the key first, so a stale cache is told apart
        without reading the columns."""
        if not (self.dir / man.db).is_dir():
            return None  # the database it mirrors is gone: let the loader report it
        try:
            with open(self.dir / _CACHE, "rb") as fh:
                if pickle.load(fh) != self._cache_key(man):
                    return None
                if key_only:
                    return {}
                cols = pickle.load(fh)
            return cols if isinstance(cols, dict) else None
        except FileNotFoundError:
            return None
        except Exception as exc:  # a damaged cache is only a cache: fall back to LanceDB
            log.warning("index cache unreadable (%s); reading the database", type(exc).__name__)
            return None

    def _read_cache(self, man: Manifest) -> IndexSnapshot | None:
        cols = self._cached_columns(man)
        return None if cols is None else _snapshot_from_columns(cols, man)

    def _cache_is_current(self, man: Manifest) -> bool:
        return self._cached_columns(man, key_only=True) is not None

    def restat(self, man: Manifest, stats: dict[str, tuple[int, int]]) -> bool:
        """Record new (size, mtime) of files whose content did not change, in the cache only.

        A checkout or a touch changes no indexed content, so no table is rewritten (and
        lancedb is not even imported). The tables keep the old stats; were the cache lost,
        the next run re-reads those files, finds their hashes unchanged and records the
        stats again.

        Returns:
            False when there is no cache to update (the caller then writes the tables).
        """
        cols = self._cached_columns(man)
        if cols is None:
            return False
        f = cols["files"]
        for i, path in enumerate(f["path"]):
            st = stats.get(path)
            if st is not None:
                f["size"][i], f["mtime_ns"][i] = st
        self._write_cache(man, cols)
        return True

    def _write_cache(self, man: Manifest, cols: dict[str, dict[str, list[Any]]]) -> None:
        tmp = self.dir / f"{_CACHE}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                pickle.dump(self._cache_key(man), fh, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(cols, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.dir / _CACHE)
        except OSError as exc:
            log.debug("index cache not written: %s", exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def chunks_for(self, paths: list[str], manifest: Manifest | None = None) -> list[Chunk]:
        """Chunks of the given files, in (path, line) order, at ``manifest``'s versions."""
        if not paths:
            return []
        man = manifest or self.manifest()
        wanted = set(paths)
        journal = self._journal(man)
        out = []
        if journal is not None:  # the journal's rows replace the tables' for the paths it changed
            out = [c for c in _chunks_of(journal[1]["chunks"]) if c.path in wanted]
            wanted -= journal[0]["chunks"]
        if wanted:
            quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in sorted(wanted))
            rows = self._tables(man)["chunks"].search().where(f"path IN ({quoted})").limit(None).to_arrow().to_pydict()
            out += _chunks_of(rows)
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
        from .terms import terms

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
            ours = {".gitignore", "manifest.json", "write.lock", _CACHE, "vectors", integrity.SUM_FILE}
            foreign = [c.name for c in self.dir.iterdir()
                       if c.name not in ours and not _DB_NAME.fullmatch(c.name) and not _JOURNAL.fullmatch(c.name)]
            if foreign:
                raise IndexCorrupt(
                    f"{self.dir} is not a ctxpack index (it holds {foreign[0]!r} and more). "
                    "Use --index-dir with an empty or new directory"
                )
            gi.write_text("*\n", encoding="utf-8")
        fd = os.open(self.dir / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise IndexLocked(
                            f"index is being written by another process: {self.dir}. Wait for it or stop it"
                        ) from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)

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
                update of a cached index and the journal stays small (no LanceDB import).

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
        cols = {"files": _file_columns([*files, *touched]), "symbols": _symbol_columns(symbols),
                "chunks": _chunk_columns(chunks)}
        changed = sorted(set(removed) | {f.record.path for f in files})
        changed_by_table = {name: set(changed) for name in TABLES}
        changed_by_table["files"] |= {f.record.path for f in touched}
        # The snapshot cache of the new state, from memory: the columns written, on top of the
        # prior cache for an update (None when there is none: ``refresh_cache`` reads back).
        cached: dict[str, dict[str, list[Any]]] | None = _cached_part(cols)
        if old is not None:
            prior = self._cached_columns(old)  # the state the manifest names, journal included
            cached = None if prior is None else _patched(prior, changed_by_table, cached, _CACHED)
            journal = self._journal(old)
            if journal is not None:  # the net change: the journal's, then this update's
                cols = _patched(journal[1], changed_by_table, cols, {t: tuple(cols[t]) for t in TABLES})
                changed_by_table = {t: journal[0][t] | changed_by_table[t] for t in TABLES}
        if defer and old is not None and cached is not None and \
                len(set().union(*changed_by_table.values())) <= _JOURNAL_MAX_PATHS:
            name = f"pending-{uuid.uuid4().hex[:12]}.pkl"
            tmp = self.dir / f"{name}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                pickle.dump((changed_by_table, cols), fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.dir / name)
            man = Manifest(SCHEMA_VERSION, encoding, settings, old.db, old.versions, tuple(skipped), time.time(),
                           old.updates, name)
        else:
            man = self._write_tables(old, encoding, settings, cols, changed_by_table, skipped)
        return self._commit(man, old, cached)

    def fold(self, *, drop: bool = False) -> Manifest:
        """Write the journal's updates to the tables (call under ``lock``); the new manifest.

        ``drop``: delete the journal right away (an explicit index run: a reader that loads
        meanwhile finds the manifest moved on and loads again, see ``load``)."""
        man = self.manifest()
        journal = self._journal(man)
        if journal is None:
            return man
        cached = self._cached_columns(man)  # the same content: only the key changes
        new = self._write_tables(man, man.encoding, man.settings, journal[1], journal[0], list(man.skipped))
        new = self._commit(new, man, cached)
        if drop:
            with contextlib.suppress(OSError):
                (self.dir / man.pending).unlink()
        return new

    def _commit(self, man: Manifest, old: Manifest | None, cached: dict[str, dict[str, list[Any]]] | None) -> Manifest:
        """Publish ``man`` (replacing ``old``), compact now and then, drop what it no longer names,
        and write the snapshot cache ``cached`` (its state) when there is one."""
        self._publish(man, old)
        if old is not None and not man.pending and man.updates % _OPTIMIZE_EVERY == 0:
            self._optimize(man.db)
        self._drop_stale(man)
        man = self.manifest()
        if old is None or old.db != man.db or old.versions != man.versions:
            integrity.record(self.dir, man.db, man.versions)  # never over a journal-only update
        if cached is not None:
            self._write_cache(man, cached)
            self._fresh = (man, cached)
        return man

    def _write_tables(self, old: Manifest | None, encoding: str, settings: str, cols: dict[str, dict[str, list[Any]]],
                      changed_by_table: dict[str, set[str]], skipped: list[Skipped]) -> Manifest:
        """Write ``cols`` to the tables (a fresh database when ``old`` is None, else delete the rows of
        ``changed_by_table`` and add); the manifest to publish."""
        import pyarrow as pa

        schemas = _schemas()
        lancedb = _lancedb()
        data = {name: pa.Table.from_pydict(cols[name], schema=schemas[name]) for name in TABLES}
        versions: dict[str, int] = {}
        if old is None:
            db_name = f"db-{uuid.uuid4().hex[:12]}"
            db = lancedb.connect(str(self.dir / db_name))
            for name in TABLES:
                tbl = db.create_table(name, data=data[name], schema=schemas[name], mode="overwrite")
                if name == "chunks":
                    _fts(tbl)
                versions[name] = tbl.version
            return Manifest(SCHEMA_VERSION, encoding, settings, db_name, versions, tuple(skipped), time.time(), 0)
        db = lancedb.connect(str(self.dir / old.db))
        for name in TABLES:
            try:
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
            except OSError:
                raise  # disk full, permissions: the caller reports them
            except Exception as exc:  # lancedb raises several unrelated types, for damage and for a full disk
                if self._readable(old):  # the write failed, not the data: nothing to rebuild
                    raise OSError(_first_line(exc)) from exc
                raise IndexCorrupt(f"index table {name} unreadable in {self.dir / old.db}: {_first_line(exc)}. "
                                   "Run: ctxpack index --rebuild") from exc
            # No full-text re-index per update: LanceDB searches rows added since the index
            # was built by a flat scan next to it, and ``_optimize`` folds them in.
            versions[name] = tbl.version
        return Manifest(SCHEMA_VERSION, encoding, settings, old.db, versions, tuple(skipped), time.time(),
                        old.updates + 1)

    def _publish(self, man: Manifest, old: Manifest | None = None) -> None:
        """Replace the manifest atomically (the commit point of every write). A journal ``old``
        named and ``man`` does not is retired: its clock for ``_drop_stale`` starts now."""
        tmp = self.dir / f"manifest.{os.getpid()}.tmp"
        tmp.write_text(man.to_json(), encoding="utf-8")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)
        if old is not None and old.pending and old.pending != man.pending:
            with contextlib.suppress(OSError):
                os.utime(self.dir / old.pending)

    def _optimize(self, db_name: str) -> None:
        from datetime import timedelta

        db = _lancedb().connect(str(self.dir / db_name))
        integrity.withdraw(self.dir)  # compaction removes old files: not damage
        for name in TABLES:
            try:
                db.open_table(name).optimize(cleanup_older_than=timedelta(seconds=_KEEP_OLD_S))
            except Exception as exc:  # compaction is an optimisation: never fail the update
                log.warning("index compaction of %s failed: %s", name, exc)
        man = dataclasses.replace(self.manifest(), versions={name: db.open_table(name).version for name in TABLES})
        self._publish(man)
        integrity.record(self.dir, man.db, man.versions)

    def _drop_stale(self, man: Manifest) -> None:
        """Remove what ``man`` does not name: other databases, leftover temporary files, and other
        journals once no reader can still be on them (kept as long as the tables' old versions)."""
        now = time.time()
        for child in self.dir.iterdir():
            name = child.name
            with contextlib.suppress(OSError):
                if child.is_dir() and _DB_NAME.fullmatch(name) and name != man.db:
                    shutil.rmtree(child, ignore_errors=True)
                elif name.startswith(("manifest.", "pending-", integrity.SUM_FILE)) and name.endswith(".tmp"):
                    child.unlink()
                elif _JOURNAL.fullmatch(name) and name != man.pending and now - child.stat().st_mtime > _KEEP_OLD_S:
                    child.unlink()


def _first_line(exc: BaseException) -> str:
    """An exception as one short line (LanceDB's messages carry Rust source paths after a comma)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(", /")[0][:160]


def _fts(tbl: Any) -> None:
    from lancedb.index import FTS

    tbl.create_index("search_text", config=FTS(with_position=False, base_tokenizer="whitespace", lower_case=True, stem=False, remove_stop_words=False), replace=True)


# The columns of each table that the snapshot cache keeps (the chunks table also holds text and search_text).
_CACHED = {
    "files": ("path", "sha1", "language", "size", "mtime_ns", "tokens", "lines", "terms", "counts", "parse_error"),
    "symbols": ("path", "name", "kind", "category", "line", "end_line", "signature", "parent", "doc"),
    "chunks": ("path", "start_line", "end_line", "tokens", "content_hash", "id", "symbols"),
}


def _file_columns(rows: list[FileRow]) -> dict[str, list[Any]]:
    recs = [f.record for f in rows]
    return {
        "path": [r.path for r in recs], "sha1": [r.sha1 for r in recs], "language": [r.language for r in recs],
        "size": [r.size for r in recs], "mtime_ns": [r.mtime_ns for r in recs], "tokens": [r.tokens for r in recs],
        "lines": [r.lines for r in recs], "terms": [list(f.terms) for f in rows],
        "counts": [list(f.counts) for f in rows], "parse_error": [f.parse_error for f in rows],
    }


def _symbol_columns(symbols: list[Symbol]) -> dict[str, list[Any]]:
    return {name: [getattr(s, name) for s in symbols] for name in _CACHED["symbols"]}


def _chunk_columns(chunks: list[tuple[Chunk, str]]) -> dict[str, list[Any]]:
    cs = [c for c, _ in chunks]
    return {
        "id": [c.id for c in cs], "path": [c.path for c in cs], "start_line": [c.start_line for c in cs],
        "end_line": [c.end_line for c in cs], "text": [c.text for c in cs], "tokens": [c.tokens for c in cs],
        "content_hash": [c.content_hash for c in cs], "symbols": [list(c.symbols) for c in cs],
        "search_text": [t for _, t in chunks],
    }


def _chunks_of(cols: dict[str, list[Any]]) -> list[Chunk]:
    """Chunk rows (column lists) as Chunks."""
    rows = zip(cols["id"], cols["path"], cols["start_line"], cols["end_line"], cols["text"], cols["tokens"],
               cols["content_hash"], cols["symbols"], strict=True)
    return [Chunk(cid, path, a, b, text, tok, h, tuple(syms or ())) for cid, path, a, b, text, tok, h, syms in rows]


def _cached_part(cols: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
    """The snapshot cache's share of freshly written columns (no chunk texts), strings shared."""
    return _interned({t: {name: cols[t][name] for name in names} for t, names in _CACHED.items()})


def _patched(prior: dict[str, dict[str, list[Any]]], changed: dict[str, set[str]], new: dict[str, dict[str, list[Any]]],
             columns: dict[str, tuple[str, ...]]) -> dict[str, dict[str, list[Any]]]:
    """``prior``'s ``columns`` with the rows of ``changed`` paths deleted and ``new`` rows appended.

    The order is the tables' own after ``delete`` then ``add`` (kept rows, then new ones), so
    a patched cache equals what reading the tables back would give, and two patches in a
    row equal one with the paths of both and the second's rows after the first's survivors.
    """
    out: dict[str, dict[str, list[Any]]] = {}
    for table, names in columns.items():
        old = prior[table]
        gone = changed[table]
        keep = [i for i, p in enumerate(old["path"]) if p not in gone]
        out[table] = {name: [old[name][i] for i in keep] + new[table][name] for name in names}
    return out
