"""Score every file for an instruction and say why.

Signals, fused into one score per file (weights in ``RankWeights``):

* BM25 over each file's code-aware terms (content, path and symbol names);
* exact mentions: identifiers the file defines, its path or basename, its stem,
  stack-trace frames pointing into it;
* the symbol graph: a personalized PageRank from the best lexical files along
  reference -> definition and import edges, in both directions, so definitions a top
  file uses and callers of what it defines rise too;
* git history (when the repository has one): how recently each file changed, and the
  files that changed together with the best direct matches in past commits;
* priors: test files and docs are context, not edit targets, unless the query asks.
"""

from __future__ import annotations

import bisect
import math
import re
from array import array
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from .config import RankWeights
from .history import History, HistoryIndex, index_history
from .languages import is_code
from .models import FileRecord, RankedFile, Symbol
from .query import QueryInfo
from .terms import terms
from .wtsignal import add_worktree_features

__all__ = ["FEATURES", "MODEL_INPUTS", "RankIndex", "model_inputs", "relevance", "build_rank_index", "patch_rank_index", "is_aux_path", "is_test_path", "rank", "warm"]

_TEST_RE = re.compile(r"(^|/)(tests?|spec|specs|__tests__|testing|testdata|fixtures?)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$|(^|/)[^/]*Tests?\.[a-z]+$|(^|/)conftest\.py$")
_AUX_RE = re.compile(r"(^|/)(examples?|samples?|demos?|benches|benchmarks?|tutorials?)/")
_DETAILED = 1_000  # best files that keep their feature breakdown in the result (all, in most repositories)
_BM25_K1 = 1.2
_BM25_B = 0.75
_COMMON_DEF_FILES = 8
_DENSE_TOP = 10  # files whose dense rank is a feature  # a name defined in more files than this carries no graph edge
_COCHANGE_SEEDS = 10  # best direct matches whose past co-changes count
_PAST_EDITS = 10  # past commits whose message matches the query best lend their files a feature


def is_test_path(path: str) -> bool:
    """True for test files and fixtures (by path convention)."""
    return bool(_TEST_RE.search(path))


def is_aux_path(path: str) -> bool:
    """True for examples, benchmarks and documentation folders."""
    return bool(_AUX_RE.search(path))


@dataclass(slots=True)
class RankIndex:
    """Ranking structures derived from one index snapshot (built once, patched per edit, reused).

    Never mutated once built: ``patch_rank_index`` returns a new one that shares what did
    not change, so requests can keep ranking on the old one meanwhile.
    """

    paths: list[str]
    records: dict[str, FileRecord]
    postings: dict[str, np.ndarray]  # term -> its postings, file index << 32 | tf, ascending (see _posting)
    doc_len: list[int]
    avg_len: float
    defs_by_name: dict[str, list[int]]  # exact name -> files defining it (ascending)
    defs_by_lower: dict[str, list[int]]
    def_symbols: dict[int, list[Symbol]]
    stems: dict[str, list[int]]  # lowercased file stem -> files
    edges: dict[int, dict[int, float]]  # undirected weighted adjacency, derived from ``links``
    edge_names: dict[tuple[int, int], list[str]]  # (user, definer) -> names linking them
    indegree: list[float]  # log(1 + distinct files that use this file), scaled to [0, 1]
    path_terms: list[frozenset[str]]  # terms of each path
    kind: list[str]  # "code", "text", "test" or "aux": what the priors look at
    # What an incremental patch needs: each file's references, who references a name, how
    # imports resolve, and each file's outgoing link weights and its number of users.
    refs: dict[int, list[Symbol]] = field(default_factory=dict)  # file -> its references (non-definition symbols)
    users: dict[str, set[int]] = field(default_factory=dict)  # name -> files referencing it (not imports)
    modules: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})  # (module path suffix, dir suffix) -> files
    links: dict[int, dict[int, float]] = field(default_factory=dict)  # user -> {definer: weight}
    user_count: list[int] = field(default_factory=list)
    hist: HistoryIndex | None = None  # the git history at HEAD over these files (None without one)
    static_cache: dict[tuple[object, ...], _Static] = field(default_factory=dict)
    _walk: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (sources, targets, transition weights)
    _term_arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # see _postings_of
    _doc_len: np.ndarray | None = None  # doc_len as an array
    _path_index: dict[str, np.ndarray] | None = None  # path term -> files whose path has it


_STATIC_INPUTS = (6, 7, 8, 9, 10, 15, 16)  # MODEL_INPUTS that do not depend on the query (file traits)


@dataclass(slots=True)
class _Static:
    """Per file, for one set of weights and priors: what ranking computes when the query says nothing about it."""

    scores: list[float]  # relevance with no query evidence
    values: list[float]  # the same, as reported (6 significant digits)
    files: list[RankedFile]  # the result entry of a file with no query evidence
    inputs: np.ndarray  # (files, len(_STATIC_INPUTS)): the query-free model inputs
    prior: np.ndarray  # the prior of each file's kind


_SHIFT = 32  # a posting is one int64: file index in the high bits, term frequency in the low


def _posting(i: int, tf: int) -> int:
    return (i << _SHIFT) | tf


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


def _out_links(i: int, refs: list[Symbol], defs_by_name: dict[str, list[int]],
               modules: tuple[dict[str, list[int]], dict[str, list[int]]]) -> tuple[dict[int, float], dict[int, list[str]]]:
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

    for ref in refs:
        name = ref.name
        if ref.category == "import":
            for suf in _module_suffixes(name):
                targets = by_noext.get(suf) or (by_dir.get(suf) if "/" in suf else None) or []
                if 0 < len(targets) <= _COMMON_DEF_FILES:
                    for t in targets:
                        link(t, 1.0 / len(targets), name)
                    break
            continue
        targets = defs_by_name.get(name)
        if not targets or len(targets) > _COMMON_DEF_FILES:
            continue
        w = (0.1 if name.startswith("_") else 1.0) / len(targets)
        for t in targets:
            link(t, w, name)
    return weights, names


def _edge(links: dict[int, dict[int, float]], a: int, b: int) -> float:
    """Weight of a -> b in the undirected graph: a uses b fully, b is used by a at half weight."""
    return links.get(a, {}).get(b, 0.0) + 0.5 * links.get(b, {}).get(a, 0.0)


def _indegree(user_count: list[int]) -> list[float]:
    top = math.log1p(max(user_count, default=0)) or 1.0
    return [math.log1p(c) / top for c in user_count]


def _file_defs(symbols: Sequence[Symbol]) -> tuple[list[Symbol], list[Symbol]]:
    """A file's definitions and its references (the snapshot's Symbol objects, not copies)."""
    defs = [s for s in symbols if s.kind == "def"]
    return defs, [s for s in symbols if s.kind != "def"]


def build_rank_index(records: dict[str, FileRecord], file_terms: dict[str, tuple[list[str], list[int]]],
                     symbols: Mapping[str, Sequence[Symbol]], history: History | None = None) -> RankIndex:
    """Build postings, definition maps, the file graph and the history signals from an index snapshot.

    The result depends only on the snapshot's content (and the history), not on the order of its rows.
    """
    paths = sorted(records)
    idx = {p: i for i, p in enumerate(paths)}
    doc_len = [0] * len(paths)
    stems: dict[str, list[int]] = defaultdict(list)
    term_id: dict[str, int] = {}
    tids, codes = array("q"), array("q")  # every (term, posting), flat and compact
    for i, p in enumerate(paths):
        ts, cs = file_terms.get(p, ([], []))
        tids.extend(term_id.setdefault(t, len(term_id)) for t in ts)
        codes.extend(_posting(i, c) for c in cs)
        doc_len[i] = sum(cs)
        stems[PurePosixPath(p).stem.lower()].append(i)
    avg = (sum(doc_len) / len(doc_len)) if doc_len else 1.0
    # Group by term (files ascending within each): one sort, then one array view per term.
    tid_arr = np.array(tids, dtype=np.int64)
    code_arr = np.array(codes, dtype=np.int64)
    order = np.lexsort((code_arr, tid_arr))
    code_arr = code_arr[order]
    bounds = np.searchsorted(tid_arr[order], np.arange(len(term_id) + 1))
    postings = {t: code_arr[bounds[k]:bounds[k + 1]] for t, k in term_id.items()}

    per_file = {idx[p]: ss for p, ss in symbols.items() if p in idx and ss}
    names: dict[str, set[int]] = defaultdict(set)
    lowers: dict[str, set[int]] = defaultdict(set)
    def_symbols: dict[int, list[Symbol]] = {}
    refs: dict[int, list[Symbol]] = {}
    users: dict[str, set[int]] = defaultdict(set)
    for i in sorted(per_file):
        defs, rs = _file_defs(per_file[i])
        if defs:
            def_symbols[i] = defs
        if rs:
            refs[i] = rs
        for s in defs:
            names[s.name].add(i)
            lowers[s.name.lower()].add(i)
        for ref in rs:
            if ref.category != "import":
                users[ref.name].add(i)
    defs_by_name = {k: sorted(v) for k, v in names.items()}
    defs_by_lower = {k: sorted(v) for k, v in lowers.items()}

    # Module paths without extension, and directories, for import resolution.
    by_noext: dict[str, list[int]] = defaultdict(list)
    by_dir: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(paths):
        pp = PurePosixPath(p)
        noext = str(pp.with_suffix(""))
        parts = noext.split("/")
        for k in range(len(parts)):
            by_noext["/".join(parts[k:])].append(i)
        dparts = str(pp.parent).split("/") if str(pp.parent) != "." else []
        for k in range(len(dparts)):
            by_dir["/".join(dparts[k:])].append(i)
    modules = (dict(by_noext), dict(by_dir))

    links: dict[int, dict[int, float]] = {}
    edge_names: dict[tuple[int, int], list[str]] = {}
    user_count = [0] * len(paths)
    for i, rs in refs.items():
        out, why = _out_links(i, rs, defs_by_name, modules)
        if out:
            links[i] = out
            for b in out:
                edge_names[(i, b)] = why[b]
                user_count[b] += 1
    edges: dict[int, dict[int, float]] = defaultdict(dict)
    for a, out in links.items():
        for b in out:
            edges[a][b] = _edge(links, a, b)
            edges[b][a] = _edge(links, b, a)
    path_terms = [frozenset(terms(p.replace("/", " ").replace(".", " "))) for p in paths]
    kind = ["text" if not is_code(p) else "test" if is_test_path(p) else "aux" if is_aux_path(p) else "code"
            for p in paths]
    return RankIndex(paths, records, postings, doc_len, avg, defs_by_name, defs_by_lower, def_symbols,
                     dict(stems), dict(edges), edge_names, _indegree(user_count), path_terms, kind,
                     refs, dict(users), modules, links, user_count, index_history(history, paths) if history else None)


def patch_rank_index(ri: RankIndex, old_terms: dict[str, tuple[list[str], list[int]]],
                     records: dict[str, FileRecord], file_terms: dict[str, tuple[list[str], list[int]]],
                     changed: dict[str, list[Symbol]]) -> RankIndex | None:
    """``ri`` with the files in ``changed`` (path -> its new symbols) re-read; ``ri`` is left as it was.

    ``old_terms`` are the term counts ``ri`` was built from; ``records`` and ``file_terms``
    the new snapshot's.

    Equal to ``build_rank_index`` on the new snapshot, at a cost that grows with the
    changed files and the files that use names they add or drop, not with the repository.

    Returns:
        None when the set of files changed (added, removed, renamed): build afresh then.
    """
    if len(records) != len(ri.paths) or any(p not in ri.records for p in records):
        return None
    idx = {p: i for i, p in enumerate(ri.paths)} if len(changed) > 8 else None

    def index_of(p: str) -> int:
        return idx[p] if idx is not None else ri.paths.index(p)

    postings = dict(ri.postings)
    doc_len = list(ri.doc_len)
    names, lowers = dict(ri.defs_by_name), dict(ri.defs_by_lower)
    def_symbols, refs, users = dict(ri.def_symbols), dict(ri.refs), dict(ri.users)
    copied: set[tuple[int, object]] = set()  # (dict, key) whose value this patch already copied

    def own(d: dict, key: object, empty: Callable[[], object]) -> object:  # type: ignore[type-arg]
        """``d[key]``, copied on first write so the old index keeps its value."""
        v = d.get(key)
        if v is None:
            v = empty()
        elif (id(d), key) not in copied:
            v = v.copy()
        copied.add((id(d), key))
        d[key] = v
        return v

    def move(d: dict[str, list[int]], key: str, i: int, add: bool) -> None:
        lst = own(d, key, list)
        assert isinstance(lst, list)
        pos = bisect.bisect_left(lst, i)
        present = pos < len(lst) and lst[pos] == i
        if add and not present:
            lst.insert(pos, i)
        elif not add and present:
            del lst[pos]
            if not lst:
                del d[key]

    touched_names: set[str] = set()
    changed_idx: list[int] = []
    for path, syms in changed.items():
        i = index_of(path)
        changed_idx.append(i)
        before = dict(zip(*old_terms.get(path, ([], [])), strict=True))
        ts, cs = file_terms.get(path, ([], []))
        after = dict(zip(ts, cs, strict=True))
        for t in before.keys() | after.keys():
            if before.get(t) == after.get(t):
                continue  # unchanged posting
            arr = postings.get(t)  # replaced, never modified: the old index keeps its arrays
            if arr is None:
                arr = np.zeros(0, np.int64)
            pos = int(np.searchsorted(arr, i << _SHIFT))
            if pos < len(arr) and int(arr[pos]) >> _SHIFT == i:
                arr = np.delete(arr, pos)
            if t in after:
                arr = np.insert(arr, pos, _posting(i, after[t]))
            if arr.size:
                postings[t] = arr
            else:
                postings.pop(t, None)
        doc_len[i] = sum(cs)

        old_defs = {s.name for s in ri.def_symbols.get(i, [])}
        old_lower = {n.lower() for n in old_defs}
        defs, rs = _file_defs(syms)
        new_defs = {s.name for s in defs}
        new_lower = {n.lower() for n in new_defs}
        for n in old_defs ^ new_defs:
            move(names, n, i, n in new_defs)
        for n in old_lower ^ new_lower:
            move(lowers, n, i, n in new_lower)
        touched_names |= old_defs ^ new_defs
        def_symbols.pop(i, None)
        if defs:
            def_symbols[i] = defs
        old_users = {r.name for r in ri.refs.get(i, []) if r.category != "import"}
        new_users = {r.name for r in rs if r.category != "import"}
        for n in old_users - new_users:
            got = own(users, n, set)
            assert isinstance(got, set)
            got.discard(i)
            if not got:
                del users[n]
        for n in new_users - old_users:
            got = own(users, n, set)
            assert isinstance(got, set)
            got.add(i)
        refs.pop(i, None)
        if rs:
            refs[i] = rs

    # Files whose outgoing links may differ: the changed ones, and users of names they added or dropped.
    affected = set(changed_idx)
    for n in touched_names:
        affected |= users.get(n, set())
    links = dict(ri.links)
    edge_names = dict(ri.edge_names)
    user_count = list(ri.user_count)
    pairs: set[tuple[int, int]] = set()
    for a in sorted(affected):
        old = ri.links.get(a, {})
        for b in old:
            edge_names.pop((a, b), None)
            user_count[b] -= 1
        out, why = _out_links(a, refs.get(a, []), names, ri.modules)
        links.pop(a, None)
        if out:
            links[a] = out
        for b in out:
            edge_names[(a, b)] = why[b]
            user_count[b] += 1
        pairs.update((a, b) for b in (*old, *out))
    edges = dict(ri.edges)
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            w = _edge(links, x, y)
            row = own(edges, x, dict)
            assert isinstance(row, dict)
            if w:
                row[y] = w
            else:
                row.pop(y, None)
                if not row:
                    del edges[x]
    avg = (sum(doc_len) / len(doc_len)) if doc_len else 1.0
    indegree = _indegree(user_count)
    out = RankIndex(ri.paths, records, postings, doc_len, avg, names, lowers, def_symbols, ri.stems, edges,
                    edge_names, indegree, ri.path_terms, ri.kind, refs, users, ri.modules, links, user_count,
                    ri.hist)  # the same files: the same history
    # Derived caches: recompute only what the change touched.
    out._walk = _patched_walk(ri._walk, edges, {x for pair in pairs for x in pair})
    stale = {i for i, (a, b) in enumerate(zip(indegree, ri.indegree, strict=True)) if a != b} | set(changed_idx)
    for key, st in list(ri.static_cache.items()):
        w, priors = key
        fresh = _Static(list(st.scores), list(st.values), list(st.files), st.inputs.copy(), st.prior)
        for i in stale:
            _set_static(fresh, out, w, dict(priors), i)  # type: ignore[arg-type]
        out.static_cache[key] = fresh
    out._path_index = ri._path_index  # the same paths
    return out


def _postings_of(ri: RankIndex, t: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A term's postings as arrays: (file indices, BM25 term-frequency factor), cached per index."""
    got = ri._term_arrays.get(t)
    if got is None:
        packed = ri.postings.get(t)
        if packed is None or not packed.size:
            return None
        if ri._doc_len is None:
            ri._doc_len = np.asarray(ri.doc_len, dtype=np.float64)
        idx = packed >> _SHIFT
        tf = (packed & ((1 << _SHIFT) - 1)).astype(np.float64)
        dl = ri._doc_len[idx]
        # The same operations, in the same order, as the scalar formula: bit-identical scores.
        got = (idx, tf * (_BM25_K1 + 1) / (tf + _BM25_K1 * (1 - _BM25_B + _BM25_B * dl / ri.avg_len)))
        if len(ri._term_arrays) > 20_000:
            ri._term_arrays.clear()
        ri._term_arrays[t] = got
    return got


def _bm25(ri: RankIndex, q: QueryInfo) -> tuple[np.ndarray, np.ndarray, list[tuple[str, np.ndarray, np.ndarray]]]:
    """BM25 of every file (zero: no query term), how many query terms each matches, and each
    term's contributions (term, files, scores)."""
    n = len(ri.paths)
    scores = np.zeros(n)
    matched = np.zeros(n)
    per_term = []
    qtf: dict[str, int] = defaultdict(int)
    for t in q.terms:
        qtf[t] += 1
    for t, qc in qtf.items():
        got = _postings_of(ri, t)
        if got is None:
            continue
        idx, norm = got
        idf = math.log(1 + (n - len(idx) + 0.5) / (len(idx) + 0.5))
        s = idf * norm * (1 + math.log(qc))
        scores[idx] += s
        matched[idx] += 1
        per_term.append((t, idx, s))
    return scores, matched, per_term


def _path_overlap(ri: RankIndex, qset: set[str]) -> np.ndarray:
    """How many of the query's terms each file's path has."""
    if ri._path_index is None:
        acc: dict[str, list[int]] = defaultdict(list)
        for i, pts in enumerate(ri.path_terms):
            for t in pts:
                acc[t].append(i)
        ri._path_index = {t: np.asarray(v, np.int64) for t, v in acc.items()}
    out = np.zeros(len(ri.paths))
    for t in qset:
        idx = ri._path_index.get(t)
        if idx is not None:
            out[idx] += 1
    return out


def _walk_rows(edges: dict[int, dict[int, float]], rows: list[int]) -> tuple[list[int], list[int], list[float]]:
    """Edge-array entries of ``rows`` (ascending), each row's weights normalised to sum 1."""
    src: list[int] = []
    dst: list[int] = []
    wts: list[float] = []
    for a in rows:
        nb = sorted(edges.get(a, {}).items())  # sorted: the same graph gives the same sums, however built
        total = sum(w for _, w in nb)
        for b, w in nb:
            src.append(a)
            dst.append(b)
            wts.append(w / total)
    return src, dst, wts


def _walk_arrays(ri: RankIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The graph as edge arrays sorted by (source, target), row-normalised (built once per index)."""
    if ri._walk is None:
        src, dst, wts = _walk_rows(ri.edges, sorted(ri.edges))
        ri._walk = (np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(wts, np.float64))
    return ri._walk


def _patched_walk(old: tuple[np.ndarray, np.ndarray, np.ndarray] | None, edges: dict[int, dict[int, float]],
                  rows: set[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``old`` edge arrays with ``rows`` replaced by their entries in ``edges`` (equal to a fresh build)."""
    if old is None:
        return None
    src, dst, wts = old
    keep = ~np.isin(src, np.fromiter(rows, np.int64, len(rows)))
    ns, nd, nw = _walk_rows(edges, sorted(rows))
    src = np.concatenate([src[keep], np.asarray(ns, np.int64)])
    dst = np.concatenate([dst[keep], np.asarray(nd, np.int64)])
    wts = np.concatenate([wts[keep], np.asarray(nw, np.float64)])
    order = np.lexsort((dst, src))
    return src[order], dst[order], wts[order]


def _pagerank(ri: RankIndex, seeds: dict[int, float], damping: float, iters: int = 20) -> np.ndarray | None:
    """Personalized PageRank from ``seeds`` (vectorised power iteration over the edge arrays)."""
    total = sum(seeds.values())
    if total <= 0:
        return None
    n = len(ri.paths)
    pers = np.zeros(n)
    for k, v in seeds.items():
        pers[k] = v / total
    src, dst, wts = _walk_arrays(ri)
    rank_ = pers.copy()
    for _ in range(iters):
        rank_ = damping * np.bincount(dst, weights=rank_[src] * wts, minlength=n) + (1 - damping) * pers
    return rank_


FEATURES = ("bm25", "coverage", "pathterms", "defines", "path", "stem", "frame", "focus", "dense", "dense_top", "graph",
            "pastedit", "cochange", "recent", "churn", "indegree", "prior", "worktree", "worktree_link")
# Inputs of the fitted relevance model (RankWeights.coef), in order.
# Explicit mentions (a path, a stack frame, a focus file) are too rare in the dev tasks to
# fit; they stay hand-set log-odds boosts (path_named, trace_frame) on top of the model.
# The last four exist only with git history: a second model (RankWeights.history_coef) uses them.
MODEL_INPUTS = ("bm25", "coverage", "pathterms", "defines", "stem", "graph", "indegree",
                "log_prior", "log_tokens", "plain_text", "depth", "dense", "dense_top", "pastedit", "cochange", "recent", "churn")
HISTORY_INPUTS = 4


def model_inputs(feats: dict[str, float], tokens: int, language: str, path: str) -> list[float]:
    """The model's input vector for one file (shared with the weight fitter in benchmarks/)."""
    prior = feats.get("prior", 1.0)
    return [
        feats.get("bm25", 0.0), feats.get("coverage", 0.0), feats.get("pathterms", 0.0), feats.get("defines", 0.0),
        feats.get("stem", 0.0), feats.get("graph", 0.0), feats.get("indegree", 0.0),
        math.log(prior) if prior > 0 else -5.0,
        math.log1p(tokens) / 10, 1.0 if language == "text" else 0.0, path.count("/") / 5,
        feats.get("dense", 0.0), feats.get("dense_top", 0.0),
        feats.get("pastedit", 0.0), feats.get("cochange", 0.0), feats.get("recent", 0.0), feats.get("churn", 0.0),
    ]


def _coefficients(w: RankWeights, history: bool) -> tuple[tuple[float, ...], float]:
    """The model for a repository with (all inputs) or without (no history inputs) git history."""
    if history and w.history_coef:
        return w.history_coef, w.history_intercept
    return w.coef[: len(MODEL_INPUTS) - HISTORY_INPUTS], w.intercept


def relevance(w: RankWeights, x: list[float], feats: dict[str, float], history: bool = False) -> float:
    """P(file is needed by the edit): the fitted logistic model plus explicit-mention boosts.

    With git history the model over all inputs (``history_coef``) is used, else the one
    fitted without the history inputs (``coef``).
    """
    coef, intercept = _coefficients(w, history)
    z = intercept + sum(c * v for c, v in zip(coef, x[: len(coef)], strict=True))
    z += w.path_named * min(feats.get("path", 0.0) + feats.get("focus", 0.0), 1.0) + w.trace_frame * min(feats.get("frame", 0.0), 1.0)
    z += w.worktree * min(feats.get("worktree", 0.0), 1.0) + w.worktree_link * min(feats.get("worktree_link", 0.0), 1.0)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def rank(q: QueryInfo, ri: RankIndex, w: RankWeights, focus: tuple[str, ...] = (),
         dense: dict[int, tuple[float, str]] | None = None,
         changed: Mapping[str, tuple[tuple[int, int], ...]] | None = None, changed_names: tuple[str, ...] = ()
         ) -> list[RankedFile]:
    """Rank every indexed file for the query.

    Each file gets a feature vector (see ``FEATURES``); its score is the weighted sum of
    the direct signals, times its prior, plus the weighted graph signal (also times the
    prior). Reasons name the evidence behind every non-zero feature.

    Args:
        q: the analysed instruction.
        ri: ranking structures of the index.
        w: signal weights.
        focus: files the user is editing; they and their neighbours are favoured.
        dense: the dense lane's best chunk similarity per file ``{file index: (cosine, label)}``.
        changed: files changed in the working tree or git's index, with their changed line ranges;
            favoured with their neighbours (see ``wtsignal``).
        changed_names: identifiers on the changed lines.

    Returns:
        Every file, best first (ties broken by path), each with score, reasons and features.
    """
    n = len(ri.paths)
    if n == 0:
        return []
    qset = set(q.terms)
    bm25, matched, per_term = _bm25(ri, q)
    touched = np.flatnonzero(matched)
    top = (float(bm25.max()) if touched.size else 0.0) or 1.0
    # Features present in many files are columns; the rarer ones live in per-file dicts.
    f_bm25, f_cover, f_path = np.zeros(n), np.zeros(n), np.zeros(n)
    f_bm25[touched] = bm25[touched] / top
    f_cover[touched] = matched[touched] / len(qset)
    f_path[touched] = _path_overlap(ri, qset)[touched] / len(qset)
    feats: dict[int, dict[str, float]] = defaultdict(dict)
    reasons: dict[int, list[str]] = defaultdict(list)
    strong = touched[f_bm25[touched] >= 0.15]
    if strong.size:
        contrib = np.zeros((len(per_term), n))
        for k, (_, idx, sc) in enumerate(per_term):
            contrib[k, idx] = sc
        names = [t for t, _, _ in per_term]
        for i, col in zip(strong.tolist(), contrib[:, strong].T.tolist(), strict=True):
            parts = sorted(((v, t) for v, t in zip(col, names, strict=True) if v), reverse=True)
            reasons[i].append("matches " + ", ".join(t for _, t in parts[:4]))

    def add(i: int, feature: str, amount: float, why: str) -> None:
        feats[i][feature] = feats[i].get(feature, 0.0) + amount
        if why and why not in reasons[i] and len(reasons[i]) < 6:
            reasons[i].append(why)

    # Identifiers the query names that files define.
    for ident in q.identifiers:
        exact = ri.defs_by_name.get(ident)
        is_code_word = ident in q.code_identifiers
        if exact is None and is_code_word:
            exact = ri.defs_by_lower.get(ident.lower())
        if not exact or (not is_code_word and len(exact) > 3):
            continue
        strength = (1.0 if is_code_word else 0.35) / math.sqrt(len(exact))
        for i in exact:
            add(i, "defines", strength, f"defines `{ident}` named in the query")

    # Paths, basenames and stems the query mentions; stack frames; focus files.
    for mention in q.paths:
        low = mention.lower()
        for i, p in enumerate(ri.paths):
            pl = p.lower()
            if pl == low or pl.endswith("/" + low):
                add(i, "path", 1.0, f"path `{mention}` named in the query")
            elif "/" in low and (pl.startswith(low + "/") or ("/" + low + "/") in ("/" + pl)):
                add(i, "path", 0.3, f"in directory `{mention}` named in the query")
    for word in q.words:
        files = ri.stems.get(word)
        if files and len(word) >= 4 and len(files) <= 4:
            for i in files:
                add(i, "stem", 1.0 / len(files), f"file name matches `{word}`")
    for fpath, line in q.frames:
        fl = fpath.lower().lstrip("./")
        for i, p in enumerate(ri.paths):
            pl = p.lower()
            if fl == pl or fl.endswith("/" + pl) or pl.endswith("/" + fl):
                add(i, "frame", 1.0, f"stack frame `{PurePosixPath(p).name}:{line}`")
    for fp in focus:
        if fp in ri.records:
            add(ri.paths.index(fp), "focus", 1.0, "focus file (being edited)")
    if changed:
        add_worktree_features(ri, changed, changed_names, add)

    if dense:
        _dense_features(dense, add)

    def column(name: str) -> np.ndarray:
        out = np.zeros(n)
        for i, f in feats.items():
            v = f.get(name)
            if v is not None:
                out[i] = v
        return out

    priors = _priors(q, w)
    static = _static_part(ri, w, priors) if w.coef else None
    prior = static.prior if static is not None else np.fromiter((priors[k] for k in ri.kind), np.float64, n)
    evidence = np.zeros(n, dtype=bool)  # files with any query evidence
    evidence[touched] = True
    evidence[list(feats)] = True
    direct = (w.bm25 * f_bm25 + w.defines_named * column("defines")
              + w.path_named * (column("path") + column("focus")) + w.stem_named * column("stem")
              + w.trace_frame * column("frame") + w.worktree * column("worktree")
              + w.worktree_link * column("worktree_link"))
    score = direct * prior

    # Graph expansion from the best direct matches (ties: by path, which is index order).
    cand = np.flatnonzero(evidence)
    best = cand[np.lexsort((cand, -score[cand]))[: w.seeds]]
    seeds = dict(zip(best.tolist(), score[best].tolist(), strict=True))
    if ri.hist is not None:
        evidence[_past_edits(ri.hist, q, add)] = True
        evidence[_cochange(ri.hist, ri.paths, seeds, add)] = True
    f_graph = np.zeros(n)
    pr = _pagerank(ri, seeds, w.pagerank_damping) if w.graph > 0 else None
    if pr is not None:
        pr_top = float(pr.max()) or 1.0
        ratio = pr / pr_top
        linked = np.flatnonzero(ratio >= 1e-4)
        f_graph[linked] = ratio[linked]
        evidence[linked] = True
        g = w.graph * f_graph * prior
        score += g
        in_seeds = np.zeros(n, dtype=bool)
        in_seeds[list(seeds)] = True
        explain = linked[np.where(in_seeds[linked], g[linked] >= 0.3 * w.graph, g[linked] >= 0.05 * w.graph)]
        for i in explain.tolist():
            why = _graph_reason(ri, i, seeds)
            if why and why not in reasons[i]:
                reasons[i].append(why)

    ev = np.flatnonzero(evidence)
    if static is not None:
        # The fitted model turns every file's features (and its size, kind and depth) into a probability.
        x = np.zeros((len(ev), len(MODEL_INPUTS)))
        x[:, list(_STATIC_INPUTS)] = static.inputs[ev]
        for k, col in ((0, f_bm25), (1, f_cover), (2, f_path), (5, f_graph)):
            x[:, k] = col[ev]
        for k, name in ((3, "defines"), (4, "stem"), (11, "dense"), (12, "dense_top"), (13, "pastedit"),
                        (14, "cochange")):
            x[:, k] = column(name)[ev]
        boosts = (w.path_named * np.minimum(column("path")[ev] + column("focus")[ev], 1.0)
                  + w.trace_frame * np.minimum(column("frame")[ev], 1.0)
                  + w.worktree * np.minimum(column("worktree")[ev], 1.0)
                  + w.worktree_link * np.minimum(column("worktree_link")[ev], 1.0))
        model = _model_scores(w, x, boosts, ri.hist is not None)
        values = list(static.values)
        for i, v in zip(ev.tolist(), model.tolist(), strict=True):
            values[i] = float(f"{v:.6g}")  # reported scores: 6 significant digits
        # Best first; paths are sorted, so the index breaks ties (equal reported scores) by path.
        order = np.lexsort((np.arange(n), -np.asarray(values))).tolist()
    else:
        values = [float(f"{v:.6g}") for v in score.tolist()]
        order = sorted((i for i in range(n) if score[i] > 0 or evidence[i]), key=lambda i: (-values[i], i))
    cols = (("bm25", f_bm25), ("coverage", f_cover), ("pathterms", f_path), ("graph", f_graph))
    ranked = []
    for pos, i in enumerate(order):
        if not evidence[i] and static is not None:
            ranked.append(static.files[i])
            continue
        detail: tuple[tuple[str, float], ...] = ()
        if pos < _DETAILED:
            d = {name: float(col[i]) for name, col in cols if col[i]}
            d.update(feats.get(i, ()))
            d["prior"] = float(prior[i])
            d.update(file_traits(ri, i))
            detail = tuple(d.items())
        ranked.append(RankedFile(ri.paths[i], values[i], tuple(reasons.get(i, ())) or ("weak match",), detail))
    if len(ranked) < n:
        seen = {r.path for r in ranked}
        ranked += [RankedFile(p, 0.0, ("no match",)) for p in ri.paths if p not in seen]
    return ranked


def _model_scores(w: RankWeights, x: np.ndarray, boosts: np.ndarray, history: bool) -> np.ndarray:
    """``relevance`` for many files at once: rows of ``x`` are ``model_inputs``."""
    coef, intercept = _coefficients(w, history)
    z = x[:, : len(coef)] @ np.asarray(coef, dtype=np.float64) + intercept + boosts
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _dense_features(dense: dict[int, tuple[float, str]], add: Callable[[int, str, float, str], None]) -> None:
    """Semantic similarity as two features: how far above the repository's typical file, and the top ranks.

    ``dense`` is the similarity of each file's best chunk. Raw cosines are not comparable
    across queries, so the model sees standard scores (only above one deviation) and a
    reciprocal rank over the top files.
    """
    sims = np.fromiter((v[0] for v in dense.values()), dtype=np.float64, count=len(dense))
    mean, std = float(sims.mean()), float(sims.std()) or 1.0
    ranked = sorted(dense.items(), key=lambda kv: -kv[1][0])
    for pos, (i, (sim, label)) in enumerate(ranked):
        z = (sim - mean) / std
        if z <= 1.0 and pos >= _DENSE_TOP:
            break
        why = f"similar to the query: `{label}`, {sim:.2f}"
        if z > 1.0:
            add(i, "dense", min(z - 1.0, 4.0), why)
        if pos < _DENSE_TOP:
            add(i, "dense_top", 1.0 / (1.0 + pos), why)


def _static_part(ri: RankIndex, w: RankWeights, priors: dict[str, float]) -> _Static:
    """What every file scores with no query evidence (cached per weights and priors; patched per edit)."""
    key = (w, tuple(sorted(priors.items())))
    cached = ri.static_cache.get(key)
    if cached is None:
        n = len(ri.paths)
        cached = _Static([0.0] * n, [0.0] * n, [None] * n, np.zeros((n, len(_STATIC_INPUTS))),  # type: ignore[list-item]
                         np.fromiter((priors[k] for k in ri.kind), np.float64, n))
        for i in range(n):
            _set_static(cached, ri, w, priors, i)
        if len(ri.static_cache) >= 4:  # a few weight/prior combinations (tests asked for or not)
            ri.static_cache.clear()
        ri.static_cache[key] = cached
    return cached


def _set_static(st: _Static, ri: RankIndex, w: RankWeights, priors: dict[str, float], i: int) -> None:
    f = {"prior": priors[ri.kind[i]], **file_traits(ri, i)}
    p = ri.paths[i]
    rec = ri.records[p]
    x = model_inputs(f, rec.tokens, rec.language, p)
    score = relevance(w, x, f, ri.hist is not None)
    st.scores[i] = score
    st.values[i] = float(f"{score:.6g}")
    st.files[i] = RankedFile(p, st.values[i], ("weak match",), tuple(f.items()))
    st.inputs[i] = [x[k] for k in _STATIC_INPUTS]


def file_traits(ri: RankIndex, i: int) -> dict[str, float]:
    """File ``i``'s query-free features: how used it is, how recently and how often it changed."""
    out = {}
    if ri.indegree[i]:
        out["indegree"] = ri.indegree[i]
    if ri.hist is not None and ri.hist.recent[i]:
        out["recent"] = ri.hist.recent[i]
        out["churn"] = ri.hist.churn[i]
    return out


def _cochange(hist: HistoryIndex, paths: list[str], seeds: dict[int, float],
              add: Callable[[int, str, float, str], None]) -> list[int]:
    """Files that changed together with the best direct matches in past commits.

    The feature is the largest, over the top seeds, of the seed's relative score times the
    smoothed share of the seed's commits that also changed the file. Returns the files given it.
    """
    top = max(seeds.values(), default=0.0)
    if top <= 0:
        return []
    best: dict[int, tuple[float, int, int]] = {}
    for s, sv in list(seeds.items())[:_COCHANGE_SEEDS]:
        mine = hist.commits_of.get(s)
        if not mine or sv <= 0:
            continue
        together: dict[int, int] = defaultdict(int)
        for k in mine:
            for j in hist.commits[k]:
                if j != s:
                    together[j] += 1
        for j, c in together.items():
            v = (sv / top) * c / (len(mine) + 2)
            if v > best.get(j, (0.0, 0, 0))[0]:
                best[j] = (v, s, c)
    for j, (v, s, c) in best.items():
        add(j, "cochange", v, f"changed with {paths[s]} in {c} past commit{'s' if c > 1 else ''}" if v >= 0.1 else "")
    return list(best)


def _past_edits(hist: HistoryIndex, q: QueryInfo, add: Callable[[int, str, float, str], None]) -> list[int]:
    """Files changed by the past commits whose messages are most like the query (BM25 over messages).

    A file's feature is the summed relative score of the best matching commits that changed
    it, scaled so the best file has 1. Returns the files given it.
    """
    n = len(hist.commits)
    scores: dict[int, float] = defaultdict(float)
    for t in set(q.terms):
        plist = hist.postings.get(t)
        if not plist:
            continue
        idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
        for k, tf in plist:
            scores[k] += idf * tf * (_BM25_K1 + 1) / (tf + _BM25_K1 * (1 - _BM25_B + _BM25_B * hist.msg_len[k] / hist.avg_len))
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:_PAST_EDITS]
    if not best:
        return []
    top = best[0][1]
    per_file: dict[int, float] = defaultdict(float)
    why: dict[int, str] = {}
    for k, v in best:
        for i in hist.commits[k]:
            per_file[i] += v / top
            why.setdefault(i, f"changed by a past commit like this edit: \"{hist.subjects[k]}\"")
    peak = max(per_file.values())
    for i, v in per_file.items():
        add(i, "pastedit", v / peak, why[i] if v / peak >= 0.3 else "")
    return list(per_file)


def _priors(q: QueryInfo, w: RankWeights) -> dict[str, float]:
    """Tests, examples and docs are context, not edit targets, unless the query asks."""
    return _priors_of(w, q.mentions_tests)


def _priors_of(w: RankWeights, tests_asked: bool) -> dict[str, float]:
    return {"code": 1.0, "text": w.doc_penalty, "test": 1.0 if tests_asked else w.test_penalty, "aux": w.aux_penalty}


def warm(ri: RankIndex, w: RankWeights) -> None:
    """Build what the first queries would otherwise build: the graph's walk arrays, the path-term
    index and the query-free scores under both priors (queries that ask about tests, and the rest)."""
    _walk_arrays(ri)
    _path_overlap(ri, set())
    if w.coef:
        for tests_asked in (False, True):
            _static_part(ri, w, _priors_of(w, tests_asked))


def _graph_reason(ri: RankIndex, i: int, seeds: dict[int, float]) -> str:
    best: tuple[float, str] | None = None
    for s, sv in seeds.items():
        names = ri.edge_names.get((s, i))
        if names:
            cand = (sv, f"used by {ri.paths[s]} (`{'`, `'.join(names)}`)")
        else:
            names = ri.edge_names.get((i, s))
            if not names:
                continue
            cand = (sv * 0.9, f"uses `{'`, `'.join(names)}` from {ri.paths[s]}")
        if best is None or cand[0] > best[0]:
            best = cand
    return best[1] if best else ""
