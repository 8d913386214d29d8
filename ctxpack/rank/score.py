"""Score every file for an instruction and say why.

Signals, fused into one score per file (weights in ``RankWeights``):

* BM25 over each file's code-aware terms (content, path and symbol names; ``bm25``);
* exact mentions: identifiers the file defines, its path or basename, its stem,
  stack-trace frames pointing into it;
* the symbol graph: a personalized PageRank from the best lexical files along
  reference -> definition and import edges, in both directions, so definitions a top
  file uses and callers of what it defines rise too (``graph``);
* git history (when the repository has one): how recently each file changed, and the
  files that changed together with the best direct matches in past commits (``history``);
* priors: test files and docs are context, not edit targets, unless the query asks.

The fitted model that turns them into a probability is in ``model``; what a file scores with
no query evidence is cached per index (``static``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath

import numpy as np

from ..config import RankWeights
from ..models import RankedFile
from .bm25 import bm25_scores, path_overlap
from .graph import graph_reason, pagerank, walk_arrays
from .history import cochange, past_edits
from .index import RankIndex
from .model import INPUT_INDEX, MODEL_INPUTS, model_scores
from .query import QueryInfo, frame_points_to
from .static import STATIC_COLUMNS, file_traits, priors_for, priors_of, static_part
from .worktree import add_worktree_features

__all__ = ["QUERY_ARRAY_INPUTS", "QUERY_FEATURE_INPUTS", "rank", "warm"]

_DETAILED = 1_000  # best files that keep their feature breakdown in the result (all, in most repositories)
_DENSE_TOP = 10  # files whose dense rank is a feature
# The model inputs that depend on the query (with static.STATIC_INPUTS: every MODEL_INPUTS name):
QUERY_ARRAY_INPUTS = ("bm25", "coverage", "pathterms", "graph")  # computed as arrays over all files
QUERY_FEATURE_INPUTS = ("defines", "stem", "dense", "dense_top", "pastedit", "cochange")  # per-file evidence
# Hand-set (not fitted) constants of the evidence and its reasons; their effect is covered by
# tests/test_rank.py and the full system's recall (benchmarks/results/recall-dev-git.md).
_MATCH_REASON_MIN = 0.15  # relative BM25 from which a file's reasons name the terms it matches
_PLAIN_WORD_DEFINES = 0.35  # "defines" strength of an ordinary query word that names a definition (code words: 1)
_DIRECTORY_MENTION = 0.3  # "path" strength of a file inside a directory the query names (the file itself: 1)
_SEED_GRAPH_REASON = 0.3  # graph share (of w.graph) from which a seed's graph reason is listed
_GRAPH_REASON = 0.05  # the same for the other files


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
            favoured with their neighbours (see ``rank.worktree``).
        changed_names: identifiers on the changed lines.

    Returns:
        Every file, best first (ties broken by path), each with score, reasons and features.
    """
    n = len(ri.paths)
    if n == 0:
        return []
    qset = set(q.terms)
    bm25, matched, per_term = bm25_scores(ri, q)
    touched = np.flatnonzero(matched)
    top = (float(bm25.max()) if touched.size else 0.0) or 1.0
    # Features present in many files are columns; the rarer ones live in per-file dicts.
    f_bm25, f_cover, f_path = np.zeros(n), np.zeros(n), np.zeros(n)
    f_bm25[touched] = bm25[touched] / top
    f_cover[touched] = matched[touched] / len(qset)
    f_path[touched] = path_overlap(ri, qset)[touched] / len(qset)
    feats: dict[int, dict[str, float]] = defaultdict(dict)
    reasons: dict[int, list[str]] = defaultdict(list)
    strong = touched[f_bm25[touched] >= _MATCH_REASON_MIN]
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
        strength = (1.0 if is_code_word else _PLAIN_WORD_DEFINES) / math.sqrt(len(exact))
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
                add(i, "path", _DIRECTORY_MENTION, f"in directory `{mention}` named in the query")
    for word in q.words:
        files = ri.stems.get(word)
        if files and len(word) >= 4 and len(files) <= 4:
            for i in files:
                add(i, "stem", 1.0 / len(files), f"file name matches `{word}`")
    for fpath, line in q.frames:
        for i, p in enumerate(ri.paths):
            if frame_points_to(fpath, p):
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

    priors = priors_for(q, w)
    static = static_part(ri, w, priors) if w.coef else None
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
        evidence[past_edits(ri.hist, q, add)] = True
        evidence[cochange(ri.hist, ri.paths, seeds, add)] = True
    f_graph = np.zeros(n)
    pr = pagerank(ri, seeds, w.pagerank_damping) if w.graph > 0 else None
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
        explain = linked[np.where(in_seeds[linked], g[linked] >= _SEED_GRAPH_REASON * w.graph,
                                  g[linked] >= _GRAPH_REASON * w.graph)]
        for i in explain.tolist():
            why = graph_reason(ri, i, seeds)
            if why and why not in reasons[i]:
                reasons[i].append(why)

    ev = np.flatnonzero(evidence)
    if static is not None:
        # The fitted model turns every file's features (and its size, kind and depth) into a probability.
        x = np.zeros((len(ev), len(MODEL_INPUTS)))
        x[:, list(STATIC_COLUMNS)] = static.inputs[ev]
        arrays = dict(zip(QUERY_ARRAY_INPUTS, (f_bm25, f_cover, f_path, f_graph), strict=True))
        for name in QUERY_ARRAY_INPUTS:
            x[:, INPUT_INDEX[name]] = arrays[name][ev]
        for name in QUERY_FEATURE_INPUTS:
            x[:, INPUT_INDEX[name]] = column(name)[ev]
        boosts = (w.path_named * np.minimum(column("path")[ev] + column("focus")[ev], 1.0)
                  + w.trace_frame * np.minimum(column("frame")[ev], 1.0)
                  + w.worktree * np.minimum(column("worktree")[ev], 1.0)
                  + w.worktree_link * np.minimum(column("worktree_link")[ev], 1.0))
        model = model_scores(w, x, boosts, ri.hist is not None)
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


def warm(ri: RankIndex, w: RankWeights) -> None:
    """Build what the first queries would otherwise build: the graph's walk arrays, the path-term
    index and the query-free scores under both priors (queries that ask about tests, and the rest)."""
    walk_arrays(ri)
    path_overlap(ri, set())
    if w.coef:
        for tests_asked in (False, True):
            static_part(ri, w, priors_of(w, tests_asked))
