"""The fitted relevance model: its named inputs, its coefficients and P(the edit needs this file)."""

from __future__ import annotations

import math

import numpy as np

from ..config import RankWeights

__all__ = ["BASE_INPUTS", "FEATURES", "HISTORY_INPUTS", "HISTORY_INPUT_NAMES", "INPUT_INDEX", "MODEL_INPUTS", "coefficients",
           "model_inputs", "model_scores", "named_coefficients", "relevance"]

FEATURES = ("bm25", "coverage", "pathterms", "defines", "path", "stem", "frame", "focus", "dense", "dense_top", "graph",
            "pastedit", "cochange", "recent", "churn", "indegree", "prior", "worktree", "worktree_link")


# Inputs of the fitted relevance model, by name: RankWeights.coef holds one coefficient per
# BASE_INPUTS name and RankWeights.history_coef one per MODEL_INPUTS name, in these orders
# (``named_coefficients`` pairs them; tests/test_rank.py checks the lengths and the vector).
# Explicit mentions (a path, a stack frame, a focus file) are too rare in the dev tasks to
# fit; they stay hand-set log-odds boosts (path_named, trace_frame) on top of the model.
BASE_INPUTS = ("bm25", "coverage", "pathterms", "defines", "stem", "graph", "indegree",
               "log_prior", "log_tokens", "plain_text", "depth", "dense", "dense_top")
# These exist only with git history: the second model (RankWeights.history_coef) uses them.
HISTORY_INPUT_NAMES = ("pastedit", "cochange", "recent", "churn")
MODEL_INPUTS = BASE_INPUTS + HISTORY_INPUT_NAMES
HISTORY_INPUTS = len(HISTORY_INPUT_NAMES)
INPUT_INDEX = {name: k for k, name in enumerate(MODEL_INPUTS)}  # an input's column in ``model_inputs``
_NO_PRIOR_LOG = -5.0  # log_prior of a file whose prior is 0


def model_inputs(feats: dict[str, float], tokens: int, language: str, path: str) -> list[float]:
    """The model's input vector for one file (shared with the weight fitter in benchmarks/)."""
    prior = feats.get("prior", 1.0)
    traits = {
        "log_prior": math.log(prior) if prior > 0 else _NO_PRIOR_LOG,
        "log_tokens": math.log1p(tokens) / 10,
        "plain_text": 1.0 if language == "text" else 0.0,
        "depth": path.count("/") / 5,
    }
    return [traits[name] if name in traits else feats.get(name, 0.0) for name in MODEL_INPUTS]


def coefficients(w: RankWeights, history: bool) -> tuple[tuple[float, ...], float]:
    """The model for a repository with (all inputs) or without (no history inputs) git history."""
    if history and w.history_coef:
        return w.history_coef, w.history_intercept
    return w.coef[: len(BASE_INPUTS)], w.intercept


def named_coefficients(w: RankWeights, history: bool) -> dict[str, float]:
    """The coefficients ``coefficients`` uses, by input name (for reports and checks).

    Raises:
        ValueError: the weights do not have one coefficient per input of that model.
    """
    coef, _ = coefficients(w, history)
    names = MODEL_INPUTS if history and w.history_coef else BASE_INPUTS
    return dict(zip(names, coef, strict=True))


def relevance(w: RankWeights, x: list[float], feats: dict[str, float], history: bool = False) -> float:
    """P(file is needed by the edit): the fitted logistic model plus explicit-mention boosts.

    With git history the model over all inputs (``history_coef``) is used, else the one
    fitted without the history inputs (``coef``).
    """
    coef, intercept = coefficients(w, history)
    z = intercept + sum(c * v for c, v in zip(coef, x[: len(coef)], strict=True))
    z += w.path_named * min(feats.get("path", 0.0) + feats.get("focus", 0.0), 1.0) + w.trace_frame * min(feats.get("frame", 0.0), 1.0)
    z += w.worktree * min(feats.get("worktree", 0.0), 1.0) + w.worktree_link * min(feats.get("worktree_link", 0.0), 1.0)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def model_scores(w: RankWeights, x: np.ndarray, boosts: np.ndarray, history: bool) -> np.ndarray:
    """``relevance`` for many files at once: rows of ``x`` are ``model_inputs``."""
    coef, intercept = coefficients(w, history)
    z = x[:, : len(coef)] @ np.asarray(coef, dtype=np.float64) + intercept + boosts
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
