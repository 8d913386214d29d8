"""``RankIndex``: postings, definition maps and the file graph of one index snapshot, built once."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from ..index.history import History, HistoryIndex, index_history
from ..languages import is_code
from ..models import FileRecord, Symbol, Uses
from ..terms import terms
from .paths import is_aux_path, is_test_path

if TYPE_CHECKING:
    from .static import StaticScores

__all__ = ["POSTING_SHIFT", "PathParts", "RankIndex", "build_rank_index", "edge_weight", "indegree_scale",
           "out_links", "path_parts", "posting", "rank_from_state", "rank_state", "rank_state_key"]

_COMMON_DEF_FILES = 8  # a name defined in more files than this carries no graph edge
_PRIVATE_NAME_WEIGHT = 0.1  # hand-set: a reference to a _private name links files at this weight (public: 1)


@dataclass(slots=True)
class RankIndex:
    """Ranking structures derived from one index snapshot (built once, patched per edit, reused).

    Never mutated once built: ``patch_rank_index`` returns a new one that shares what did
    not change, so requests can keep ranking on the old one meanwhile.
    """

    paths: list[str]
    records: dict[str, FileRecord]
    postings: dict[str, np.ndarray]  # term -> its postings, file index << 32 | tf, ascending (see posting)
    doc_len: list[int]
    avg_len: float
    defs_by_name: dict[str, list[int]]  # exact name -> files defining it (ascending)
    defs_by_lower: dict[str, list[int]]
    def_symbols: dict[int, Sequence[Symbol]]  # the snapshot's definitions of each file (its tuples)
    stems: dict[str, list[int]]  # lowercased file stem -> files
    edges: dict[int, dict[int, float]]  # undirected weighted adjacency, derived from ``links``
    edge_names: dict[tuple[int, int], list[str]]  # (user, definer) -> names linking them
    indegree: list[float]  # log(1 + distinct files that use this file), scaled to [0, 1]
    path_terms: list[frozenset[str]]  # terms of each path
    kind: list[str]  # "code", "text", "test" or "aux": what the priors look at
    # What an incremental patch needs: each file's references, who references a name, how
    # imports resolve, and each file's outgoing link weights and its number of users.
    uses: dict[int, Uses] = field(default_factory=dict)  # file -> its references (the snapshot's Uses)
    users: dict[str, set[int]] = field(default_factory=dict)  # name -> files referencing it (not imports)
    modules: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})  # (module path suffix, dir suffix) -> files
    links: dict[int, dict[int, float]] = field(default_factory=dict)  # user -> {definer: weight}
    user_count: list[int] = field(default_factory=list)
    hist: HistoryIndex | None = None  # the git history at HEAD over these files (None without one)
    static_cache: dict[tuple[object, ...], StaticScores] = field(default_factory=dict)
    walk_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (sources, targets, transition weights)
    term_arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # see bm25._postings_of
    doc_len_array: np.ndarray | None = None  # doc_len as an array
    path_index: dict[str, np.ndarray] | None = None  # path term -> files whose path has it

    def term_weight(self, term: str) -> float:
        """A term's BM25 idf over the files (a term no file has: the highest)."""
        from .bm25 import bm25_idf

        return bm25_idf(len(self.paths), len(self.postings.get(term, ())))


POSTING_SHIFT = 32  # a posting is one int64: file index in the high bits, term frequency in the low


def posting(i: int, tf: int) -> int:
    return (i << POSTING_SHIFT) | tf


def _module_suffixes(name: str) -> list[str]:
    """Path suffixes an import string may resolve to."""
    name = name.strip().strip("\"'<>;")
    if not name:
        return []
    out = []
    if "/" in name or name.startswith("."):
        out.append(name.lstrip("./").rsplit(".", 1)[0] if "." in PurePosixPath(name).name else name.lstrip("./"))
    if "::" in name:
        out.append(name.replace("::", "/").replace("crate/", "").replace("self/", "").replace("super/", ""))
    if "." in name and "/" not in name:
        out.append(name.lstrip(".").replace(".", "/"))
    if "\\" in name:
        out.append(name.replace("\\", "/"))
    out.append(name.split("/")[-1].split(".")[-1].split("::")[-1])
    return [o for o in dict.fromkeys(out) if o]


def _parts(path: str) -> tuple[str, str]:
    """(parent folder, "" at the top; file name without its last suffix): ``PurePosixPath``'s
    ``parent`` and ``stem`` of a repository-relative path, without building one (thousands per index)."""
    parent, _, name = path.rpartition("/")
    dot = name.rfind(".")
    return parent, name[:dot] if 0 < dot < len(name) - 1 else name


def out_links(i: int, uses: Uses, defs_by_name: dict[str, list[int]],
              modules: tuple[dict[str, list[int]], dict[str, list[int]]]
              ) -> tuple[dict[int, float], dict[int, list[str]]]:
    """File ``i``'s outgoing graph links: {definer: weight} and the (first three) names behind each."""
    by_noext, by_dir = modules
    weights: dict[int, float] = {}
    names: dict[int, list[str]] = {}

    def link(b: int, w: float, name: str) -> None:
        if b == i:
            return
        weights[b] = weights.get(b, 0.0) + w
        got = names.setdefault(b, [])
        if len(got) < 3 and name not in got:
            got.append(name)

    # A name used n times links with n times its weight (``uses`` counts each (name, is import) once,
    # in first-use order: a file repeats its names ~5x on average).
    for name, is_import, n in uses:
        if is_import:
            for suf in _module_suffixes(name):
                targets = by_noext.get(suf) or (by_dir.get(suf) if "/" in suf else None) or []
                if 0 < len(targets) <= _COMMON_DEF_FILES:
                    for t in targets:
                        link(t, n / len(targets), name)
                    break
            continue
        targets = defs_by_name.get(name)
        if not targets or len(targets) > _COMMON_DEF_FILES:
            continue
        w = n * (_PRIVATE_NAME_WEIGHT if name.startswith("_") else 1.0) / len(targets)
        for t in targets:
            link(t, w, name)
    return weights, names


def edge_weight(links: dict[int, dict[int, float]], a: int, b: int) -> float:
    """Weight of a -> b in the undirected graph: a uses b fully, b is used by a at half weight."""
    return links.get(a, {}).get(b, 0.0) + 0.5 * links.get(b, {}).get(a, 0.0)


def indegree_scale(user_count: list[int]) -> list[float]:
    top = math.log1p(max(user_count, default=0)) or 1.0
    return [math.log1p(c) / top for c in user_count]


def _postings(per_file: list[tuple[list[str], list[int]]]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Each term's postings (files ascending) and each file's length, from every file's term counts.

    One flat pass in C-level calls: every (term, count) pair of the index is read once, terms
    numbered in first-seen order, then one sort groups them (one array view per term).
    """
    lens = np.fromiter((len(cs) for _, cs in per_file), dtype=np.int64, count=len(per_file))
    all_terms = list(chain.from_iterable(ts for ts, _ in per_file))
    counts = np.fromiter(chain.from_iterable(cs for _, cs in per_file), dtype=np.int64, count=len(all_terms))
    term_id = dict.fromkeys(all_terms)  # first-seen order
    for k, t in enumerate(term_id):
        term_id[t] = k
    tid_arr = np.fromiter(map(term_id.__getitem__, all_terms), dtype=np.int64, count=len(all_terms))
    file_arr = np.repeat(np.arange(len(per_file), dtype=np.int64), lens)
    code_arr = (file_arr << POSTING_SHIFT) | counts
    doc_len = np.bincount(file_arr, weights=counts, minlength=len(per_file)).astype(np.int64).tolist()
    order = np.lexsort((code_arr, tid_arr))
    code_arr = code_arr[order]
    bounds = np.searchsorted(tid_arr[order], np.arange(len(term_id) + 1))
    return {t: code_arr[bounds[k]:bounds[k + 1]] for t, k in term_id.items()}, doc_len


@dataclass(frozen=True, slots=True)
class PathParts:
    """What a ranking index takes from its files' paths and the history alone (``path_parts``):
    a first run computes it while the workers read the files' terms."""

    paths: list[str]  # sorted
    stems: dict[str, list[int]]
    modules: tuple[dict[str, list[int]], dict[str, list[int]]]  # import resolution: paths without extension, dirs
    path_terms: list[frozenset[str]]
    kind: list[str]
    history: History | None
    hist: HistoryIndex | None


def path_parts(paths: list[str], history: History | None = None) -> PathParts:
    """The parts of ``build_rank_index`` over the sorted ``paths`` that need no file's content."""
    stems: dict[str, list[int]] = defaultdict(list)
    by_noext: dict[str, list[int]] = defaultdict(list)
    by_dir: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(paths):
        parent, stem = _parts(p)
        stems[stem.lower()].append(i)
        parts = [*parent.split("/"), stem] if parent else [stem]
        for k in range(len(parts)):
            by_noext["/".join(parts[k:])].append(i)
        dparts = parent.split("/") if parent else []
        for k in range(len(dparts)):
            by_dir["/".join(dparts[k:])].append(i)
    path_terms = [frozenset(terms(p.replace("/", " ").replace(".", " "))) for p in paths]
    kind = ["text" if not is_code(p) else "test" if is_test_path(p) else "aux" if is_aux_path(p) else "code"
            for p in paths]
    return PathParts(paths, dict(stems), (dict(by_noext), dict(by_dir)), path_terms, kind, history,
                     index_history(history, paths) if history else None)


def build_rank_index(records: dict[str, FileRecord], file_terms: dict[str, tuple[list[str], list[int]]],
                     symbols: Mapping[str, Sequence[Symbol]], uses: Mapping[str, Uses],
                     history: History | None = None, parts: PathParts | None = None) -> RankIndex:
    """Build postings, definition maps, the file graph and the history signals from an index snapshot
    (its records, term counts, definitions and references).

    The result depends only on the snapshot's content (and the history), not on the order of its rows.
    ``parts``: ``path_parts`` computed ahead (used when of these paths and this history).
    """
    paths = sorted(records)
    if parts is None or parts.history is not history or parts.paths != paths:
        parts = path_parts(paths, history)
    idx = {p: i for i, p in enumerate(paths)}
    postings, doc_len = _postings([file_terms.get(p, ([], [])) for p in paths])
    avg = (sum(doc_len) / len(doc_len)) if doc_len else 1.0

    def_symbols, file_uses = _by_file(idx, symbols, uses)
    names: dict[str, set[int]] = defaultdict(set)
    lowers: dict[str, set[int]] = defaultdict(set)
    users: dict[str, set[int]] = defaultdict(set)
    for i in sorted(def_symbols.keys() | file_uses.keys()):
        for s in def_symbols.get(i, ()):
            names[s.name].add(i)
            lowers[s.name.lower()].add(i)
        for name, is_import, _ in file_uses.get(i, ()):
            if not is_import:
                users[name].add(i)
    defs_by_name = {k: sorted(v) for k, v in names.items()}
    defs_by_lower = {k: sorted(v) for k, v in lowers.items()}

    modules = parts.modules

    links: dict[int, dict[int, float]] = {}
    edge_names: dict[tuple[int, int], list[str]] = {}
    user_count = [0] * len(paths)
    for i, used in file_uses.items():
        out, why = out_links(i, used, defs_by_name, modules)
        if out:
            links[i] = out
            for b in out:
                edge_names[(i, b)] = why[b]
                user_count[b] += 1
    edges: dict[int, dict[int, float]] = defaultdict(dict)
    for a, out in links.items():
        for b in out:
            edges[a][b] = edge_weight(links, a, b)
            edges[b][a] = edge_weight(links, b, a)
    return RankIndex(paths, records, postings, doc_len, avg, defs_by_name, defs_by_lower, def_symbols,
                     parts.stems, dict(edges), edge_names, indegree_scale(user_count), parts.path_terms, parts.kind,
                     file_uses, dict(users), modules, links, user_count, parts.hist)


def _by_file(idx: dict[str, int], symbols: Mapping[str, Sequence[Symbol]], uses: Mapping[str, Uses]
             ) -> tuple[dict[int, Sequence[Symbol]], dict[int, Uses]]:
    """The definitions and the references of the indexed files (``idx``: path -> file), by file, in file order."""
    defs = {idx[p]: ss for p, ss in symbols.items() if ss and p in idx}
    used = {idx[p]: us for p, us in uses.items() if us and p in idx}
    return dict(sorted(defs.items())), dict(sorted(used.items()))


# The fields a saved ranking index keeps as they are (the rest: postings flattened, symbols and
# records taken from the snapshot it is loaded with, the history and the query caches left out).
_KEPT = ("paths", "doc_len", "avg_len", "defs_by_name", "defs_by_lower", "stems", "edges", "edge_names", "indegree",
         "kind", "users", "modules", "links", "user_count")


def rank_state_key() -> str:
    """What a saved ranking index depends on besides the snapshot: the code that builds it."""
    import hashlib
    import sys

    digest = hashlib.blake2b(digest_size=16)
    for name in (__name__, "ctxpack.rank.paths", "ctxpack.terms", "ctxpack.languages"):
        with open(sys.modules[name].__file__ or "", "rb") as fh:  # all imported by this module
            digest.update(fh.read())
    return digest.hexdigest()


def rank_state(ri: RankIndex) -> dict[str, object]:
    """``ri`` as plain values to save (``rank_from_state`` rebuilds it; the history is not kept)."""
    lens = np.fromiter((len(a) for a in ri.postings.values()), dtype=np.int64, count=len(ri.postings))
    flat = np.concatenate(list(ri.postings.values())) if ri.postings else np.zeros(0, dtype=np.int64)
    return {**{k: getattr(ri, k) for k in _KEPT}, "terms": list(ri.postings), "lens": lens, "flat": flat,
            "path_terms": [tuple(sorted(t)) for t in ri.path_terms]}


def rank_from_state(state: dict[str, object], records: dict[str, FileRecord],
                    symbols: Mapping[str, Sequence[Symbol]], uses: Mapping[str, Uses]) -> RankIndex | None:
    """The ranking index ``rank_state`` saved, over the snapshot it was built from (``records``,
    ``symbols``, ``uses``); None when ``state`` is not of these files."""
    paths = state.get("paths")
    if not isinstance(paths, list) or paths != sorted(records):
        return None
    flat, lens, names = state["flat"], state["lens"], state["terms"]
    bounds = np.concatenate(([0], np.cumsum(lens)))  # type: ignore[arg-type]
    postings = {t: flat[bounds[k]:bounds[k + 1]] for k, t in enumerate(names)}  # type: ignore[arg-type,index]
    def_symbols, file_uses = _by_file({p: i for i, p in enumerate(paths)}, symbols, uses)
    kept = {k: state[k] for k in _KEPT}
    return RankIndex(records=records, postings=postings, def_symbols=def_symbols, uses=file_uses,
                     path_terms=[frozenset(t) for t in state["path_terms"]], **kept)  # type: ignore[arg-type,union-attr]
