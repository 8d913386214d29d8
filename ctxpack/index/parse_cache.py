"""The content-addressed parse cache (issue 17): ``process_content``'s output by (content sha1, language, settings).

A file whose content was parsed before in this index, at any path and any commit, is not
parsed again: switching branches back and forth, a rename or a revert re-parses nothing.
The path-dependent part of ``process_file`` is recomputed (``process.with_path``).

Entries live in one SQLite file in the index directory (``parse-cache-v<N>.sqlite``: the
format version is in the name, the settings key in each entry's key). Each write is a
transaction, each entry carries a digest of its bytes: an entry that does not check out, or
a file that cannot be read, is a miss, never trusted. The file is bounded in size; the
entries used longest ago go first. A ``ParseCache`` also keeps its last entries in memory
(a warm ``Repo`` refreshes through it). It is only a cache: every failure is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .process import ContentChunk, ContentKey, FileContent

if TYPE_CHECKING:
    import sqlite3

__all__ = ["CACHE_FORMAT", "DEFAULT_MAX_BYTES", "ParseCache", "cache_file"]

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bumped when the entry layout changes (the file name changes with it)
DEFAULT_MAX_BYTES = 256 << 20  # compressed entries; a 2k-file repository's tree takes ~10 MiB
_MEMORY_ENTRIES = 256
_MEMORY_TOKENS = 64_000  # and at most this many tokens' worth (~40 bytes each); the disk has the rest
_BATCH = 500  # keys per SELECT (SQLite's variable limit)
_TIMEOUT_S = 2.0


def cache_file(index_dir: Path) -> Path:
    """Where the parse cache of the index at ``index_dir`` lives."""
    return index_dir / f"parse-cache-v{CACHE_FORMAT}.sqlite"


def _encode(c: FileContent) -> bytes:
    chunks = tuple((k.start_line, k.end_line, k.tokens, k.content_hash, k.symbols, k.terms) for k in c.chunks)
    data = (CACHE_FORMAT, c.symbols, chunks, tuple(t for t, _ in c.counts), tuple(n for _, n in c.counts), c.tokens,
            c.lines, c.error)
    return zlib.compress(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), 1)


def _decode(blob: bytes) -> FileContent:
    fmt, syms, chunks, terms, counts, tokens, lines, error = pickle.loads(zlib.decompress(blob))
    if fmt != CACHE_FORMAT or len(terms) != len(counts):
        raise ValueError("entry of another format")
    return FileContent(syms, tuple(ContentChunk(*k) for k in chunks),
                       tuple(zip(terms, counts, strict=True)), tokens, lines, error)


def _digest(blob: bytes) -> bytes:
    return hashlib.blake2b(blob, digest_size=16).digest()


class ParseCache:
    """The parse cache of one index for one ``settings_key`` (in memory, and on disk when ``index_dir`` is given).

    Counts what it answered: ``hits`` (contents found), ``misses``, ``stored`` (contents added).
    ``read=False`` makes every lookup a miss (an asked-for rebuild), while what is parsed is still stored.
    """

    def __init__(self, index_dir: Path | None, settings: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 memory_entries: int = _MEMORY_ENTRIES,
                 memory_tokens: int = _MEMORY_TOKENS, read: bool = True) -> None:
        self.path = cache_file(index_dir) if index_dir is not None else None
        self.settings = settings
        self.max_bytes = max_bytes
        self.read = read  # False: every lookup misses (what is parsed is still stored)
        self.hits = self.misses = self.stored = 0
        self._memory: OrderedDict[ContentKey, FileContent] = OrderedDict()
        self._memory_entries = memory_entries
        self._memory_tokens = 0  # held in memory now, at most ``memory_tokens``
        self._memory_max_tokens = memory_tokens
        self._mutex = threading.Lock()
        self._warned = False

    def _warn(self, msg: str, *args: object) -> None:
        # once per cache: a read-only index directory would say it on every refresh of a warm server
        log.log(logging.DEBUG if self._warned else logging.WARNING, msg, *args)
        self._warned = True

    def _key(self, key: ContentKey) -> str:
        return f"{key[0]}|{key[1]}|{self.settings}"

    def get_many(self, keys: list[ContentKey]) -> dict[ContentKey, FileContent]:
        """The cached contents of ``keys`` (those found; a damaged entry is left out)."""
        found: dict[ContentKey, FileContent] = {}
        if not self.read:
            self.misses += len(keys)
            return found
        with self._mutex:
            for k in keys:
                if (hit := self._memory.get(k)) is not None:
                    self._memory.move_to_end(k)
                    found[k] = hit
        left = [k for k in keys if k not in found]
        if left and self.path is not None:
            found.update(self._read(left))
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def _read(self, keys: list[ContentKey]) -> dict[ContentKey, FileContent]:
        by_key = {self._key(k): k for k in keys}
        names = list(by_key)
        out: dict[ContentKey, FileContent] = {}
        try:
            if not self.path.exists():  # type: ignore[union-attr]  (a first run: nothing cached yet)
                return out
            with self._connect(create=False) as db:
                for i in range(0, len(names), _BATCH):
                    part = names[i: i + _BATCH]
                    marks = ",".join("?" * len(part))
                    rows = db.execute(f"SELECT key, digest, blob FROM entries WHERE key IN ({marks})", part).fetchall()
                    for name, digest, blob in rows:
                        content = self._checked(name, digest, blob)
                        if content is not None:
                            out[by_key[name]] = content
        except Exception as exc:  # noqa: BLE001  only a cache: unreadable is a miss
            if _busy(exc):  # another process is writing it: not a fault, this run parses
                log.debug("parse cache busy (%s); parsing the files", exc)
            else:
                self._warn("parse cache unreadable (%s: %s); parsing the files", type(exc).__name__, exc)
            return {}
        self._remember(out)
        return out

    @staticmethod
    def _checked(name: str, digest: object, blob: object) -> FileContent | None:
        if not isinstance(blob, bytes) or digest != _digest(blob):
            log.debug("parse cache entry %s damaged; parsing it again", name)
            return None
        try:
            return _decode(blob)
        except Exception as exc:  # noqa: BLE001  a torn or foreign entry is a miss
            log.debug("parse cache entry %s unreadable (%s); parsing it again", name, type(exc).__name__)
            return None

    def put_many(self, contents: dict[ContentKey, FileContent], touched: Sequence[ContentKey] = ()) -> None:
        """Add ``contents`` and mark ``touched`` (cache hits) as just used; then drop the oldest entries past the cap.

        A failure (a full disk, a read-only directory, a locked or damaged file) only logs at debug
        level, as the index's other caches do: it costs the next run a parse, nothing else.
        """
        self._remember(contents)
        if self.path is None or not (contents or touched):
            return
        now = time.time_ns()
        rows = []
        for k, c in contents.items():
            blob = _encode(c)
            rows.append((self._key(k), _digest(blob), blob, len(blob), now))
        try:
            self._write(rows, [(now, self._key(k)) for k in touched])
        except Exception as exc:  # noqa: BLE001  sqlite3.DatabaseError (not a database), OSError ...
            if not _damaged(exc):
                log.debug("parse cache not written (%s: %s)", type(exc).__name__, exc)
                return
            log.debug("parse cache damaged (%s); starting a new one", exc)
            for p in (self.path, self.path.with_name(self.path.name + "-journal")):
                with contextlib.suppress(OSError):
                    p.unlink()
            try:
                self._write(rows, [])
            except Exception as exc2:  # noqa: BLE001
                log.debug("parse cache not written (%s: %s)", type(exc2).__name__, exc2)
                return
        self.stored += len(rows)

    def _write(self, rows: list[tuple[str, bytes, bytes, int, int]], touch: list[tuple[int, str]]) -> None:
        with self._connect(create=True) as db:
            with db:  # one transaction
                db.executemany("INSERT OR REPLACE INTO entries (key, digest, blob, size, used) VALUES (?, ?, ?, ?, ?)",
                               rows)
                db.executemany("UPDATE entries SET used = ? WHERE key = ?", touch)
                total = db.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()[0]
                if total > self.max_bytes:
                    self._evict(db, total - self.max_bytes * 3 // 4)
            if total > self.max_bytes:
                db.execute("PRAGMA incremental_vacuum")

    @staticmethod
    def _evict(db: sqlite3.Connection, excess: int) -> None:
        """Drop the entries used longest ago until ``excess`` bytes are gone."""
        gone = []
        for key, size in db.execute("SELECT key, size FROM entries ORDER BY used, key"):
            if excess <= 0:
                break
            gone.append((key,))
            excess -= size
        db.executemany("DELETE FROM entries WHERE key = ?", gone)

    @contextlib.contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        import sqlite3

        assert self.path is not None
        db = sqlite3.connect(f"file:{self.path}?mode={'rwc' if create else 'rw'}", uri=True, timeout=_TIMEOUT_S)
        try:
            if create:
                db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect on a new file only
                db.execute("CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, digest BLOB NOT NULL, "
                           "blob BLOB NOT NULL, size INTEGER NOT NULL, used INTEGER NOT NULL)")
            yield db
        finally:
            db.close()

    def _remember(self, contents: dict[ContentKey, Any]) -> None:
        with self._mutex:
            for k, c in contents.items():
                if (was := self._memory.pop(k, None)) is not None:
                    self._memory_tokens -= was.tokens
                self._memory[k] = c
                self._memory_tokens += c.tokens
            while self._memory and (len(self._memory) > self._memory_entries
                                    or self._memory_tokens > self._memory_max_tokens):
                self._memory_tokens -= self._memory.popitem(last=False)[1].tokens


def _damaged(exc: Exception) -> bool:
    import sqlite3

    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


def _busy(exc: Exception) -> bool:
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
