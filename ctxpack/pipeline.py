"""The only module that wires the stages: discover -> parse -> chunk -> store -> rank -> pack.

Public entry points: ``build_index``, ``embed_index``, ``open_repo``, ``rank_for``, ``pack_for``,
``search_chunks``. The stages they call live in ``index/``, ``embed/``, ``rank/``, ``pack/`` and ``search``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from .config import Config, index_dir_for
from .config import repo_root as _root
from .embed.lane import dense_ref, dense_scores, embedder_for, vector_store_for
from .embed.run import embed_snapshot
from .errors import Cancelled, ConfigError, IndexCorrupt, IndexNotFound, IndexOutdated
from .index.discover import list_candidates
from .index.history import read_history
from .index.repo import Prepared, Repo, refresh_history, refresh_repo, stat_key
from .index.update import Seen, index_excludes, is_fresh, locked_update
from .models import Chunk, EmbedStats, IndexStats, Pack, PackedFile, Progress, RankedFile, no_progress
from .pack.files import PackInputs, pack_files
from .pack.policy import PackPolicy
from .rank.index import build_rank_index
from .rank.query import analyze_query
from .rank.score import rank
from .search import search_repo
from .store.columns import IndexSnapshot
from .store.tables import IndexStore
from .tokens import get_counter

if TYPE_CHECKING:
    from .embed.backends import Embedder

__all__ = ["Prepared", "Progress", "Repo", "build_index", "check_query", "dense_scores", "embed_index", "index_dir_for",
           "open_repo", "pack_for", "rank_for", "refresh_history", "refresh_repo", "search_chunks", "search_repo",
           "stat_key", "stats_dict", "vector_store_for"]


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
    store = IndexStore(index_dir_for(root, cfg))
    stats, _ = locked_update(root, store, cfg, rebuild, progress, load=False)
    return stats


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
    store = IndexStore(index_dir_for(root, cfg))
    snap: IndexSnapshot | None = None
    if store.exists() or not refresh:
        try:
            snap = store.load()
        except (IndexOutdated, IndexCorrupt):
            if not refresh:
                raise
    seen: Seen | None = None
    if refresh and snap is not None:
        seen = Seen(snap, list_candidates(root, cfg, index_excludes(root, store)))
    if refresh and (seen is None or not is_fresh(cfg, seen.prior, seen.listed[0])):
        _, snap = locked_update(root, store, cfg, False, progress, load=True, seen=seen)
    if snap is None:
        raise IndexNotFound(f"no index for {root}. Run: ctxpack index {root}")
    by_path = {p: defs for p, ss in snap.symbols.items() if (defs := [s for s in ss if s.kind == "def"])}
    ri = build_rank_index(snap.files, snap.file_terms, snap.symbols, read_history(root, store.dir) if cfg.history else None)
    return Repo(root, cfg, store, snap, ri, by_path, embedder)


def rank_for(repo: Repo, query: str, focus: tuple[str, ...] = (), *, dense: bool = True) -> list[RankedFile]:
    """Rank the repository's files for ``query`` (with the dense lane when ready and ``dense``)."""
    query = check_query(query)
    sims = dense_scores(repo, query) if dense else None
    return rank(analyze_query(query), repo.rank_index, repo.cfg.weights, focus, sims)


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
             on_file: Callable[[PackedFile], None] | None = None) -> Pack:
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
    if ranked is None:
        ranked = rank_for(repo, query, focus)
    if should_stop is not None and should_stop():
        raise Cancelled("pack cancelled")
    counter = get_counter(cfg.encoding)
    man = repo.snapshot.manifest
    inputs = PackInputs(
        records=repo.snapshot.files,
        read_text=repo.read_text,
        chunks_for=repo.chunks_for,
        symbols_for=lambda p: repo.symbols_by_path.get(p, []),
        redact=repo.redact if cfg.redact else None,
        skeleton_for=repo.skeleton,
        should_stop=should_stop,
    )
    pack = pack_files(query=query, ranked=ranked, inputs=inputs, budget=budget, counter=counter,
                      fmt=fmt or cfg.format, skipped=man.skipped, policy=PackPolicy.from_config(cfg), on_file=on_file)
    return replace(pack, lanes=repo.lanes())


def stats_dict(stats: IndexStats) -> dict[str, object]:
    """IndexStats as a JSON-ready dict."""
    d = asdict(stats)
    d["skipped"] = [{"path": s.path, "reason": s.reason} for s in stats.skipped]
    return d


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
