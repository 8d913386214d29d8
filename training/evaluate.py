"""Offline evaluation on held-out repositories: BM25 vs the base MiniLM vs the fine-tuned model.

Usage:
    python training/evaluate.py --pairs /work/data/model/pairs --holdout training/holdout.txt \
        --model base=bundled --model ours=/work/data/model/ctxpack-code-minilm --out /work/data/model/eval.json

For each held-out commit the positives (its touched regions at the parent) are ranked
among three candidate sets:
- ``rand100``: the positives plus 100 chunks of other files of the same repository, drawn
  at random once per repository (from the random negatives mined for its commits) and
  shared by its commits, so each model embeds few texts;
- ``infile``: every chunk of the touched files (region ranking inside files ctxpack picked);
- ``file+rand``: both: the touched files' chunks plus the 100 other-file chunks.
Metrics: MRR of the first positive, recall@1/5/20 (share of positives in the top k),
(``--fuse``: also the sum of BM25's and the model's standard scores within the
candidate set) overall and for the bug-report-style subset (messages with a traceback, an error
message, expected/actual text or code). Models run as ctxpack runs them: int8 ONNX via
ctxpack's own embedder (``--backend onnx``), 256 tokens. ``--ce LABEL=DIR`` adds a
cross-encoder of ``train_ce.py`` (int8 ONNX, ``ce_onnx.OnnxCrossEncoder``) on the ``infile``
set only: it reads each (message, region) pair, so it reranks a file's regions, not a repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from regions import Bm25  # noqa: E402
from train import read_list  # noqa: E402

from ctxpack.terms import terms  # noqa: E402

log = logging.getLogger("evaluate")

KS = (1, 5, 20)
STRICT_BUG = {"traceback", "expected_actual", "code"}


def region_terms(r: dict) -> str:
    """ctxpack's full-text column for a chunk: its terms plus its path's terms."""
    return " ".join(terms(r["text"])) + " " + " ".join(terms(r["path"].replace("/", " ").replace(".", " ")))


def rank_metrics(scores: np.ndarray, n_pos: int) -> dict[str, float]:
    """Positives are the first ``n_pos`` candidates; ties count against them."""
    order = np.lexsort((-np.arange(len(scores)), -scores))  # ties: positives last
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(len(scores))
    pos_ranks = np.sort(ranks[:n_pos])
    out = {"mrr": 1.0 / (pos_ranks[0] + 1)}
    for k in KS:
        out[f"r@{k}"] = float((pos_ranks < k).sum() / n_pos)
    return out


def zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return (x - x.mean()) / (x.std() + 1e-9)


def load(pairs_dir: str, repos: list[str], per_repo: int) -> list[dict]:
    recs = []
    for repo in repos:
        f = Path(pairs_dir) / f"{repo.replace('/', '+')}.jsonl"
        if not f.exists():
            log.warning("no pairs for %s", repo)
            continue
        rows = [json.loads(ln) for ln in f.open()]
        rows.sort(key=lambda d: d["commit"])
        recs.extend(rows[:per_repo])
    return recs


N_NEGS = 100


def candidate_sets(rec: dict, repo_negs: list[dict]) -> dict[str, list[dict]]:
    pos = rec["positives"]
    pos_texts = {r["text"] for r in pos}
    touched = {r["path"] for r in pos} | {r["path"] for r in rec["file_negs"]}
    others = [r for r in repo_negs if r["path"] not in touched and r["text"] not in pos_texts][:N_NEGS]
    sets = {"rand100": pos + others}
    if rec["file_negs"]:
        sets["infile"] = pos + rec["file_negs"]
        sets["file+rand"] = pos + rec["file_negs"] + others
    return sets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--holdout", required=True)
    ap.add_argument("--model", action="append", default=[], help="LABEL=DIR, or LABEL=bundled")
    ap.add_argument("--backend", default="onnx", choices=("onnx", "torch"))
    ap.add_argument("--per-repo", type=int, default=250)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fuse", action="store_true", help="also score z(BM25) + z(model) per candidate set")
    ap.add_argument("--ce", action="append", default=[],
                    help="LABEL=DIR: a cross-encoder (train_ce.py, int8 ONNX), scored on the infile set only")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    from ctxpack.embed.backends import load_embedder

    repos = sorted(read_list(args.holdout))
    recs = load(args.pairs, [r for r in (ln.split("#")[0].strip() for ln in Path(args.holdout).read_text().splitlines())
                             if r], args.per_repo)
    pools: dict[str, dict[str, dict]] = {}
    for rec in recs:
        pool = pools.setdefault(rec["repo"], {})
        for r in rec["rand_negs"]:
            pool.setdefault(r["text"], r)
    rng = random.Random(args.seed)
    repo_negs = {repo: rng.sample(sorted(p.values(), key=lambda r: (r["path"], r["start"])), min(len(p), 2 * N_NEGS))
                 for repo, p in pools.items()}
    log.info("%d held-out commits from %d repositories", len(recs), len(repos))

    texts: dict[str, None] = {}
    for rec in recs:
        texts.setdefault(rec["query"])
        for key in ("positives", "file_negs"):
            for r in rec[key]:
                texts.setdefault(r["text"])
    for negs in repo_negs.values():
        for r in negs:
            texts.setdefault(r["text"])
    all_texts = list(texts)
    log.info("%d distinct texts to embed per model", len(all_texts))

    scorers: dict[str, dict[str, np.ndarray]] = {}
    timings = {}
    for spec in args.model:
        label, _, path = spec.partition("=")
        emb = load_embedder(None if path == "bundled" else path, args.backend, 256)
        t0 = time.time()
        order = sorted(range(len(all_texts)), key=lambda i: len(all_texts[i]))
        vecs: dict[str, np.ndarray] = {}
        for s in range(0, len(order), 64):
            part = [all_texts[i] for i in order[s: s + 64]]
            for t, v in zip(part, emb.embed(part), strict=True):
                vecs[t] = v
            if s % 640 == 0:
                log.info("%s: %d/%d", label, s, len(order))
        timings[label] = round(time.time() - t0, 1)
        scorers[label] = vecs

    ces = {}
    for spec in args.ce:
        from ce_onnx import OnnxCrossEncoder

        label, _, path = spec.partition("=")
        ces[label] = OnnxCrossEncoder(path, "int8")
    results: dict[str, dict[str, dict[str, list[float]]]] = {}
    for rec in recs:
        subsets = ["all"] + (["bug"] if rec["bug_style"] else []) + (
            ["bug_strict"] if STRICT_BUG & set(rec["bug_style"]) else [])
        qterms = terms(rec["query"])
        for setname, cands in candidate_sets(rec, repo_negs[rec["repo"]]).items():
            n_pos = len(rec["positives"])
            systems = {"bm25": Bm25([region_terms(r) for r in cands]).scores(qterms)}
            for label, vecs in scorers.items():
                m = np.stack([vecs[r["text"]] for r in cands])
                systems[label] = m @ vecs[rec["query"]]
                if args.fuse:
                    systems[f"bm25+{label}"] = zscore(systems["bm25"]) + zscore(systems[label])
            for label, ce in ces.items():
                if setname != "infile":
                    continue
                t0 = time.time()
                systems[label] = np.asarray(ce.score(rec["query"], [r["text"] for r in cands]))
                timings[label] = round(timings.get(label, 0.0) + time.time() - t0, 1)
                if args.fuse:
                    systems[f"bm25+{label}"] = zscore(systems["bm25"]) + zscore(systems[label])
            for sysname, scores in systems.items():
                met = rank_metrics(np.asarray(scores, dtype=np.float64), n_pos)
                for sub in subsets:
                    bucket = results.setdefault(setname, {}).setdefault(sub, {}).setdefault(sysname, {})
                    for k, v in met.items():
                        bucket.setdefault(k, []).append(v)
    summary = {s: {sub: {sysname: {k: round(float(np.mean(v)), 4) for k, v in mets.items()} | {"n": len(mets["mrr"])}
                         for sysname, mets in subs.items()} for sub, subs in sets.items()}
               for s, sets in results.items()}
    report = {"repos": repos, "commits": len(recs), "texts": len(all_texts), "embed_seconds": timings,
              "backend": args.backend, "summary": summary}
    Path(args.out).write_text(json.dumps(report, indent=1))
    for setname, subs in summary.items():
        for sub, systems in subs.items():
            for sysname, m in systems.items():
                print(f"{setname:8} {sub:10} {sysname:8} n={m['n']:4} MRR={m['mrr']:.3f} "
                      f"R@1={m['r@1']:.3f} R@5={m['r@5']:.3f} R@20={m['r@20']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
