"""The only module that wires the stages: discover -> parse -> chunk -> store -> rank -> pack.

Public entry points: ``build_index``, ``embed_index``, ``open_repo``, ``rank_for``, ``pack_for``,
``search_chunks``. The stages they call live in ``index/``, ``embed/``, ``rank/``, ``pack/`` and ``search``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, index_dir_for, load_config
from .config import repo_root as _root
from .embed.lane import DenseHits, dense_hits, dense_ref, dense_scores, embedder_for, vector_store_for
from .embed.run import embed_snapshot
from .errors import Cancelled, ConfigError, IndexCorrupt, IndexNotFound, IndexOutdated
from .index.catalog import is_catalog, read_repo_list, select
from .index.discover import list_candidates
from .index.guard import check_scope
from .index.history import index_history, read_history, start_history
from .index.process import settings_key
from .index.secrets import redact_reasons
from .index.update import Seen, index_excludes, is_fresh, locked_update, stat_changed
from .index.worktree import WorkingChanges
from .index.worktree import diff_text as working_diff
from .models import (
    Chunk,
    EmbedStats,
    IndexStats,
    Pack,
    PackedFile,
    Progress,
    RankedFile,
    Redaction,
    Skipped,
    Symbol,
    no_progress,
)
from .pack.files import PackInputs, pack_files
from .pack.policy import PackPolicy
from .rank.filters import keep, path_filter, select_paths
from .rank.focus import resolve_focus
from .rank.index import RankIndex, build_rank_index, rank_from_state, rank_state, rank_state_key
from .rank.query import analyze_query, frame_lines
from .rank.score import rank
from .repo import Prepared, Repo, refresh_history, refresh_repo, stat_key
from .search import search_repo
from .store.cache import RANK_CACHE, cache_key, read_keyed, write_keyed
from .store.columns import IndexSnapshot
from .store.manifest import SCHEMA_VERSION, Manifest
from .store.tables import IndexStore
from .tokens import get_counter

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from .embed.backends import Embedder
    from .engines.run import IndexRun

__all__ = ["Prepared", "Progress", "Repo", "build_index", "check_query", "dense_backend_missing", "dense_scores",
           "embed_index", "index_dir_for", "index_many", "is_catalog", "open_repo", "pack_for", "pack_many",
           "persist_index", "rank_for", "read_repo_list", "refresh_history", "refresh_repo", "search_chunks",
           "search_repo", "select", "stat_key", "vector_store_for"]


def build_index(path: str | os.PathLike[str], cfg: Config, *, rebuild: bool = False,
                progress: Progress = no_progress) -> IndexStats:
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
    stats, _ = locked_update(root, store, cfg, rebuild, progress, load=False)
    return stats


def persist_index(root: Path, cfg: Config) -> tuple[dict[str, str], Manifest]:
    """Bring the on-disk index of ``root`` up to date (``build_index``); what it now holds
    (path -> content sha1) and its manifest (a warm server's worker persists its edits so)."""
    build_index(root, cfg)
    snap = IndexStore(index_dir_for(root, cfg)).load()
    return {p: r.sha1 for p, r in snap.files.items()}, snap.manifest


def embed_index(path: str | os.PathLike[str], cfg: Config, *, progress: Progress = no_progress,
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
    model_id = dense_ref(cfg, embedder)
    if model_id is None:
        from .errors import MissingDependency

        raise MissingDependency("no embedding backend installed. Install: pip install 'ctxpack[embed]'")
    return embed_snapshot(store, snap, cfg, model_id, lambda: embedder_for(cfg, embedder), progress,
                          should_stop or (lambda: False))


def open_repo(path: str | os.PathLike[str], cfg: Config, *, refresh: bool = True, progress: Progress = no_progress,
              embedder: Embedder | None = None, answer_first: bool = False) -> Repo:
    """Load a repository's index, first bringing it up to date unless ``refresh`` is False.

    When nothing changed on disk this reads only the manifest and its snapshot cache
    (no database import); otherwise the index is updated under the write lock and
    loaded in the same critical section, so concurrent writers cannot mix states.

    ``answer_first``: after a change of more than ``ANSWER_FIRST_ABOVE`` files (a checkout,
    a pull), bring the loaded index up to date in memory only, leaving the changed files
    no parse cache knows provisional (``Repo.provisional``: ``pack_for`` parses those it
    packs), and write nothing: the caller persists the index afterwards (``build_index``),
    as ``ctxpack pack`` does behind its answer. The on-disk index is then not updated here.

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
    seen: Seen | None = None
    damage = store.damage(snap.manifest) if snap is not None else None
    if damage and refresh:
        log.warning("index damaged (%s); rebuilding it from the files", damage)
        _, snap = locked_update(root, store, cfg, True, progress, load=True)
    elif damage:
        log.warning("index damaged (%s); answering from its last snapshot. Run: ctxpack index", damage)
    if refresh and snap is not None and not damage:
        seen = Seen(snap, list_candidates(root, cfg, index_excludes(root, store)))
    elif refresh and answer_first and not store.exists():  # a first run: the same, from an empty index
        seen = Seen(_empty_snapshot(cfg), list_candidates(root, cfg, index_excludes(root, store), progress))
    if refresh and not damage and (seen is None or not is_fresh(cfg, seen.prior, seen.listed[0])):
        if answer_first and seen is not None and _big_change(cfg, seen):
            return _in_memory(root, cfg, store, seen, embedder, progress)
        _, snap = locked_update(root, store, cfg, False, progress, load=True, seen=seen)
    if snap is None:
        raise IndexNotFound(f"no index for {root}. Run: ctxpack index {root}")
    ri = _saved_rank_index(store, snap)
    if cfg.history and (history := read_history(root, store.dir)) is not None:
        ri = replace(ri, hist=index_history(history, ri.paths))
    return Repo(root, cfg, store, snap, ri, embedder)


def save_rank_index(path: str | os.PathLike[str], cfg: Config) -> None:
    """Build the ranking index of the index on disk and save it beside its snapshot cache (``RANK_CACHE``), so
    the next cold pack loads it: what ``ctxpack index`` and the index written behind a pack's answer end with.

    Raises:
        IndexNotFound, IndexOutdated, IndexCorrupt: no usable index (as ``open_repo(refresh=False)``).
    """
    store = IndexStore(index_dir_for(_root(path), cfg))
    _saved_rank_index(store, store.load())


def _saved_rank_index(store: IndexStore, snap: IndexSnapshot) -> RankIndex:
    """The ranking index of ``snap`` without its history: the one saved beside the snapshot cache when it is
    of this snapshot and this code (``RANK_CACHE``), else built and saved (a cold ``pack`` skips the build)."""
    key = f"{cache_key(snap.manifest)} {rank_state_key()}"
    path = store.dir / RANK_CACHE
    state = read_keyed(path, key)
    ri = rank_from_state(state, snap.files, snap.symbols, snap.uses) if isinstance(state, dict) else None
    if ri is None:
        ri = build_rank_index(snap.files, snap.file_terms, snap.symbols, snap.uses)
        if store.dir.is_dir():
            write_keyed(path, key, rank_state(ri))
    return ri


ANSWER_FIRST_ABOVE = 64  # changed files above which ``open_repo(answer_first=True)`` answers before parsing
COMPLETE_TOP = 32  # ``pack_for`` parses the provisional files among this many best ranked (their chunks, skeletons)


def _big_change(cfg: Config, seen: Seen) -> bool:
    """True when the tree differs from the loaded index by more than ``ANSWER_FIRST_ABOVE`` files (by stat)
    and the index's settings are the ones asked for (else the update rebuilds: not a case for answering first)."""
    prior = seen.prior
    if prior.manifest.encoding != cfg.encoding or prior.manifest.settings != settings_key(cfg):
        return False
    return len(stat_changed(seen.listed[0], prior.files)) + len(set(prior.files) - {c.path for c in seen.listed[0]}) \
        > ANSWER_FIRST_ABOVE


def _empty_snapshot(cfg: Config) -> IndexSnapshot:
    """The snapshot of an index with no files yet, for ``cfg``'s settings."""
    return IndexSnapshot({}, {}, {}, {}, {},
                         Manifest(SCHEMA_VERSION, cfg.encoding, settings_key(cfg), "", {}, (), 0.0, 0))


def _in_memory(root: Path, cfg: Config, store: IndexStore, seen: Seen, embedder: Embedder | None,
               progress: Progress = no_progress) -> Repo:
    """The loaded index brought up to date in memory (``open_repo``'s answer_first); its ranking index built once."""
    if not store.exists() and not (store.dir / ".gitignore").exists():
        with store.lock():  # a first run: the index directory is made here (its parse cache and history live there)
            pass
    snap = seen.prior
    empty = build_rank_index({}, {}, {}, {})  # nothing to patch: ``refresh_repo`` builds it over the new files
    history = start_history(root, store.dir) if cfg.history else None  # git reads it while the files are read
    got = refresh_repo(Repo(root, cfg, store, snap, empty, embedder), lazy_above=ANSWER_FIRST_ABOVE,
                       listed=seen.listed, progress=progress, history=history)
    log.info("index update in memory (answer first): %d files not parsed yet; the index is written after the answer",
             len(got.provisional))
    if len(got.rank_index.paths) != len(got.snapshot.files):  # nothing indexable changed after all
        got = replace(got, rank_index=build_rank_index(got.snapshot.files, got.snapshot.file_terms,
                                                       got.snapshot.symbols, got.snapshot.uses,
                                                       history() if history else None))
    return got


def rank_for(repo: Repo, query: str, focus: tuple[str, ...] = (), *, dense: bool = True) -> list[RankedFile]:
    """Rank the repository's files for ``query`` (with the dense lane when ready and ``dense``)."""
    return _rank_with(repo, query, focus, _working(repo), dense=dense)


def _working(repo: Repo) -> WorkingChanges | None:
    """The uncommitted changes, when the ranking uses them."""
    w = repo.cfg.weights
    return repo.working_changes() if w.worktree or w.worktree_link else None


def _rank_with(repo: Repo, query: str, focus: tuple[str, ...], work: WorkingChanges | None, *,
               dense: bool = True, hits: DenseHits | None = None) -> list[RankedFile]:
    query = check_query(query)
    focus = resolve_focus(repo.root, repo.snapshot.files, focus)  # absolute or repo-relative; warns on the rest
    allowed = select_paths(repo.cfg, repo.snapshot.files)  # include/exclude (warns on an include matching nothing)
    if hits is None and dense:
        hits = dense_hits(repo, query)
    sims = hits.files() if hits is not None and dense else None
    ranked = keep(rank(analyze_query(query), repo.rank_index, repo.cfg.weights, focus, sims,
                       work.files if work else None, work.names if work else ()), lambda r: r.path, allowed)
    return redact_reasons(ranked, repo.redact) if repo.cfg.redact else ranked


def check_query(query: str) -> str:
    """``query`` itself when it is a usable instruction.

    Raises:
        ConfigError: empty or longer than ``config.MAX_QUERY_CHARS``.
    """
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
            embed_snapshot(repo.store, repo.snapshot, cfg, lane.model_id, lambda: embedder_for(cfg, repo.embedder),
                           no_progress, lambda: False)
            repo.dense_lane(reload=True)
    work = _working(repo)
    hits = dense_hits(repo, check_query(query))  # ranks files here, and regions of the files packed in part
    if ranked is None:
        ranked = _rank_with(repo, query, focus, work, hits=hits)
        for _ in range(2):  # files not parsed yet (``open_repo``'s answer_first) are parsed when they rank high
            done = repo.completed(r.path for r in ranked[:COMPLETE_TOP])
            if done is repo:
                break
            log.info("parsed %d files for this pack (of those not parsed yet)",
                     len(repo.provisional) - len(done.provisional))
            repo = done
            ranked = _rank_with(repo, query, focus, work, hits=hits)
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
        region_sims=hits.regions if hits is not None else None,
        term_weight=repo.rank_index.term_weight,
        frame_lines=functools.partial(frame_lines, frames) if (frames := analyze_query(query).frames) else None,
        expect_chunks=repo.expect_chunks if repo.provisional else None,
    )
    try:
        pack = pack_files(query=query, ranked=ranked, inputs=inputs, budget=budget, counter=counter,
                          fmt=fmt or cfg.format, skipped=man.skipped, policy=PackPolicy.from_config(cfg),
                          on_file=on_file, diff=diff if diff is not None else working_diff(repo.root) if cfg.diff else "")
    finally:
        repo.end_ahead()
    return replace(pack, lanes=repo.lanes())


def search_chunks(path: str | os.PathLike[str], cfg: Config, query: str, k: int = 10,
                  progress: Progress = no_progress, embedder: Embedder | None = None) -> list[tuple[Chunk, float]]:
    """Chunks of a (refreshed) index for a query: full-text (BM25) hits, fused with the
    dense lane's nearest chunks by reciprocal rank when that lane has vectors.

    Scores are BM25 scores for a lexical-only search, else fused RRF scores.
    """
    if k <= 0 or k > 1000:
        raise ConfigError(f"k must be between 1 and 1000: {k}")
    query = check_query(query)
    repo = open_repo(path, cfg, progress=progress, embedder=embedder)
    return search_repo(repo, query, k)


def pack_many(repos: dict[str, Any], query: str, *, budget: int | None = None, fmt: str | None = None,
              focus: tuple[str, ...] = ()) -> Pack:
    """Pack the context for ``query`` from several loaded repositories (a multi-repository index).

    Each repository is ranked alone; the lists are merged by score (then path), and
    every path is prefixed with the repository's name (``name/path``). ``focus`` paths
    are given the same way.

    Raises:
        ConfigError, BudgetError: as ``pipeline.pack_for``.
    """
    query = check_query(query)
    names = sorted(repos)
    cfg: Config = repos[names[0]].cfg
    budget = cfg.budget if budget is None else budget
    if not isinstance(budget, int) or budget <= 0:
        raise ConfigError(f"budget must be a positive integer: {budget!r}. Use e.g. --budget 32000")

    def split(path: str) -> tuple[Any, str]:
        name, _, rel = path.partition("/")
        return repos[name], rel

    ranked: list[RankedFile] = []
    for n in names:
        own = tuple(f.partition("/")[2] for f in focus if f.partition("/")[0] == n)
        ranked += [replace(r, path=f"{n}/{r.path}") for r in rank_for(repos[n], query, own)]
    ranked.sort(key=lambda r: (-r.score, r.path))
    allowed = {n: path_filter(repos[n].cfg) for n in names}  # include/exclude, as rank_for applied them
    records = {f"{n}/{p}": replace(rec, path=f"{n}/{p}") for n in names for p, rec in repos[n].snapshot.files.items()
               if allowed[n] is None or allowed[n](p)}

    def chunks_for(paths: list[str]) -> list[Chunk]:
        out: list[Chunk] = []
        for p in paths:
            repo, rel = split(p)
            out += [replace(c, path=p) for c in repo.chunks_for([rel])]
        return out

    def symbols_for(p: str) -> list[Symbol]:
        repo, rel = split(p)
        return [replace(s, path=p) for s in repo.symbols_by_path.get(rel, [])]

    def read_text(p: str) -> str | None:
        repo, rel = split(p)
        return repo.read_text(rel)  # type: ignore[no-any-return]

    def redact(p: str, text: str, first: int) -> tuple[str, tuple[Redaction, ...]]:
        repo, rel = split(p)
        red, found = repo.redact(rel, text, first)
        return red, tuple(replace(r, path=p) for r in found)

    skipped = tuple(Skipped(f"{n}/{s.path}", s.reason) for n in names for s in repos[n].snapshot.manifest.skipped)
    inputs = PackInputs(records=records, read_text=read_text, chunks_for=chunks_for, symbols_for=symbols_for,
                        redact=redact if cfg.redact else None)
    pack = pack_files(query=query, ranked=ranked, inputs=inputs, budget=budget, counter=get_counter(cfg.encoding),
                      fmt=fmt or cfg.format, skipped=skipped, policy=PackPolicy.from_config(cfg))
    lanes = [repos[n].lanes() for n in names]
    dense = [ln["dense"] for ln in lanes]
    commits = sum(ln["history"] for ln in lanes if ln["history"] is not False)
    return replace(pack, lanes={"lexical": True, "dense": True if all(d is True for d in dense) else
                                False if all(d is False for d in dense) else "partial",
                                "history": commits if any(ln["history"] is not False for ln in lanes) else False})


def index_many(roots: list[Path], engine: str = "local", *, address: str | None = None, workers: int | None = None,
               catalog: bool = False, rebuild: bool = False, progress: Progress = no_progress,
               **overrides: Any) -> IndexRun:
    """Index with an engine (issue 7): one repository in its own index, or several into the
    multi-repository index at ``overrides["index_dir"]`` (always so with ``catalog``).

    Args:
        roots: repository roots.
        engine: "local" or "ray" (``address``, ``workers``: where and how wide Ray runs).
        catalog: write a multi-repository index even for one repository.
        rebuild: ignore existing indexes.
        progress: called as ``progress(stage, done, total)``.
        overrides: settings, as for ``config.load_config``.

    Raises:
        ConfigError: bad engine options, several repositories without an index directory, not a directory.
        MissingDependency: ``ray`` without the ``ctxpack[ray]`` extra.
        IndexLocked: another process is writing one of the indexes.
    """
    from .engines.base import Target
    from .engines.local import make_engine
    from .engines.run import index_targets
    from .index.catalog import targets_for

    index_dir = overrides.get("index_dir")
    eng = make_engine(engine, address, workers)
    start = getattr(eng, "start", None)
    if start is not None:
        start()  # before lancedb is imported (Ray forks its processes)
    try:
        if len(roots) > 1 or catalog:
            if not index_dir:
                raise ConfigError("several repositories need --index-dir DIR (the multi-repository index)")
            targets = targets_for(index_dir, roots, **{k: v for k, v in overrides.items() if k != "index_dir"})
        else:
            root = roots[0]
            if not root.is_dir():
                raise ConfigError(f"not a directory: {root}. Pass the repository root")
            targets = [Target(root.resolve().name, root.resolve(), load_config(str(root), **overrides))]
        return index_targets(targets, eng, rebuild=rebuild, progress=progress)
    finally:
        eng.close()


def dense_backend_missing(cfg: Config) -> bool:
    """True when the dense lane is off only because no embedding backend is installed
    (and the bundled default model was asked for): worth a hint, not an error."""
    from .embed.backends import DEFAULT_MODEL, dense_available

    return not dense_available() and cfg.model == DEFAULT_MODEL
