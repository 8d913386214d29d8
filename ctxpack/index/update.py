"""The incremental index update: compare the tree with the index, parse what changed, write it under the lock."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import CtxpackError, IndexCorrupt, IndexNotFound, IndexOutdated
from ..models import FileRecord, FileRow, IndexStats, ProcessedFile, Progress, Skipped, SourceFile, no_progress
from ..store.columns import IndexSnapshot
from ..store.tables import IndexStore
from .discover import Candidate, list_candidates, read_source
from .parse_cache import ParseCache
from .process import Processed, process_sources, settings_key

log = logging.getLogger(__name__)

def locked_update(root: Path, store: IndexStore, cfg: Config, rebuild: bool, progress: Progress,
                   load: bool, seen: Seen | None = None) -> tuple[IndexStats, IndexSnapshot | None]:
    """Update the index under the write lock, and (``load``) read it back in the same critical section.

    ``seen`` is what the caller already loaded and listed (see ``plan_update``). An update
    that is loaded right away (a pack on a stale index) goes to the index's journal when
    small, so the pack does not import LanceDB (``IndexStore.write``)."""
    try:
        with store.lock():
            try:
                stats = _update(root, store, cfg, rebuild, progress, seen, defer=load)
            except IndexCorrupt as exc:  # damage the quick check cannot see (found while writing)
                if rebuild:
                    raise
                log.warning("%s; rebuilding it from the files", damage_line(exc))
                stats = _update(root, store, cfg, True, progress, None, defer=load)
            if not load:
                if store.manifest().pending:  # an explicit index run leaves the tables complete, and no journal
                    store.fold(drop=True)
                store.refresh_cache()  # right after a write, so the next process skips LanceDB
                return stats, None
            return stats, store.load()  # also (re)writes the snapshot cache
    except PermissionError as exc:
        raise CtxpackError(
            f"cannot write the index at {store.dir}: permission denied. Use --index-dir DIR (or CTXPACK_INDEX_DIR)"
        ) from exc
    except OSError as exc:  # disk full, read-only file system ...: the manifest was not replaced
        raise CtxpackError(
            f"cannot write the index at {store.dir}: {exc.strerror or exc}. The previous index is unchanged"
        ) from exc


def index_excludes(root: Path, store: IndexStore) -> tuple[str, ...]:
    """The index directory, when it lives inside the repository, is never indexed."""
    try:
        return (store.dir.relative_to(root).as_posix() + "/",)
    except ValueError:
        return ()


@dataclass(frozen=True, slots=True)
class Seen:
    """An index snapshot and a listing of the tree, taken before the write lock (``open_repo``)."""

    prior: IndexSnapshot
    listed: tuple[list[Candidate], list[Skipped]]


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """What an index update must do, decided locally before any parsing (``plan_update``)."""

    root: Path
    settings: str
    rebuild: bool  # no usable prior index: write a fresh database
    sources: list[SourceFile]  # new or changed files: the only ones sent to ``process_file``
    removed: list[str]
    touched: list[FileRow]  # same content, new stat (a checkout, a touch): no re-parse
    unchanged: set[str]
    skipped: list[Skipped]
    noop: bool  # nothing to write (the stats of touched files were recorded in the cache)
    started: float


def plan_update(root: Path, store: IndexStore, cfg: Config, rebuild: bool = False,
                progress: Progress = no_progress, seen: Seen | None = None) -> UpdatePlan:
    """Discover the repository and compare it with the index: which files need parsing.

    Runs where the files are (the driver, for a cluster run); reads and hashes only the
    files whose size or mtime changed. Call under ``store.lock()``. ``seen`` saves loading
    the index and listing the tree again: its snapshot is used while it is still the
    index's current state (no other writer came in between), its listing as is.
    """
    t0 = time.monotonic()
    settings = settings_key(cfg)
    prior: IndexSnapshot | None = None
    if not rebuild:
        prior = seen.prior if seen is not None and _current(store, seen.prior) else _prior_index(store)
    if prior is not None and (prior.manifest.encoding != cfg.encoding or prior.manifest.settings != settings):
        log.warning("index settings changed (encoding, chunk sizes, file size limit, redaction or parser version); "
                    "rebuilding %s", store.dir)
        prior = None
    if prior is not None and (damage := store.damage(prior.manifest)):
        log.warning("index damaged (%s); rebuilding it from the files", damage)
        prior = None
    if prior is not None and prior.manifest.pending:
        try:
            store.check_journal(prior.manifest)  # the update would build on it
        except IndexCorrupt as exc:
            log.warning("%s; rebuilding it from the files", damage_line(exc))
            prior = None
    progress("discover", 0, 0)
    cands, skipped = seen.listed if seen is not None else list_candidates(root, cfg, index_excludes(root, store),
                                                                           progress)
    skipped = list(skipped)
    progress("discover", len(cands), len(cands))
    known = prior.files if prior else {}
    to_read = stat_changed(cands, known)
    unchanged = {c.path for c in cands} - {c.path for c in to_read}
    sources, restat, unreadable = read_changed(root, to_read, known, progress, cfg.redact)
    skipped += unreadable
    unchanged |= {r.path for r in restat}
    # Same content, new stat (a checkout, a touch): no re-parse.
    touched = [FileRow(r, *map(tuple, prior.file_terms[r.path])) for r in restat] if prior is not None else []
    current = unchanged | {s.path for s in sources}
    removed = sorted(set(known) - current)
    skipped.sort(key=lambda s: s.path)
    noop = False
    if prior is not None and not sources and not removed and tuple(skipped) == prior.manifest.skipped:
        noop = not touched or store.restat(prior.manifest, {f.record.path: (f.record.size, f.record.mtime_ns)
                                                            for f in touched})
    return UpdatePlan(root, settings, prior is None, sources, removed, touched, unchanged, skipped, noop, t0)


def apply_update(store: IndexStore, cfg: Config, plan: UpdatePlan, parsed: list[ProcessedFile],
                 progress: Progress = no_progress, *, defer: bool = False, reused: int = 0) -> IndexStats:
    """Write the parsed files of ``plan`` (the single writer: call under ``store.lock()``).

    ``defer``: a small update may go to the index's journal rather than its tables.
    ``reused``: how many of ``parsed`` came from the parse cache (reported, not parsed)."""
    current = plan.unchanged | {s.path for s in plan.sources}
    if plan.noop:
        return IndexStats(len(current), 0, 0, len(plan.unchanged), 0, 0, tuple(plan.skipped),
                          time.monotonic() - plan.started, str(store.dir))
    progress("write", 0, 1)
    symbols = [s for p in parsed for s in p.symbols]
    chunks = [c for p in parsed for c in p.chunks]
    store.write(
        encoding=cfg.encoding, settings=plan.settings, rebuild=plan.rebuild, removed=plan.removed,
        files=[p.row for p in parsed], symbols=symbols, chunks=chunks, skipped=plan.skipped, touched=plan.touched,
        defer=defer,
    )
    progress("write", 1, 1)
    return IndexStats(len(current), len(plan.sources) - reused, len(plan.removed), len(plan.unchanged), len(chunks),
                      len(symbols), tuple(plan.skipped), time.monotonic() - plan.started, str(store.dir), reused)


def _prior_index(store: IndexStore) -> IndexSnapshot | None:
    """The index to update, or None when there is none usable (then it is rebuilt)."""
    if not store.exists():
        return None
    try:
        return store.load()
    except (IndexOutdated, IndexCorrupt) as exc:
        log.warning("%s; rebuilding it from the files", damage_line(exc))
    except IndexNotFound:
        pass
    return None


def damage_line(exc: IndexCorrupt) -> str:
    """The damage an ``IndexCorrupt`` names, without its advice (we act on it)."""
    return str(exc).split(". Run:")[0]


def _current(store: IndexStore, snap: IndexSnapshot) -> bool:
    """True when ``snap`` is still the index's current state."""
    try:
        return store.manifest() == snap.manifest
    except CtxpackError:
        return False


def _update(root: Path, store: IndexStore, cfg: Config, rebuild: bool, progress: Progress,
            seen: Seen | None = None, *, defer: bool = False) -> IndexStats:
    plan = plan_update(root, store, cfg, rebuild, progress, seen)
    done = Processed([], 0) if plan.noop else process_sources(plan.sources, cfg, parse_cache_for(store, cfg, rebuild),
                                                               progress)
    stats = apply_update(store, cfg, plan, done.files, progress, defer=defer, reused=done.reused)
    if not plan.noop:
        log.info("index update: %d files parsed, %d from the parse cache, %d removed, %d unchanged (%.2fs)",
                 stats.parsed, stats.reused, stats.removed, stats.unchanged, stats.seconds)
    return stats


def parse_cache_for(store: IndexStore, cfg: Config, rebuild: bool = False) -> ParseCache:
    """The parse cache of ``store``'s index for ``cfg``'s settings. An asked-for rebuild parses every
    file again (the cache is written, not read: it is the way out of a cache gone wrong)."""
    return ParseCache(store.dir, settings_key(cfg), read=not rebuild)


def stat_changed(cands: list[Candidate], known: dict[str, FileRecord]) -> list[Candidate]:
    """Candidates that are new or whose size or mtime differ from the index's record."""
    return [c for c in cands if (k := known.get(c.path)) is None or (k.size, k.mtime_ns) != (c.size, c.mtime_ns)]


def read_changed(root: Path, to_read: list[Candidate], known: dict[str, FileRecord], progress: Progress = no_progress,
                 redact: bool = True) -> tuple[list[SourceFile], list[FileRecord], list[Skipped]]:
    """Read files whose stat changed: (new content to parse, known content under a new stat, unreadable)."""
    sources: list[SourceFile] = []
    restat: list[FileRecord] = []
    skipped: list[Skipped] = []
    for i, c in enumerate(to_read):
        got = read_source(root, c, redact)
        if isinstance(got, Skipped):
            skipped.append(got)
        elif (k := known.get(got.path)) is not None and k.sha1 == got.sha1:
            restat.append(FileRecord(k.path, k.sha1, k.language, got.size, got.mtime_ns, k.tokens, k.lines))
        else:
            sources.append(got)
        if i % 200 == 0 or i == len(to_read) - 1:
            progress("read", i + 1, len(to_read))
    return sources, restat, skipped


def is_fresh(cfg: Config, snap: IndexSnapshot, cands: list[Candidate]) -> bool:
    """True when every candidate file has the size and mtime the index recorded."""
    if snap.manifest.encoding != cfg.encoding or snap.manifest.settings != settings_key(cfg):
        return False
    skipped_paths = {s.path for s in snap.manifest.skipped}
    seen = 0
    for c in cands:
        rec = snap.files.get(c.path)
        if rec is None:
            if c.path in skipped_paths:
                continue  # skipped for its content last time; unchanged set of candidates
            return False
        if (rec.size, rec.mtime_ns) != (c.size, c.mtime_ns):
            return False
        seen += 1
    return seen == len(snap.files)
