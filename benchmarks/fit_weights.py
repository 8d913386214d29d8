#!/usr/bin/env python3
"""Fit the relevance model (RankWeights.coef/intercept) on the dev tasks, with honest CV.

1. For every dev task, rank the task's tree with the model switched off (coef=()) and
   record each file's features (``rank.model.model_inputs``), size and whether the edit changed it.
2. Fit an L2-regularised logistic regression (Newton's method, numpy only), holding out
   one repository at a time (leave-one-repository-out), and score the held-out
   repository by simulating whole-file packing at 8K / 32K / 128K, both in rank order and
   in expected-recall-per-token order (p / (tokens + 20) ** alpha).
3. Print the CV table and the coefficients fitted on all repositories (raw feature scale),
   ready for ``RankWeights``.

No repository names, paths or per-repository constants enter the model: only the
generic features. With ``--tree-mode git`` the task trees carry their git history (up to
the parent commit, as the bench's ``--tree-mode git`` gives them) and ``--history`` fits
the model over the history inputs too (``RankWeights.history_coef``).

Usage: python benchmarks/fit_weights.py [--l2 1.0] [--cache FILE] [--tree-mode git] [--history]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from ctxpack import load_config, open_repo
from ctxpack.pipeline import embed_index, rank_for
from ctxpack.rank.model import HISTORY_INPUTS, MODEL_INPUTS, model_inputs
from ctxpack.rank.static import file_traits

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench")).resolve()
sys.path.insert(0, str(BENCH))
import recall  # noqa: E402

BUDGETS = (8_000, 32_000, 128_000)
INDEXES = {"files": "ctxpack-ablation", "git": "ctxpack-ablation-git"}  # index folders under the scratch dir
OVERHEAD = 20  # tokens of a file block's wrapper


def dump(cache: Path, dense: bool, tree_mode: str) -> list[dict]:
    if cache.is_file():
        return [json.loads(line) for line in cache.open()]
    mirrors = os.environ.get("CTXPACK_EVAL_MIRRORS", "/work/.mirror")
    scratch = os.environ.get("CTXPACK_EVAL_SCRATCH", "/tmp/ctxpack-eval-scratch")
    rows = []
    for t in (json.loads(line) for line in open(BENCH / "tasks-dev.jsonl")):
        tree = recall.materialize(recall.find_mirror(mirrors, t["repo"]), t["repo"], t["parent"], scratch, tree_mode)
        idx = Path(scratch) / INDEXES[tree_mode] / t["repo"].replace("/", "+") / t["parent"][:16]
        # One embedding cache per repository, shared by its tasks' indexes (content-addressed).
        vec = Path(scratch) / "ctxpack-vectors" / t["repo"].replace("/", "+")
        cfg = load_config(tree, index_dir=str(idx), embed=dense, vectors_dir=str(vec))
        cfg = dataclasses.replace(cfg, weights=dataclasses.replace(cfg.weights, coef=()))
        repo = open_repo(tree, cfg)
        if dense:
            embed_index(tree, cfg)
            repo.dense_lane(reload=True)
        gold = set(t["gold_existing"])
        files = []
        ri = repo.rank_index
        pos = {p: i for i, p in enumerate(ri.paths)}
        for r in rank_for(repo, t["query"]):
            rec = repo.snapshot.files[r.path]
            feats = dict(r.features) or file_traits(ri, pos[r.path])  # files without query evidence: their traits
            files.append({"x": model_inputs(feats, rec.tokens, rec.language, r.path),
                          "tok": rec.tokens, "p": r.path, "g": r.path in gold})
        rows.append({"id": t["id"], "repo": t["repo"], "n_gold": len(gold), "files": files})
        print(f"\r{len(rows)} tasks", end="", file=sys.stderr)
    print(file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return rows


def fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Logistic regression on standardized inputs; returns raw-scale coefficients."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    xb = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = np.eye(len(w)) * l2
    reg[-1, -1] = 0
    for _ in range(30):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        w -= np.linalg.solve((xb * (p * (1 - p))[:, None]).T @ xb + reg + 1e-6 * np.eye(len(w)), xb.T @ (p - y) + reg @ w)
    coef = w[:-1] / sd
    return coef, float(w[-1] - (w[:-1] * mu / sd).sum())


def simulate(tasks: list[dict], probs: dict[str, np.ndarray], alpha: float) -> list[float]:
    out = []
    for b in BUDGETS:
        recalls = []
        for t in tasks:
            files = t["files"]
            if not files:
                recalls.append(0.0)
                continue
            p = probs[t["id"]]
            key = [p[i] / (f["tok"] + OVERHEAD) ** alpha for i, f in enumerate(files)]
            order = sorted(range(len(files)), key=lambda i: (-key[i], files[i]["p"]))
            left, full = b, set()
            for i in order:
                c = files[i]["tok"] + OVERHEAD
                if c <= left:
                    full.add(files[i]["p"])
                    left -= c
            recalls.append(sum(1 for f in files if f["g"] and f["p"] in full) / t["n_gold"])
        out.append(float(np.mean(recalls)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "out" / "features.jsonl")
    ap.add_argument("--no-dense", action="store_true", help="features without the dense lane (no embedding)")
    ap.add_argument("--drop", default="", help="model inputs to leave out, comma-separated (e.g. graph,dense)")
    ap.add_argument("--tree-mode", choices=sorted(INDEXES), default="files", help="git: task trees with their history")
    ap.add_argument("--history", action="store_true", help="fit over the history inputs too (history_coef)")
    args = ap.parse_args()
    tasks = dump(args.cache, not args.no_dense, args.tree_mode)
    drop = [MODEL_INPUTS.index(n) for n in args.drop.split(",") if n]
    inputs = MODEL_INPUTS if args.history else MODEL_INPUTS[: len(MODEL_INPUTS) - HISTORY_INPUTS]
    for t in tasks:
        for f in t["files"]:
            f["x"] = f["x"] + [0.0] * (len(MODEL_INPUTS) - len(f["x"]))  # caches from before a new input
            for i in drop:
                f["x"][i] = 0.0
            f["x"] = f["x"][: len(inputs)]
    repos = sorted({t["repo"] for t in tasks})
    held: dict[str, np.ndarray] = {}
    for hold in repos:
        train = [f for t in tasks if t["repo"] != hold for f in t["files"]]
        coef, b = fit(np.array([f["x"] for f in train]), np.array([float(f["g"]) for f in train]), args.l2)
        for t in tasks:
            if t["repo"] == hold and t["files"]:
                z = np.array([f["x"] for f in t["files"]]) @ coef + b
                held[t["id"]] = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
    print(f"{len(tasks)} tasks, {len(repos)} repositories; leave-one-repository-out, simulated whole-file full-recall")
    print("| order | full@8K | full@32K | full@128K |\n|---|---|---|---|")
    for alpha in (0.0, 0.3, 0.5, 0.7, 1.0):
        r = simulate(tasks, held, alpha)
        label = "rank (p)" if alpha == 0 else f"p / tokens^{alpha}"
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in r) + " |")
    allf = [f for t in tasks for f in t["files"]]
    coef, b = fit(np.array([f["x"] for f in allf]), np.array([float(f["g"]) for f in allf]), args.l2)
    print("\nFitted on all repositories (paste into RankWeights):")
    name = "history_" if args.history else ""
    print(f"{name}coef = ({', '.join(f'{c:.4f}' for c in coef)},)  # {', '.join(inputs)}")
    print(f"{name}intercept = {b:.4f}")


if __name__ == "__main__":
    main()
