"""The fitted relevance model: its named inputs, its coefficients and P(the edit needs this file)."""

from __future__ import annotations

import math

import numpy as np

from ..config import RankWeights

__all__ = ["FEATURES", "HISTORY_INPUTS", "MODEL_INPUTS", "coefficients", "model_inputs", "model_scores", "relevance"]

FEATURES = ("bm25", "coverage", "pathterms", "defines", "path", "stem", "frame", "focus", "dense", "dense_top", "graph",
            "pastedit", "cochange", "recent", "churn", "indegree", "prior")


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


def coefficients(w: RankWeights, history: bool) -> tuple[tuple[float, ...], float]:
    """The model for a repository with (all inputs) or without (no history inputs) git history."""
    if history and w.history_coef:
        return w.history_coef, w.history_intercept
    return w.coef[: len(MODEL_INPUTS) - HISTORY_INPUTS], w.intercept


def relevance(w: RankWeights, x: list[float], feats: dict[str, float], history: bool = False) -> float:
    """P(file is needed by the edit): the fitted logistic model plus explicit-mention boosts.

    With git history the model over all inputs (``history_coef``) is used, else the one
    fitted without the history inputs (``coef``).
    """
    coef, intercept = coefficients(w, history)
    z = intercept + sum(c * v for c, v in zip(coef, x[: len(coef)], strict=True))
    z += w.path_named * min(feats.get("path", 0.0) + feats.get("focus", 0.0), 1.0) + w.trace_frame * min(feats.get("frame", 0.0), 1.0)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def model_scores(w: RankWeights, x: np.ndarray, boosts: np.ndarray, history: bool) -> np.ndarray:
    """``relevance`` for many files at once: rows of ``x`` are ``model_inputs``."""
    coef, intercept = coefficients(w, history)
    z = x[:, : len(coef)] @ np.asarray(coef, dtype=np.float64) + intercept + boosts
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
