"""The only module that wires the stages: discover -> parse -> chunk -> store -> rank -> pack."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .chunk import chunk_file
from .config import Config, index_dir_for
from .config import repo_root as _root
from .discover import Candidate, list_candidates, read_source
from .errors import Cancelled, ConfigError, CtxpackError, IndexCorrupt, IndexNotFound, IndexOutdated
from .filters import keep, path_filter, select_paths
from .focus import resolve_focus
from .guard import check_scope
from .history import head_commit, index_history, read_history
from .models import (
    Chunk,
    EmbedStats,
    FileRecord,
    IndexStats,
    Pack,
    PackedFile,
    RankedFile,
    Redaction,
    Skipped,
    SourceFile,
    Symbol,
)
from .pack import PackInputs, full_body, pack_files, skeleton_text
from .parse import PARSER_VERSION, parse_source
from .query import analyze_query
from .rank import RankIndex, build_rank_index, patch_rank_index, rank
from .rank import warm as warm_rank_index
from .secrets import load_clean, redact_reasons, save_clean
from .secrets import redact as redact_secrets
from .store import ChunkSpan, FileRow, IndexSnapshot, IndexStore
from .terms import terms
from .tokens import get_counter
from .vectors import VectorStore
from .worktree import WorkingChanges
from .worktree import changes as working_changes
from .worktree import diff_text as working_diff

if TYPE_CHECKING:
    from .embed import Embedder, ModelRef

__all__ = ["Progress", "Repo", "build_index", "embed_index", "index_dir_for", "open_repo", "pack_for", "rank_for",
           "refresh_repo", "search_chunks", "search_repo", "stats_dict"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (stage, done, total)
_PATH_TERM_WEIGHT = 3
_RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al.)


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


def _settings_key(cfg: Config) -> str:
    # include/exclude are not here: they filter at query time, on one index (filters.py)
    key = (f"{cfg.encoding}|{cfg.chunk_tokens}|{cfg.max_chunk_tokens}|{cfg.max_file_bytes}|{cfg.redact}|"
           f"parser {PARSER_VERSION}" + ("|keys 1" if cfg.redact else ""))
    return hashlib.sha1(key.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class _Parsed:
    row: FileRow
    symbols: tuple[Symbol, ...]
    chunks: list[tuple[Chunk, str]]


def process_file(src: SourceFile, cfg: Config) -> _Parsed:
    """Parse, chunk, term-count and token-count one file (pure: the stage both engines run).

    Input and output are plain picklable values, so a worker process can run it.
    """
    counter = get_counter(cfg.encoding)
    parsed = parse_source(src.path, src.language, src.text, cfg.parse_timeout_ms)
    chunks = chunk_file(src, parsed.symbols, counter, cfg)
    path_terms = terms(src.path.replace("/", " ").replace(".", " "))
    path_text = " ".join(path_terms)
    counts: Counter[str] = Counter()
    search = []
    for c in chunks:
        cterms = terms(c.text)
        counts.update(cterms)
        search.append((c, " ".join(cterms) + " " + path_text))
    for t in path_terms:
        counts[t] += _PATH_TERM_WEIGHT
    items = sorted(counts.items())
    rec = FileRecord(src.path, src.sha1, src.language, src.size, src.mtime_ns,
                     sum(c.tokens for c in chunks), src.text.count("\n") + (0 if src.text.endswith("\n") else 1))
    return _Parsed(FileRow(rec, tuple(t for t, _ in items), tuple(c for _, c in items), parsed.error), parsed.symbols, search)


# What runs ``process_file`` over a list of sources (in this process, or on a cluster: issue 7).
ProcessMany = Callable[[list[SourceFile], Config], list[_Parsed]]


def process_local(sources: list[SourceFile], cfg: Config, progress: Progress = _noop) -> list[_Parsed]:
    """``process_file`` over ``sources`` in this process, in order."""
    parsed: list[_Parsed] = []
    for i, src in enumerate(sources):
        parsed.append(process_file(src, cfg))
        if i % 50 == 0 or i == len(sources) - 1:
            progress("parse", i + 1, len(sources))
    return parsed


def build_index(path: str | os.PathLike[str], cfg: Config, *, rebuild: bool = False,
                progress: Progress = _noop) -> IndexStats:
    """Create or update the index of a repository (incremental by content hash).

    Args:
        path: repository root.
        cfg: settings (index location, encoding, filters).
        rebuild: ignore the existing index and write a fresh one.
        progress: called as ``progress(stage, done, total)``.

    Returns:
        What was done.

    Raises:
        ConfigError: ``path`` is not a directory.
        IndexLocked: another process is writing this index.
        CtxpackError: the index directory cannot be written.
    """
    root = _root(path)
    check_scope(root, cfg)  # before anything is written there
    store = IndexStore(index_dir_for(root, cfg))
    stats, _ = _locked_update(root, store, cfg, rebuild, progress, load=False)
    return stats


def _locked_update(root: Path, store: IndexStore, cfg: Config, rebuild: bool, progress: Progress,
                   load: bool, seen: _Seen | None = None) -> tuple[IndexStats, IndexSnapshot | None]:
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
                log.warning("%s; rebuilding it from the files", _damage_line(exc))
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


def _index_excludes(root: Path, store: IndexStore) -> tuple[str, ...]:
    """The index directory, when it lives inside the repository, is never indexed."""
    try:
        return (store.dir.relative_to(root).as_posix() + "/",)
    except ValueError:
        return ()


@dataclass(frozen=True, slots=True)
class _Seen:
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
                progress: Progress = _noop, seen: _Seen | None = None) -> UpdatePlan:
    """Discover the repository and compare it with the index: which files need parsing.

    Runs where the files are (the driver, for a cluster run); reads and hashes only the
    files whose size or mtime changed. Call under ``store.lock()``. ``seen`` saves loading
    the index and listing the tree again: its snapshot is used while it is still the
    index's current state (no other writer came in between), its listing as is.
    """
    t0 = time.monotonic()
    settings = _settings_key(cfg)
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
            log.warning("%s; rebuilding it from the files", _damage_line(exc))
            prior = None
    progress("discover", 0, 0)
    cands, skipped = seen.listed if seen is not None else list_candidates(root, cfg, _index_excludes(root, store),
                                                                            progress)
    skipped = list(skipped)
    progress("discover", len(cands), len(cands))
    known = prior.files if prior else {}
    to_read = _stat_changed(cands, known)
    unchanged = {c.path for c in cands} - {c.path for c in to_read}
    sources, restat, unreadable = _read_changed(root, to_read, known, progress, cfg.redact)
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


def apply_update(store: IndexStore, cfg: Config, plan: UpdatePlan, parsed: list[_Parsed],
                 progress: Progress = _noop, *, defer: bool = False) -> IndexStats:
    """Write the parsed files of ``plan`` (the single writer: call under ``store.lock()``).

    ``defer``: a small update may go to the index's journal rather than its tables."""
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
    return IndexStats(len(current), len(plan.sources), len(plan.removed), len(plan.unchanged), len(chunks),
                      len(symbols), tuple(plan.skipped), time.monotonic() - plan.started, str(store.dir))


def _prior_index(store: IndexStore) -> IndexSnapshot | None:
    """The index to update, or None when there is none usable (then it is rebuilt)."""
    if not store.exists():
        return None
    try:
        return store.load()
    except (IndexOutdated, IndexCorrupt) as exc:
        log.warning("%s; rebuilding it from the files", _damage_line(exc))
    except IndexNotFound:
        pass
    return None


def _damage_line(exc: IndexCorrupt) -> str:
    """The damage an ``IndexCorrupt`` names, without its advice (we act on it)."""
    return str(exc).split(". Run:")[0]


def _current(store: IndexStore, snap: IndexSnapshot) -> bool:
    """True when ``snap`` is still the index's current state."""
    try:
        return store.manifest() == snap.manifest
    except CtxpackError:
        return False


def _update(root: Path, store: IndexStore, cfg: Config, rebuild: bool, progress: Progress,
            seen: _Seen | None = None, *, defer: bool = False) -> IndexStats:
    plan = plan_update(root, store, cfg, rebuild, progress, seen)
    parsed = [] if plan.noop else process_local(plan.sources, cfg, progress)
    return apply_update(store, cfg, plan, parsed, progress, defer=defer)


def _stat_changed(cands: list[Candidate], known: dict[str, FileRecord]) -> list[Candidate]:
    """Candidates that are new or whose size or mtime differ from the index's record."""
    return [c for c in cands if (k := known.get(c.path)) is None or (k.size, k.mtime_ns) != (c.size, c.mtime_ns)]


def _read_changed(root: Path, to_read: list[Candidate], known: dict[str, FileRecord], progress: Progress = _noop,
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
    symbols_by_path: dict[str, list[Symbol]]
    embedder: Embedder | None = None  # set to use a given embedder (tests, a warm server); else loaded lazily
    _dense: _DenseLane | None = field(default=None, repr=False)
    # (path, first line, text digest) -> what redaction did; None: nothing to redact
    _redacted: dict[tuple[str, int, bytes], tuple[str, tuple[Redaction, ...]] | None] = field(default_factory=dict,
                                                                                               repr=False)
    _skeletons: dict[str, str] = field(default_factory=dict, repr=False)
    _clean_files: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)  # path -> stat found clean
    _clean_before: dict[tuple[str, int, bytes], None] | None = field(default=None, repr=False)  # see load_clean

    def skeleton(self, rel: str) -> str:
        """The file's skeleton (signatures and first doc lines), memoized."""
        got = self._skeletons.get(rel)
        if got is None:
            got = self._skeletons[rel] = skeleton_text(self.symbols_by_path.get(rel, []))
        return got

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
            text = self.read_text(path)
            if text is not None:
                out += self._cut_chunks(path, text)
        return out

    def _cut_chunks(self, path: str, text: str) -> list[Chunk]:
        lines = text.splitlines(keepends=True)
        return [Chunk(sp.id, path, sp.start_line, sp.end_line, "".join(lines[sp.start_line - 1: sp.end_line]),
                      sp.tokens, sp.content_hash, sp.symbols) for sp in self.snapshot.chunks.get(path, [])]

    def dense_lane(self, reload: bool = False) -> _DenseLane | None:
        """The dense lane's vectors for this snapshot (None when the lane is off)."""
        if self._dense is None or reload:
            self._dense = _load_dense(self)
        return self._dense

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


# ---- the dense lane -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DenseLane:
    """Vectors of the snapshot's chunks that are embedded, arranged for one matrix product."""

    model_id: str
    ready: int  # distinct chunk contents with a vector
    total: int  # distinct chunk contents in the index
    matrix: np.ndarray  # (ready chunks, dim): rows of the chunks below
    file_of: np.ndarray  # file index (RankIndex order) of each row
    label: tuple[str, ...]  # what each row is called in a reason: its first symbol, else path:lines
    chunk: tuple[tuple[str, int], ...]  # (path, start line) of each row


def _dense_ref(cfg: Config, embedder: Embedder | None) -> str | None:
    """The model id the dense lane uses, or None when the lane is off (no heavy import)."""
    if embedder is not None:
        return embedder.model_id
    if not cfg.embed:
        return None
    from .embed import DEFAULT_MODEL, dense_available

    if not dense_available():
        return None
    try:
        return _resolve(cfg).model_id
    except CtxpackError as exc:
        if cfg.model != DEFAULT_MODEL:
            raise  # a model the user asked for: say why it cannot be used
        log.debug("dense lane off: %s", exc)
        return None


def _resolve(cfg: Config) -> ModelRef:
    from .embed import resolve_model

    return resolve_model(cfg.model, cfg.embed_backend)


def vector_store_for(store: IndexStore, cfg: Config) -> VectorStore:
    """The embedding cache of an index: ``vectors_dir`` (shareable) or ``<index dir>/vectors``."""
    return VectorStore(Path(cfg.vectors_dir).expanduser() if cfg.vectors_dir else store.dir / "vectors")


def _load_dense(repo: Repo) -> _DenseLane | None:
    model_id = _dense_ref(repo.cfg, repo.embedder)
    if model_id is None:
        return None
    ri = repo.rank_index
    hashes = {sp.content_hash for spans in repo.snapshot.chunks.values() for sp in spans}
    dm = vector_store_for(repo.store, repo.cfg).load(model_id)
    rows: list[int] = []
    files: list[int] = []
    labels: list[str] = []
    where: list[tuple[str, int]] = []
    if dm is not None:
        pos = {p: i for i, p in enumerate(ri.paths)}
        for path, spans in repo.snapshot.chunks.items():
            fi = pos.get(path)
            if fi is None:
                continue
            for sp in spans:
                r = dm.index.get(sp.content_hash)
                if r is not None:
                    rows.append(r)
                    files.append(fi)
                    labels.append(sp.symbols[0] if sp.symbols else f"{path}:{sp.start_line}-{sp.end_line}")
                    where.append((path, sp.start_line))
    ready = len(hashes & dm.index.keys()) if dm is not None else 0
    dim = dm.matrix.shape[1] if dm is not None else 0
    matrix = dm.matrix[np.asarray(rows, dtype=np.int64)] if rows else np.zeros((0, dim), np.float32)
    return _DenseLane(model_id, ready, len(hashes), matrix, np.asarray(files, dtype=np.int64), tuple(labels),
                      tuple(where))


def _embedder_for(repo_or_cfg: Config, embedder: Embedder | None) -> Embedder:
    if embedder is not None:
        return embedder
    from .embed import load_embedder

    cfg = repo_or_cfg
    return load_embedder(cfg.model, cfg.embed_backend, cfg.embed_max_tokens)


def dense_scores(repo: Repo, query: str) -> dict[int, tuple[float, str]] | None:
    """Each file's best chunk similarity to the query: ``{file index: (cosine, chunk label)}``.

    None when the dense lane is off or nothing is embedded yet (the model is then never loaded).
    """
    lane = repo.dense_lane()
    if lane is None or lane.ready == 0 or not len(lane.matrix):
        return None
    emb = _embedder_for(repo.cfg, repo.embedder)
    if emb.model_id != lane.model_id:
        raise ConfigError(f"embedder {emb.model_id} does not match the index's vectors ({lane.model_id})")
    qv = emb.embed([query])[0]
    sims = lane.matrix @ qv
    order = np.argsort(-sims, kind="stable")
    out: dict[int, tuple[float, str]] = {}
    for r in order.tolist():
        f = int(lane.file_of[r])
        if f not in out:
            out[f] = (float(sims[r]), lane.label[r])
    return out


# What embeds the texts of ``todo`` (content hashes, in order) in batches of ``batch``, yielding
# (hashes, vectors) per batch (in this process, or on a cluster: issue 7).
EmbedMany = Callable[[list[str], dict[str, str], int], Iterator[tuple[list[str], np.ndarray]]]


def embed_batches(embedder: Embedder, todo: list[str], texts: dict[str, str],
                  batch: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """Embed ``todo``'s texts in this process, ``batch`` at a time."""
    for part in embed_plan(todo, batch):
        yield part, embedder.embed([texts[h] for h in part])


def embed_plan(todo: list[str], batch: int) -> list[list[str]]:
    """The batches ``todo`` is embedded in (the same for every engine, so the same padding)."""
    return [todo[i: i + batch] for i in range(0, len(todo), batch)]


def embed_missing(vs: VectorStore, cfg: Config, model_id: str, hashes: set[str],
                  texts_for: Callable[[set[str]], dict[str, str]], get_embedder: Callable[[], Embedder],
                  progress: Progress = _noop, should_stop: Callable[[], bool] = lambda: False,
                  embed_many: EmbedMany | None = None) -> EmbedStats:
    """Embed the chunk contents ``hashes`` missing from the cache ``vs`` (the single writer).

    Args:
        texts_for: the text of each of a set of hashes.
        get_embedder: loads the model (only called when something is missing and ``embed_many`` is None).
        embed_many: where the batches run (default: ``embed_batches`` in this process).
    """
    t0 = time.monotonic()
    dm = vs.load(model_id)
    if dm is not None and hashes <= dm.index.keys():
        return EmbedStats(model_id, len(hashes), 0, len(hashes), time.monotonic() - t0, True)
    with vs.lock():
        dm = vs.load(model_id)  # another process may have embedded while we waited
        missing = hashes - (dm.index.keys() if dm is not None else set())
        cached = len(hashes) - len(missing)
        done = 0
        if missing:
            if embed_many is None:
                emb = get_embedder()
                if emb.model_id != model_id:
                    raise ConfigError(f"embedder {emb.model_id} does not match the configured model {model_id}")

                def embed_many(t: list[str], x: dict[str, str], n: int) -> Iterator[tuple[list[str], np.ndarray]]:
                    return embed_batches(emb, t, x, n)
            texts = texts_for(missing)
            todo = sorted(texts, key=lambda h: (len(texts[h]), h))  # similar lengths per batch: less padding
            progress("embed", 0, len(todo))
            pend_h: list[str] = []
            pend_v: list[np.ndarray] = []
            last_flush = time.monotonic()
            batches = iter(embed_many(todo, texts, cfg.embed_batch))  # lazy: stopping skips the rest
            while not should_stop():
                got = next(batches, None)
                if got is None:
                    break
                part, vecs = got
                pend_v.append(vecs)
                pend_h += part
                done += len(part)
                progress("embed", done, len(todo))
                if len(pend_h) >= 2048 or time.monotonic() - last_flush > 15:
                    vs.add(model_id, pend_h, np.vstack(pend_v))  # published: pack sees partial progress
                    pend_h, pend_v, last_flush = [], [], time.monotonic()
            if pend_h:
                vs.add(model_id, pend_h, np.vstack(pend_v))
            vs.finish(model_id)
    return EmbedStats(model_id, len(hashes), done, cached, time.monotonic() - t0, cached + done == len(hashes))


def _embed(store: IndexStore, snap: IndexSnapshot, cfg: Config, model_id: str, get_embedder: Callable[[], Embedder],
           progress: Progress, should_stop: Callable[[], bool]) -> EmbedStats:
    """Embed the snapshot's chunks missing from the cache (the model is loaded only if some are)."""
    hashes = {sp.content_hash for spans in snap.chunks.values() for sp in spans}
    return embed_missing(vector_store_for(store, cfg), cfg, model_id, hashes,
                         lambda m: store.chunk_texts(m, snap.manifest), get_embedder, progress, should_stop)


def embed_index(path: str | os.PathLike[str], cfg: Config, *, progress: Progress = _noop,
                should_stop: Callable[[], bool] | None = None, embedder: Embedder | None = None) -> EmbedStats:
    """Compute the dense lane: embed every indexed chunk not yet in the embedding cache.

    Vectors are published in batches, so ``pack`` uses them as they arrive. Stopping
    early (``should_stop``, Ctrl-C) keeps what was computed.

    Raises:
        IndexNotFound: no index yet (run ``build_index`` first).
        MissingDependency: no embedding backend installed.
        IndexLocked: another process kept the embedding lock too long.
    """
    root = _root(path)
    store = IndexStore(index_dir_for(root, cfg))
    snap = store.load()
    if not cfg.embed and embedder is None:
        raise ConfigError("embeddings are switched off (--no-embed or embed = false)")
    model_id = _dense_ref(cfg, embedder)
    if model_id is None:
        from .errors import MissingDependency

        raise MissingDependency("no embedding backend installed. Install: pip install 'ctxpack[embed]'")
    return _embed(store, snap, cfg, model_id, lambda: _embedder_for(cfg, embedder), progress,
                  should_stop or (lambda: False))


def _is_fresh(cfg: Config, snap: IndexSnapshot, cands: list[Candidate]) -> bool:
    """True when every candidate file has the size and mtime the index recorded."""
    if snap.manifest.encoding != cfg.encoding or snap.manifest.settings != _settings_key(cfg):
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


def open_repo(path: str | os.PathLike[str], cfg: Config, *, refresh: bool = True, progress: Progress = _noop,
              embedder: Embedder | None = None) -> Repo:
    """Load a repository's index, first bringing it up to date unless ``refresh`` is False.

    When nothing changed on disk this reads only the manifest and its snapshot cache
    (no database import); otherwise the index is updated under the write lock and
    loaded in the same critical section, so concurrent writers cannot mix states.

    Raises:
        IndexNotFound: ``refresh`` is False and there is no index.
        IndexLocked: another writer kept the lock too long.
    """
    root = _root(path)
    check_scope(root, cfg)  # before anything is written there
    store = IndexStore(index_dir_for(root, cfg))
    snap: IndexSnapshot | None = None
    if store.exists() or not refresh:
        try:
            snap = store.load()
        except (IndexOutdated, IndexCorrupt):
            if not refresh:
                raise
    seen: _Seen | None = None
    damage = store.damage(snap.manifest) if snap is not None else None
    if damage and refresh:
        log.warning("index damaged (%s); rebuilding it from the files", damage)
        _, snap = _locked_update(root, store, cfg, True, progress, load=True)
    elif damage:
        log.warning("index damaged (%s); answering from its last snapshot. Run: ctxpack index", damage)
    if refresh and snap is not None and not damage:
        seen = _Seen(snap, list_candidates(root, cfg, _index_excludes(root, store)))
    if refresh and not damage and (seen is None or not _is_fresh(cfg, seen.prior, seen.listed[0])):
        _, snap = _locked_update(root, store, cfg, False, progress, load=True, seen=seen)
    if snap is None:
        raise IndexNotFound(f"no index for {root}. Run: ctxpack index {root}")
    by_path = {p: defs for p, ss in snap.symbols.items() if (defs := [s for s in ss if s.kind == "def"])}
    ri = build_rank_index(snap.files, snap.file_terms, snap.symbols, read_history(root, store.dir) if cfg.history else None)
    return Repo(root, cfg, store, snap, ri, by_path, embedder)


def refresh_repo(repo: Repo, paths: Iterable[str] | None = None) -> Repo:
    """``repo`` brought up to date with the files on disk, in memory: no database read or write.

    With ``paths`` (repository-relative, e.g. from a file watcher) only those files are
    looked at, as long as each is already indexed and still an indexable regular file;
    otherwise, or without ``paths``, the whole tree is listed and compared by stat as
    ``build_index`` does. Changed files are parsed with the same stage as ``build_index``;
    the ranking index is patched when the set of files is the same, rebuilt otherwise.
    ``build_index`` persists the same state (its incremental update finds the same files).

    Returns:
        ``repo`` itself when nothing changed, else a new Repo (``repo`` stays usable).
    """
    snap = repo.snapshot
    to_read, removed, path_skips = _changed_candidates(repo, paths)
    sources, restat, unreadable = _read_changed(repo.root, to_read, snap.files, redact=repo.cfg.redact)
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
    parsed = [process_file(src, repo.cfg) for src in sources]
    files, file_terms, chunks = dict(snap.files), dict(snap.file_terms), dict(snap.chunks)
    by_path = dict(repo.symbols_by_path)
    for path in removed:
        for d in (files, file_terms, chunks, by_path):
            d.pop(path, None)
    for rec in restat:
        files[rec.path] = rec
    new_symbols: dict[str, list[Symbol]] = {}
    for p in parsed:
        path = p.row.record.path
        files[path] = p.row.record
        file_terms[path] = (list(p.row.terms), list(p.row.counts))
        chunks[path] = [ChunkSpan(c.id, c.start_line, c.end_line, c.tokens, c.content_hash, c.symbols) for c, _ in p.chunks]
        new_symbols[path] = list(p.symbols)
        by_path.pop(path, None)
        defs = [s for s in p.symbols if s.kind == "def"]
        if defs:
            by_path[path] = defs
    gone = set(removed) | new_symbols.keys()
    symbols = {p: ss for p, ss in snap.symbols.items() if p not in gone}
    symbols.update({p: tuple(ss) for p, ss in new_symbols.items() if ss})
    new_snap = IndexSnapshot(files, file_terms, symbols, chunks, replace(snap.manifest, skipped=skipped))
    ri = (None if removed else patch_rank_index(repo.rank_index, snap.file_terms, files, file_terms, new_symbols))
    if ri is None:
        # Files came or went: a commit or a checkout may be behind it, so look at the history again.
        ri = build_rank_index(files, file_terms, symbols, read_history(repo.root, repo.store.dir) if repo.cfg.history else None)
    return Repo(repo.root, repo.cfg, repo.store, new_snap, ri, by_path, repo.embedder, _redacted=repo._redacted,
                _clean_files=repo._clean_files, _skeletons={p: t for p, t in repo._skeletons.items() if p not in gone})


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


def _changed_candidates(repo: Repo, paths: Iterable[str] | None
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
    cands, path_skips = list_candidates(repo.root, repo.cfg, _index_excludes(repo.root, repo.store))
    to_read = _stat_changed(cands, known)
    return to_read, sorted(set(known) - {c.path for c in cands}), path_skips


def rank_for(repo: Repo, query: str, focus: tuple[str, ...] = (), *, dense: bool = True) -> list[RankedFile]:
    """Rank the repository's files for ``query`` (with the dense lane when ready and ``dense``)."""
    return _rank_with(repo, query, focus, _working(repo), dense=dense)


def _working(repo: Repo) -> WorkingChanges | None:
    """The uncommitted changes, when the ranking uses them."""
    w = repo.cfg.weights
    return working_changes(repo.root) if w.worktree or w.worktree_link else None


def _rank_with(repo: Repo, query: str, focus: tuple[str, ...], work: WorkingChanges | None, *,
               dense: bool = True) -> list[RankedFile]:
    query = _check_query(query)
    focus = resolve_focus(repo.root, repo.snapshot.files, focus)  # absolute or repo-relative; warns on the rest
    allowed = select_paths(repo.cfg, repo.snapshot.files)  # include/exclude (warns on an include matching nothing)
    sims = dense_scores(repo, query) if dense else None
    ranked = keep(rank(analyze_query(query), repo.rank_index, repo.cfg.weights, focus, sims,
                       work.files if work else None, work.names if work else ()), lambda r: r.path, allowed)
    return redact_reasons(ranked, repo.redact) if repo.cfg.redact else ranked


def _check_query(query: str) -> str:
    from .config import MAX_QUERY_CHARS

    if not query or not query.strip():
        raise ConfigError("empty query. Pass --query TEXT, --query-file FILE or text on stdin")
    if len(query) > MAX_QUERY_CHARS:
        raise ConfigError(f"query too long: {len(query)} characters. Use at most {MAX_QUERY_CHARS}")
    return query


def pack_for(repo: Repo, query: str, *, budget: int | None = None, fmt: str | None = None,
             focus: tuple[str, ...] = (), wait_embeddings: bool = False,
             ranked: list[RankedFile] | None = None, should_stop: Callable[[], bool] | None = None,
             on_file: Callable[[PackedFile], None] | None = None, diff: str | None = None) -> Pack:
    """Pack the context for ``query`` from a loaded repository.

    Args:
        repo: from ``open_repo``.
        query: the edit instruction.
        budget: token budget (default: the config's).
        fmt: output format (default: the config's).
        focus: files being edited.
        wait_embeddings: first embed what the dense lane is missing (else use what is ready).
        ranked: pack this ranking instead of ranking the files here (experiments, other rankers).
        should_stop: polled between stages and files; True abandons the work.
        on_file: called with each packed file, in order, as soon as it is decided (streaming).
        diff: the uncommitted diff to pack first (default: the repository's, with ``cfg.diff``).

    Returns:
        The Pack, rendered and counted.

    Raises:
        ConfigError: empty or oversized query, bad budget.
        BudgetError: budget below the output frame.
        Cancelled: ``should_stop`` said so.
    """
    cfg = repo.cfg
    budget = cfg.budget if budget is None else budget
    if not isinstance(budget, int) or budget <= 0:
        raise ConfigError(f"budget must be a positive integer: {budget!r}. Use e.g. --budget 32000")
    if wait_embeddings:
        lane = repo.dense_lane()
        if lane is None:
            raise ConfigError("--wait-embeddings needs the dense lane: install ctxpack[embed] and drop --no-embed")
        if lane.ready < lane.total:
            _embed(repo.store, repo.snapshot, cfg, lane.model_id, lambda: _embedder_for(cfg, repo.embedder), _noop,
                   lambda: False)
            repo.dense_lane(reload=True)
    work = _working(repo)
    if ranked is None:
        ranked = _rank_with(repo, query, focus, work)
    if should_stop is not None and should_stop():
        raise Cancelled("pack cancelled")
    counter = get_counter(cfg.encoding)
    man = repo.snapshot.manifest
    allowed = path_filter(cfg)
    records = repo.snapshot.files if allowed is None else {p: r for p, r in repo.snapshot.files.items() if allowed(p)}
    inputs = PackInputs(
        records=records,
        read_text=repo.read_text,
        chunks_for=repo.chunks_for,
        symbols_for=lambda p: repo.symbols_by_path.get(p, []),
        redact=repo.redact if cfg.redact else None,
        skeleton_for=repo.skeleton,
        should_stop=should_stop,
        changed_lines=work.files.get if work else None,
    )
    pack = pack_files(query=query, ranked=ranked, inputs=inputs, budget=budget, counter=counter,
                      fmt=fmt or cfg.format, skipped=man.skipped, repo_map=cfg.repo_map,
                      outline_share=cfg.outline_share, chunk_share=cfg.chunk_share, skeleton_share=cfg.skeleton_share,
                      map_share=cfg.map_share, size_exponent=cfg.size_exponent, on_file=on_file,
                      diff=diff if diff is not None else working_diff(repo.root) if cfg.diff else "")
    pack.lanes.update(repo.lanes())
    return pack


def stats_dict(stats: IndexStats) -> dict[str, object]:
    """IndexStats as a JSON-ready dict."""
    d = asdict(stats)
    d["skipped"] = [{"path": s.path, "reason": s.reason} for s in stats.skipped]
    return d


def search_chunks(path: str | os.PathLike[str], cfg: Config, query: str, k: int = 10,
                  progress: Progress = _noop, embedder: Embedder | None = None) -> list[tuple[Chunk, float]]:
    """Chunks of a (refreshed) index for a query: full-text (BM25) hits, fused with the
    dense lane's nearest chunks by reciprocal rank when that lane has vectors.

    Scores are BM25 scores for a lexical-only search, else fused RRF scores.
    """
    if k <= 0 or k > 1000:
        raise ConfigError(f"k must be between 1 and 1000: {k}")
    query = _check_query(query)
    repo = open_repo(path, cfg, progress=progress, embedder=embedder)
    return search_repo(repo, query, k)


def search_repo(repo: Repo, query: str, k: int = 10) -> list[tuple[Chunk, float]]:
    """``search_chunks`` on a loaded repository (the warm path a server uses); chunk texts are
    redacted as in a pack unless the config turns redaction off."""
    hits = _search_repo(repo, query, k)
    if not repo.cfg.redact:
        return hits
    return [(replace(c, text=repo.redact(c.path, c.text, c.start_line)[0]), s) for c, s in hits]


def _search_repo(repo: Repo, query: str, k: int) -> list[tuple[Chunk, float]]:
    allowed = select_paths(repo.cfg, repo.snapshot.files)
    lexical = repo.store.search_chunks(query, k * 3 if repo.dense_lane() or allowed is not None else k)
    lexical = keep(lexical, lambda hit: hit[0].path, allowed)
    lane = repo.dense_lane()
    if lane is None or lane.ready == 0:
        return lexical[:k]
    emb = _embedder_for(repo.cfg, repo.embedder)
    sims = lane.matrix @ emb.embed([query])[0]
    top = np.argsort(-sims, kind="stable")[: k * 3].tolist()
    fused: dict[tuple[str, int], float] = {}
    chunk_of: dict[tuple[str, int], Chunk] = {}
    for r, (c, _) in enumerate(lexical):
        key = (c.path, c.start_line)
        fused[key] = fused.get(key, 0.0) + 1.0 / (_RRF_K + r)
        chunk_of[key] = c
    for r, row in enumerate(top):
        path, start = lane.chunk[row]
        fused[(path, start)] = fused.get((path, start), 0.0) + 1.0 / (_RRF_K + r)
    missing = sorted({p for p, s in fused if (p, s) not in chunk_of})
    for c in repo.chunks_for(missing):
        chunk_of.setdefault((c.path, c.start_line), c)
    best = sorted((kv for kv in fused.items() if kv[0] in chunk_of and (allowed is None or kv[0][0] in allowed)),
                  key=lambda kv: (-kv[1], kv[0]))[:k]
    return [(chunk_of[key], round(score, 6)) for key, score in best]
