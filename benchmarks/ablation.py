#!/usr/bin/env python3
"""Ranking/packing ablation on the shared recall bench, in one process.

Runs ctxpack as a library on the dev tasks (../shared/bench/tasks-dev.jsonl) with each
ranking signal switched off in turn, next to the full system and a lexical-only
variant, and scores every pack with the bench's own ``score()`` (full-recall,
any-recall, all-found) at 8K / 32K / 128K. Each task tree gets its own index, built once
and kept under the scratch folder, so repeated runs only rank and pack.

For the comparison with the `bm25-files+code` baseline in the same run, use
``benchmarks/run_recall.sh`` (it drives the ctxpack CLI like any `cmd:` system).

Variants about the dense lane (issue 3): ``lexical-only`` switches embeddings off,
``dense-only`` ranks files by their best chunk's cosine similarity alone, ``full`` is the
hybrid; ``bm25-files+code`` is the bench's own baseline, run in-process in the same loop.
The embedding cache is shared per repository (content-addressed) under the scratch
folder, so only the first task of a repository embeds much.

Usage:
  python benchmarks/ablation.py [--limit 10] [--repo OWNER/NAME] [--variants full,no-graph,...]
Environment: CTXPACK_EVAL_MIRRORS, CTXPACK_EVAL_SCRATCH, BENCH_DIR (as for run_recall.sh).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from ctxpack import load_config, open_repo, pack_for
from ctxpack.config import Config, RankWeights
from ctxpack.models import RankedFile
from ctxpack.pipeline import dense_scores, embed_index
from ctxpack.rank.model import MODEL_INPUTS
from ctxpack.render import pack_to_dict

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench")).resolve()
sys.path.insert(0, str(BENCH))
import recall  # noqa: E402  (the bench harness: materialize trees, score packs)

BUDGETS = (8_000, 32_000, 128_000)
INDEXES = {"files": "ctxpack-ablation", "git": "ctxpack-ablation-git"}  # index folders under the scratch dir
W = RankWeights()
# Each variant switches one signal off: a model input's coefficient (coef.NAME), a hand-set
# boost, the graph walk, or a packing policy.
VARIANTS: dict[str, str] = {
    "bm25-files+code": "",
    "full": "",
    "dense-only": "",
    "lexical-only": "embed=0",
    "no-dense": "embed=0",
    "bm25-only": "embed=0+coef.defines=0+coef.stem=0+coef.pathterms=0+coef.indegree=0+graph=0+path_named=0+trace_frame=0",
    "no-graph": "graph=0",
    "no-history": "history=0",
    "no-pastedit": "coef.pastedit=0",
    "no-cochange": "coef.cochange=0",
    "no-recency": "coef.recent=0+coef.churn=0",
    "no-defines": "coef.defines=0",
    "no-path-signals": "coef.pathterms=0+coef.stem=0+path_named=0",
    "no-centrality": "coef.indegree=0",
    "no-priors": "coef.log_prior=0+coef.plain_text=0",
    "no-size-features": "coef.log_tokens=0+coef.depth=0",
    "rank-order-packing": "size_exponent=0",
    "no-outlines": "outline_share=0",
}


def _config(name: str, base: Config) -> Config:
    """A named variant, or an ad-hoc one: ``key=value+coef.NAME=value+...`` over weights and config."""
    spec = VARIANTS.get(name, name)
    weights: dict[str, object] = {}
    cfg: dict[str, object] = {}
    coef, hcoef = list(W.coef), list(W.history_coef)
    wf = {f.name for f in dataclasses.fields(RankWeights)}
    for part in filter(None, spec.split("+")):
        k, v = part.split("=")
        if k.startswith("coef."):
            pos = MODEL_INPUTS.index(k[5:])
            if pos < len(coef):
                coef[pos] = float(v)
            if pos < len(hcoef):
                hcoef[pos] = float(v)
        elif k in wf:
            weights[k] = type(getattr(W, k))(float(v))
        else:
            cur = getattr(base, k)
            cfg[k] = (v not in ("0", "") if isinstance(cur, bool) else v if isinstance(cur, str) or cur is None
                      else type(cur)(float(v)))
    weights = dataclasses.replace(W, coef=tuple(coef), history_coef=tuple(hcoef), **weights)
    return dataclasses.replace(base, weights=weights, **cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=str(BENCH / "tasks-dev.jsonl"))
    ap.add_argument("--limit", type=int, default=0, help="tasks per repo (0 = all)")
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "ablation.jsonl"))
    ap.add_argument("--tree-mode", choices=sorted(INDEXES), default="files",
                    help="git: task trees with their history up to the parent commit (the bench's --tree-mode git)")
    args = ap.parse_args()
    mirrors = os.environ.get("CTXPACK_EVAL_MIRRORS", "/work/.mirror")
    scratch = os.environ.get("CTXPACK_EVAL_SCRATCH", "/tmp/ctxpack-eval-scratch")
    variants = [v for v in args.variants.split(",") if v]

    tasks = [json.loads(line) for line in open(args.tasks, encoding="utf-8") if line.strip()]
    if args.repo:
        tasks = [t for t in tasks if t["repo"] in args.repo]
    if args.limit:
        seen: collections.Counter[str] = collections.Counter()
        kept = []
        for t in tasks:
            if seen[t["repo"]] < args.limit:
                kept.append(t)
                seen[t["repo"]] += 1
        tasks = kept

    rows = []
    t_start = time.perf_counter()
    counter = recall.TokenCounter("o200k_base", str(Path(scratch) / "token-cache-o200k_base.sqlite"))
    for n, task in enumerate(tasks, 1):
        mirror = recall.find_mirror(mirrors, task["repo"])
        tree = recall.materialize(mirror, task["repo"], task["parent"], scratch, args.tree_mode)
        hunks = recall.gold_hunks(task, mirror)
        idx = Path(scratch) / INDEXES[args.tree_mode] / task["repo"].replace("/", "+") / task["parent"][:16]
        vec = Path(scratch) / "ctxpack-vectors" / task["repo"].replace("/", "+")
        for v in variants:
            if v == "bm25-files+code":
                for b, (pack_d, dt) in recall.run_baseline(v, task, tree, BUDGETS, counter, verify=False).items():
                    rows.append(_row(task, v, b, dt, pack_d, tree, hunks))
                continue
            cfg = _config(v, load_config(tree, index_dir=str(idx), vectors_dir=str(vec), embed=True))
            repo = open_repo(tree, cfg)
            if cfg.embed:
                embed_index(tree, cfg)  # only what the repository's cache is missing
                repo.dense_lane(reload=True)
            for b in BUDGETS:
                t0 = time.perf_counter()
                ranked = _dense_only(repo, task["query"]) if v == "dense-only" else None
                pack = pack_for(repo, task["query"], budget=b, fmt="json", ranked=ranked)
                dt = time.perf_counter() - t0
                rows.append(_row(task, v, b, dt, pack_to_dict(pack), tree, hunks))
        print(f"[{n}/{len(tasks)}] {task['id']} ({time.perf_counter() - t_start:.0f}s)", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    print(summarize(rows, variants))


_SCORES = ("full_recall", "any_recall", "all_found", "edit_recall", "edit_found", "over_budget")


def _row(task: dict, variant: str, budget: int, dt: float, pack: dict, tree: str, hunks: dict) -> dict:
    """One scored pack, with how each gold file was shown (full, chunks, skeleton, none) and
    whether its changed lines were (for the edit-recall breakdown)."""
    sc = recall.score(task, pack, tree, budget, None, hunks)
    modes = {recall.normalize_path(str(f["path"]), tree): f.get("mode", "full") for f in pack.get("files", [])}
    shown = {}
    for f in pack.get("files", []):
        shown.setdefault(recall.normalize_path(str(f["path"]), tree), []).extend(f.get("ranges") or [])
    gold = []
    for g in task.get("gold_existing", task["gold_files"]):
        hs = hunks.get(g) or []
        mode = modes.get(g, "none")
        cov = 1.0 if mode == "full" else (
            sum(any(a <= lo and hi <= b for a, b in shown.get(g, [])) for lo, hi in hs) / len(hs) if hs else 0.0)
        gold.append([mode, cov])
    return {"task_id": task["id"], "repo": task["repo"], "language": task["language"], "variant": variant,
            "budget": budget, "time_s": dt, "gold": gold, **{k: sc[k] for k in _SCORES}}


def _dense_only(repo, query: str) -> list[RankedFile]:  # type: ignore[no-untyped-def]
    """Files by their best chunk's similarity to the query, nothing else."""
    sims = dense_scores(repo, query) or {}
    paths = repo.rank_index.paths
    ranked = [RankedFile(paths[i], max(sim, 0.0), (f"similar to the query: `{label}`, {sim:.2f}",))
              for i, (sim, label) in sorted(sims.items(), key=lambda kv: (-kv[1][0], paths[kv[0]]))]
    seen = {r.path for r in ranked}
    return ranked + [RankedFile(p, 0.0, ("no match",)) for p in paths if p not in seen]


def summarize(rows: list[dict], variants: list[str]) -> str:
    agg: dict[tuple[str, int], list[dict]] = collections.defaultdict(list)
    for r in rows:
        agg[(r["variant"], r["budget"])].append(r)

    def mean(rs: list[dict], k: str) -> float:
        return sum(r[k] for r in rs) / len(rs) if rs else 0.0

    keys = ("full_recall", "any_recall", "edit_recall", "all_found")
    out = [f"{len(rows) // max(1, len(variants) * len(BUDGETS))} tasks", "",
           "| variant | " + " | ".join(f"{k.split('_')[0]}@{b // 1000}K" for k in keys for b in BUDGETS) + " | over |",
           "|---|" + "---|" * (len(keys) * len(BUDGETS) + 1)]
    for v in variants:
        cells = [f"{mean(agg[(v, b)], k):.3f}" for k in keys for b in BUDGETS]
        over = sum(r["over_budget"] for b in BUDGETS for r in agg[(v, b)])
        out.append(f"| {v} | " + " | ".join(cells) + f" | {over} |")
    out += ["", "How gold files were shown (share of gold files; in parentheses: their changed lines shown)", "",
            "| variant | budget | full | chunks | skeleton | none |", "|---|---|---|---|---|---|"]
    for v in variants:
        for b in BUDGETS:
            gs = [g for r in agg[(v, b)] for g in r.get("gold", [])]
            cells = []
            for m in ("full", "chunks", "skeleton", "none"):
                sel = [c for mode, c in gs if mode == m]
                cells.append(f"{len(sel) / max(1, len(gs)):.3f} ({sum(sel) / max(1, len(sel)):.2f})")
            out.append(f"| {v} | {b // 1000}K | " + " | ".join(cells) + " |")
    langs = sorted({r["language"] for r in rows})
    if "full" in variants and len(langs) > 1:
        out += ["", "Per language (full system): full-recall @8K / @32K / @128K", "",
                "| language | n | full@8K | full@32K | full@128K |", "|---|---|---|---|---|"]
        for lang in langs:
            rs = [r for r in rows if r["variant"] == "full" and r["language"] == lang]
            n = len(rs) // len(BUDGETS)
            cells = [f"{mean([r for r in rs if r['budget'] == b], 'full_recall'):.3f}" for b in BUDGETS]
            out.append(f"| {lang} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
