"""What every file scores with no query evidence (its traits and prior), cached per weights and priors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import RankWeights
from ..models import RankedFile
from .index import RankIndex
from .model import INPUT_INDEX, model_inputs, relevance
from .query import QueryInfo

__all__ = ["STATIC_COLUMNS", "STATIC_INPUTS", "StaticScores", "file_traits", "priors_for", "priors_of", "set_static", "static_part"]

# The model inputs that do not depend on the query (file traits), and their columns.
STATIC_INPUTS = ("indegree", "log_prior", "log_tokens", "plain_text", "depth", "recent", "churn")
STATIC_COLUMNS = tuple(INPUT_INDEX[name] for name in STATIC_INPUTS)


@dataclass(slots=True)
class StaticScores:
    """Per file, for one set of weights and priors: what ranking computes when the query says nothing about it."""

    scores: list[float]  # relevance with no query evidence
    values: list[float]  # the same, as reported (6 significant digits)
    files: list[RankedFile]  # the result entry of a file with no query evidence
    inputs: np.ndarray  # (files, len(STATIC_INPUTS)): the query-free model inputs
    prior: np.ndarray  # the prior of each file's kind


def static_part(ri: RankIndex, w: RankWeights, priors: dict[str, float]) -> StaticScores:
    """What every file scores with no query evidence (cached per weights and priors; patched per edit)."""
    key = (w, tuple(sorted(priors.items())))
    cached = ri.static_cache.get(key)
    if cached is None:
        n = len(ri.paths)
        cached = StaticScores([0.0] * n, [0.0] * n, [None] * n,  # type: ignore[list-item]
                              np.zeros((n, len(STATIC_INPUTS))), np.fromiter((priors[k] for k in ri.kind), np.float64, n))
        for i in range(n):
            set_static(cached, ri, w, priors, i)
        if len(ri.static_cache) >= 4:  # a few weight/prior combinations (tests asked for or not)
            ri.static_cache.clear()
        ri.static_cache[key] = cached
    return cached


def set_static(st: StaticScores, ri: RankIndex, w: RankWeights, priors: dict[str, float], i: int) -> None:
    f = {"prior": priors[ri.kind[i]], **file_traits(ri, i)}
    p = ri.paths[i]
    rec = ri.records[p]
    x = model_inputs(f, rec.tokens, rec.language, p)
    score = relevance(w, x, f, ri.hist is not None)
    st.scores[i] = score
    st.values[i] = float(f"{score:.6g}")
    st.files[i] = RankedFile(p, st.values[i], ("weak match",), tuple(f.items()))
    st.inputs[i] = [x[k] for k in STATIC_COLUMNS]


def file_traits(ri: RankIndex, i: int) -> dict[str, float]:
    """File ``i``'s query-free features: how used it is, how recently and how often it changed."""
    out = {}
    if ri.indegree[i]:
        out["indegree"] = ri.indegree[i]
    if ri.hist is not None and ri.hist.recent[i]:
        out["recent"] = ri.hist.recent[i]
        out["churn"] = ri.hist.churn[i]
    return out


def priors_for(q: QueryInfo, w: RankWeights) -> dict[str, float]:
    """Tests, examples and docs are context, not edit targets, unless the query asks."""
    return priors_of(w, q.mentions_tests)


def priors_of(w: RankWeights, tests_asked: bool) -> dict[str, float]:
    return {"code": 1.0, "text": w.doc_penalty, "test": 1.0 if tests_asked else w.test_penalty, "aux": w.aux_penalty}
