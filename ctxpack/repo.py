"""``Repo``: a loaded index with its ranking structures and per-process memos, refreshed in memory."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .embed.lane import DenseLane, load_dense
from .index.ahead import Ahead, ParseAhead
from .index.discover import Candidate, list_candidates, read_source
from .index.history import History, head_commit, index_history, read_history, start_history
from .index.parse_cache import ParseCache
from .index.pool import single_threaded
from .index.process import process_sources, settings_key, with_path
from .index.secrets import load_clean, save_clean
from .index.secrets import redact as redact_secrets
from .index.update import index_excludes, read_changed, stat_changed
from .index.worktree import WorkingChanges, git_state
from .index.worktree import changes as worktree_changes
from .models import (
    Chunk,
    FileRecord,
    ProcessedFile,
    Progress,
    Redaction,
    Skipped,
    SourceFile,
    Symbol,
    Uses,
    no_progress,
    uses_of,
)
from .pack.blocks import full_body
from .pack.skeleton import skeleton_text
from .rank.index import PathParts, RankIndex, build_rank_index, path_parts
from .rank.patch import patch_rank_index
from .rank.score import warm as warm_rank_index
from .store.columns import ChunkSpan, IndexSnapshot
from .store.tables import IndexStore
from .tokens import get_counter

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .embed.backends import Embedder


@dataclass(frozen=True, slots=True)
class Prepared:
    """What ``Repo.prepare`` computed for every file, to merge into a (warm) process's memos."""

    redactions: dict[tuple[str, int, bytes], tuple[str, tuple[Redaction, ...]] | None]
    counts: dict[bytes, int]  # token-count memo entries of the files' bodies
    clean: dict[str, tuple[int, int]]  # files whose whole text was scanned clean: (size, mtime_ns)


def stat_key(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of a file, as an index record keeps them; None if it cannot be statted."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass(slots=True)
class Repo:
    """A loaded index with its ranking structures: reuse it for many queries."""

    root: Path
    cfg: Config
    store: IndexStore
    snapshot: IndexSnapshot
    rank_index: RankIndex
    embedder: Embedder | None = None  # set to use a given embedder (tests, a warm server); else loaded lazily
    _dense: DenseLane | None = field(default=None, repr=False)
    _work: tuple[object, object, WorkingChanges] | None = field(default=None, repr=False)  # see working_changes
    # (path, first line, text digest) -> what redaction did; None: nothing to redact
    _redacted: dict[tuple[str, int, bytes], tuple[str, tuple[Redaction, ...]] | None] = field(default_factory=dict,
                                                                                               repr=False)
    _skeletons: dict[str, bytes] = field(default_factory=dict, repr=False)  # UTF-8: half the memory of str
    _clean_files: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)  # path -> stat found clean
    _clean_before: dict[tuple[str, int, bytes], None] | None = field(default=None, repr=False)  # see load_clean
    _parse_cache: ParseCache | None = field(default=None, repr=False)
    # Files changed on disk that are not parsed yet (``refresh_repo``'s ``lazy_above``): their records and terms
    # are exact, they have no symbols or chunks; ``completed`` parses them. The on-disk index does not hold them.
    provisional: frozenset[str] = frozenset()
    unsaved: bool = False  # holds changes the on-disk index does not (``refresh_repo``): ``build_index`` writes them
    _late: dict[str, ProcessedFile] = field(default_factory=dict, repr=False)  # provisional files parsed on demand
    _ahead: ParseAhead | None = field(default=None, repr=False)  # see expect_chunks
    _expected: list[str] = field(default_factory=list, repr=False)  # see expect_chunks

    @property
    def symbols_by_path(self) -> dict[str, tuple[Symbol, ...]]:
        """Each file's definitions (the snapshot's; files with none are absent)."""
        return self.snapshot.symbols

    def parse_cache(self) -> ParseCache:
        """The index's parse cache (on disk, with this process's last entries in memory), kept across refreshes."""
        if self._parse_cache is None:
            self._parse_cache = ParseCache(self.store.dir, settings_key(self.cfg))
        return self._parse_cache

    def completed(self, paths: Iterable[str]) -> Repo:
        """This Repo with the provisional files among ``paths`` parsed (``self`` when there are none)."""
        todo = [p for p in dict.fromkeys(paths) if p in self.provisional]
        if not todo:
            return self
        parsed = self._parse(todo)
        gone = set(todo) - {p.row.record.path for p in parsed}
        return patched(self, parsed, [], [], self.snapshot.manifest.skipped, self.provisional - set(todo) | gone)

    def _parse(self, paths: list[str]) -> list[ProcessedFile]:
        """Provisional files parsed now (through the parse cache), those still indexable."""
        sources: list[SourceFile] = []
        for path in paths:
            rec = self.snapshot.files[path]
            got = read_source(self.root, Candidate(path, rec.size, rec.mtime_ns), self.cfg.redact)
            if not isinstance(got, Skipped):  # (else changed again since: the next refresh sees it)
                sources.append(got)
        return process_sources(sources, self.cfg, self.parse_cache()).files

    def _parsed_late(self, path: str) -> ProcessedFile | None:
        """A provisional file's parse, made when a pack shows its chunks (memoized): parsed ahead
        (``expect_chunks``) or now."""
        if path not in self._late:
            t0 = time.perf_counter()
            if self._expected:
                self._start_ahead(path)
            ready, ahead = self._ahead.take(path) if self._ahead is not None else (False, None)
            got = self._adopt_ahead(ahead) if ready else self._parse([path])
            if not got:
                return None
            self._late[path] = got[0]
            log.debug("parsed %s (%d bytes) for its chunks in %.3f s%s", path, got[0].row.record.size,
                      time.perf_counter() - t0, " (ahead)" if ready else "")
        return self._late[path]

    def _adopt_ahead(self, ahead: Ahead) -> list[ProcessedFile]:
        """A parse made ahead, as ``_parse`` gives it (and kept in the parse cache as ``_parse`` does)."""
        if ahead is None:
            return []
        src, content = ahead
        if content.stable:
            self.parse_cache().put_many({(src.sha1, src.language): content})
        return [with_path(content, src)]

    def expect_chunks(self, paths: list[str]) -> None:
        """The files a pack may show as chunks, in the order it may reach them. When the pack first
        needs one that is provisional, the provisional ones after it are parsed ahead in forked
        workers (``index.ahead``) while it packs; ``end_ahead`` stops them. (Not before: most
        packs need none, and then forking costs more than it saves.)"""
        self._expected = [p for p in dict.fromkeys(paths) if p in self.provisional]

    def _start_ahead(self, path: str) -> None:
        """Parse ahead the expected files after ``path`` (the first one a pack parses late), when
        there are some and no other Python thread runs here (forking would not be safe)."""
        if path not in self._expected or self._ahead is not None:
            return
        expected, self._expected = self._expected, []
        todo = [p for p in expected[expected.index(path) + 1:] if p not in self._late]
        if not todo or not single_threaded():
            return
        files = self.snapshot.files
        self._ahead = ParseAhead(self.root, [Candidate(p, files[p].size, files[p].mtime_ns) for p in todo], self.cfg)
        log.debug("parsing ahead %d files the pack may show as chunks", len(todo))

    def end_ahead(self) -> None:
        """Stop parsing ahead (``expect_chunks``), whatever is left."""
        self._expected = []
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def skeleton(self, rel: str) -> str:
        """The file's skeleton (signatures and first doc lines), memoized."""
        got = self._skeletons.get(rel)
        if got is not None:
            return got.decode()
        # (of a provisional file: the definitions its lines state, see ``provisional_symbols``)
        text = skeleton_text(self.symbols_by_path.get(rel, []))
        self._skeletons[rel] = text.encode()  # a str with one "—" in it takes 2 bytes a character
        return text

    def read_text(self, rel: str) -> str | None:
        """Current text of a file (None if it cannot be read)."""
        try:
            with open(os.path.join(self.root, rel), "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        return data.decode("utf-8", errors="replace").removeprefix("\ufeff")

    def redact(self, rel: str, text: str, first_line: int) -> tuple[str, tuple[Redaction, ...]]:
        """``text`` of file ``rel`` with secret-looking strings replaced (see ``secrets``).

        Memoized by content: a warm process scans each file's text once.
        """
        key = (rel, first_line, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
        if key in self._redacted:
            hit = self._redacted[key]
            return (text, ()) if hit is None else hit
        if first_line > 0 and rel in self._clean_files and self._clean_files[rel] == stat_key(self.root / rel):
            return text, ()  # lines of a file whose whole text was found clean, unchanged since
        if self._clean_before is None:
            self._clean_before = load_clean(self.store.dir)
        # Found clean by an earlier pack of this index, else scanned now.
        hit = (text, ()) if key in self._clean_before else redact_secrets(self.root, rel, text, first_line)
        if len(self._redacted) > 50_000:
            self._redacted.clear()
        self._redacted[key] = hit if hit[1] else None
        return hit

    def remember_clean(self) -> None:
        """Record the texts this process found clean in the index directory, so the next
        process (a ``ctxpack pack``) skips their scan, and the scanner's import."""
        before = self._clean_before or {}
        new = [k for k, v in self._redacted.items() if v is None and k not in before]
        if new:
            save_clean(self.store.dir, {**before, **dict.fromkeys(new)})

    def prepare(self) -> Prepared:
        """What packing every indexed file whole, or as its skeleton, would compute: the redaction
        (when redaction is on) and the body's token count. A warm server runs this in a worker process and merges the
        results into its memos (``adopt``), so packs skip both; the chunks of a file found clean
        skip the scan too while the file's stat is unchanged.
        """
        bodies = []
        clean: dict[str, tuple[int, int]] = {}
        for rel in self.snapshot.files:
            before = stat_key(self.root / rel)
            text = self.read_text(rel)
            if text is None:
                continue
            body = full_body(text)
            skeleton = self.skeleton(rel)  # of this index: a pack of the same index builds the same text
            chunks = [c.text for c in self._cut_chunks(rel, text)]
            if self.cfg.redact:
                redacted, found = self.redact(rel, body, 1)
                if not found and before is not None and stat_key(self.root / rel) == before:
                    clean[rel] = before  # the text scanned is the one with this stat
                elif found:  # chunks of a file with secrets are scanned one by one when packed: do it now
                    chunks = [self.redact(rel, c.text, c.start_line)[0] for c in self._cut_chunks(rel, text)]
                body = redacted
                skeleton = self.redact(rel, skeleton, 0)[0] if skeleton else skeleton
            bodies += [body, full_body(skeleton), *chunks]
        return Prepared(self._redacted, get_counter(self.cfg.encoding).known(bodies), clean)

    def warm(self) -> None:
        """Build the ranking caches the first packs would otherwise build (a warm server calls this)."""
        warm_rank_index(self.rank_index, self.cfg.weights)

    def adopt(self, prepared: Prepared) -> None:
        """Merge what ``prepare`` computed (maybe in another process) into this process's memos.

        Keyed by content digest or stat: a file changed since is simply not a hit."""
        self._redacted.update(prepared.redactions)
        self._clean_files.update(prepared.clean)
        get_counter(self.cfg.encoding).remember(prepared.counts)

    def chunks_for(self, paths: list[str]) -> list[Chunk]:
        """Indexed chunks of files, their text cut from the files' current lines."""
        out: list[Chunk] = []
        for path in paths:
            if path in self.provisional:
                late = self._parsed_late(path)
                out += [c for c, _ in late.chunks] if late is not None else []
                continue
            text = self.read_text(path)
            if text is not None:
                out += self._cut_chunks(path, text)
        return out

    def _cut_chunks(self, path: str, text: str) -> list[Chunk]:
        lines = text.splitlines(keepends=True)
        return [Chunk(sp.id, path, sp.start_line, sp.end_line, "".join(lines[sp.start_line - 1: sp.end_line]),
                      sp.tokens, sp.content_hash, sp.symbols) for sp in self.snapshot.chunks.get(path, [])]

    def working_changes(self) -> WorkingChanges:
        """What is uncommitted in the work tree (``index.worktree.changes``), memoized while this
        snapshot is current and git's index and HEAD are unchanged (``git_state``): a warm
        process runs no git for it until a file, the staging area or HEAD moves."""
        key = git_state(self.root)
        memo = self._work
        if key is not None and memo is not None and memo[0] is self.snapshot and memo[1] == key:
            return memo[2]
        work = worktree_changes(self.root)
        self._work = (self.snapshot, key, work) if key is not None else None
        return work

    def dense_lane(self, reload: bool = False) -> DenseLane | None:
        """The dense lane's vectors for this snapshot (None when the lane is off)."""
        if self._dense is None or reload:
            self._dense = load_dense(self)
        return self._dense

    def dense_loaded(self) -> bool:
        """True when this Repo has read its dense lane (``dense_lane``) already."""
        return self._dense is not None

    def for_checkout(self, root: Path) -> Repo:
        """This Repo for another checkout sharing its index and settings (``refresh_repo`` then
        re-reads what differs): memos tied to files on disk and the dense lane are dropped,
        skeletons (built from the index's symbols) are kept."""
        return replace(self, root=root, _dense=None, _work=None, _clean_files={}, _skeletons=dict(self._skeletons))

    def lanes(self) -> dict[str, object]:
        """Which ranking lanes are ready: ``{"lexical": true, "dense": true | "n/m chunks" | false,
        "history": <commits used> | false}``."""
        lane = self.dense_lane()
        hist = self.rank_index.hist
        history: int | bool = len(hist.commits) if hist is not None else False
        if lane is None:
            return {"lexical": True, "dense": False, "history": history}
        return {"lexical": True, "dense": True if lane.ready == lane.total else f"{lane.ready}/{lane.total} chunks",
                "history": history}


def refresh_repo(repo: Repo, paths: Iterable[str] | None = None, *, lazy_above: int | None = None,
                 listed: tuple[list[Candidate], list[Skipped]] | None = None, progress: Progress = no_progress,
                 history: Callable[[], History | None] | None = None) -> Repo:
    """``repo`` brought up to date with the files on disk, in memory: no database read or write.

    With ``paths`` (repository-relative, e.g. from a file watcher) only those files are
    looked at, as long as each is already indexed and still an indexable regular file;
    otherwise, or without ``paths``, the whole tree is listed and compared by stat as
    ``build_index`` does. Changed files are parsed with the same stage as ``build_index``;
    the ranking index is patched when the set of files is the same, rebuilt otherwise.
    ``build_index`` persists the same state (its incremental update finds the same files).
    ``lazy_above``: when more changed contents than this were never parsed, they are left
    provisional (``Repo.provisional``; ``pipeline.pack_for`` parses those it packs).
    ``listed``: the tree's listing (``list_candidates``), when the caller has it.
    ``history``: the git history at HEAD, when the caller started reading it (``start_history``); else,
    when files come or go, ``git log`` is started here, to run while the files are read and counted.

    Returns:
        ``repo`` itself when nothing changed, else a new Repo (``repo`` stays usable).
    """
    snap = repo.snapshot
    to_read, removed, path_skips = changed_candidates(repo, paths, listed)
    if history is None and repo.cfg.history and (removed or any(c.path not in snap.files for c in to_read)):
        history = start_history(repo.root, repo.store.dir)  # files come or go: the rebuilt ranking index needs it
    sources, restat, unreadable = read_changed(repo.root, to_read, snap.files, progress, repo.cfg.redact)
    removed += [s.path for s in unreadable if s.path in snap.files]
    # What a pack reports as left out, as an index update would record it (files skipped for
    # their content are not indexed, so they are read again each time, as the update does).
    if path_skips is None:
        looked = {c.path for c in to_read}
        path_skips = [s for s in snap.manifest.skipped if s.path not in looked]
    skipped = tuple(sorted([*path_skips, *unreadable], key=lambda s: s.path))
    if not sources and not removed and not restat:
        return repo if skipped == snap.manifest.skipped else replace(
            repo, snapshot=replace(snap, manifest=replace(snap.manifest, skipped=skipped)))
    ahead: list[PathParts] = []

    def paths_part() -> None:  # files come or go, so the ranking index is rebuilt: its paths' part, while workers work
        paths = sorted(set(snap.files).difference(removed).union(s.path for s in sources))
        ahead.append(path_parts(paths, history() if history is not None and repo.cfg.history else None))

    rebuilt = bool(removed) or any(s.path not in snap.files for s in sources)
    done = process_sources(sources, repo.cfg, repo.parse_cache(), progress, lazy_above=lazy_above,
                           meanwhile=paths_part if rebuilt else None)
    return patched(repo, done.files, restat, removed, skipped, repo.provisional | done.provisional, history,
                   ahead[0] if ahead else None)


def patched(repo: Repo, parsed: list[ProcessedFile], restat: list[FileRecord], removed: list[str],
            skipped: tuple[Skipped, ...], provisional: frozenset[str] = frozenset(),
            history: Callable[[], History | None] | None = None, parts: PathParts | None = None) -> Repo:
    """A new Repo: ``repo`` with files re-processed (``parsed``), re-statted or removed, in memory.

    The ranking index is patched when it holds the same set of files, else rebuilt (with
    ``history``, when the caller started reading it, else the history read now; and with
    ``parts``, its paths' part computed ahead, when they are its paths)."""
    snap = repo.snapshot
    files, file_terms, chunks = dict(snap.files), dict(snap.file_terms), dict(snap.chunks)
    symbols, uses = dict(snap.symbols), dict(snap.uses)
    for path in removed:
        for d in (files, file_terms, chunks, symbols, uses):
            d.pop(path, None)
    for rec in restat:
        files[rec.path] = rec
    changed: dict[str, tuple[tuple[Symbol, ...], Uses]] = {}
    for p in parsed:
        path = p.row.record.path
        files[path] = p.row.record
        file_terms[path] = (list(p.row.terms), list(p.row.counts))
        chunks[path] = [ChunkSpan(c.id, c.start_line, c.end_line, c.tokens, c.content_hash, c.symbols) for c, _ in p.chunks]
        defs, used = changed[path] = (tuple(s for s in p.symbols if s.kind == "def"), uses_of(p.symbols))
        symbols.pop(path, None)  # (re-added last, as a table's rows are)
        uses.pop(path, None)
        if defs:
            symbols[path] = defs
        if used:
            uses[path] = used
    gone = set(removed) | changed.keys()
    new_snap = IndexSnapshot(files, file_terms, symbols, uses, chunks, replace(snap.manifest, skipped=skipped))
    ri = None if removed else patch_rank_index(repo.rank_index, snap.file_terms, files, file_terms, changed)
    if ri is None:
        # Files came or went: a commit or a checkout may be behind it, so look at the history again.
        if not repo.cfg.history:
            hist = None
        else:
            hist = history() if history is not None else read_history(repo.root, repo.store.dir)
        ri = build_rank_index(files, file_terms, symbols, uses, hist, parts)
    return Repo(repo.root, repo.cfg, repo.store, new_snap, ri, repo.embedder, _redacted=repo._redacted,
                _clean_files=repo._clean_files, _skeletons={p: t for p, t in repo._skeletons.items() if p not in gone},
                _parse_cache=repo._parse_cache, provisional=frozenset(provisional - set(removed)), unsaved=True)


def refresh_history(repo: Repo) -> Repo:
    """``repo`` with the git history at the current HEAD (after a commit, checkout or reset).

    Returns:
        ``repo`` itself when HEAD is where its history was read (or history is off), else a
        new Repo over the same files whose ranking index uses the new history.
    """
    if not repo.cfg.history:
        return repo
    old = repo.rank_index.hist
    if head_commit(repo.root) == (old.history.head if old is not None else None):
        return repo
    history = read_history(repo.root, repo.store.dir)
    ri = repo.rank_index
    # Only the history part of the ranking index depends on HEAD (and the query-free scores that use it).
    ri = replace(ri, hist=index_history(history, ri.paths) if history else None, static_cache={})
    return replace(repo, rank_index=ri)


def changed_candidates(repo: Repo, paths: Iterable[str] | None,
                       listed: tuple[list[Candidate], list[Skipped]] | None = None
                       ) -> tuple[list[Candidate], list[str], list[Skipped] | None]:
    """Files to re-read (stat differs from the index), indexed files that are gone, and, when
    the whole tree was listed, the paths discovery left out (None when only ``paths`` were looked at)."""
    known = repo.snapshot.files
    if paths is not None:
        out: list[Candidate] = []
        for path in dict.fromkeys(paths):
            rec = known.get(path)
            try:
                st: os.stat_result | None = os.lstat(repo.root / path)
            except OSError:
                st = None
            if rec is None and st is None:
                continue  # came and went (an editor's temporary file), or never indexed
            if rec is None or st is None or not stat.S_ISREG(st.st_mode) or st.st_size > repo.cfg.max_file_bytes:
                break  # a new, removed or no longer indexable file: look at the whole tree
            if (st.st_size, st.st_mtime_ns) != (rec.size, rec.mtime_ns):
                out.append(Candidate(path, st.st_size, st.st_mtime_ns))
        else:
            return out, [], None
    cands, path_skips = listed or list_candidates(repo.root, repo.cfg, index_excludes(repo.root, repo.store))
    to_read = stat_changed(cands, known)
    return to_read, sorted(set(known) - {c.path for c in cands}), path_skips
