#!/usr/bin/env python3
"""Region ranking on the shared recall bench: which chunks of a file an edit touches.

For every gold file of every task that ctxpack cuts into at least two chunks, rank its
chunks with each scorer, take them best first while they fit a room of R tokens (the
chunk's index count + 12 for its marker, as ``pack.chunks`` does), and score the share of
the file's diff hunks (the bench's ``gold_hunks``) that the chosen chunks show whole. This
is the region half of edit-recall, without the file ranking in the way. Baseline in the
same run: ``head``, the file's chunks from the top.

Scorers: ``lex`` (query terms per chunk, ``pack.chunks.region_scores``), ``lex-idf`` (each
term weighted by its idf), ``lex-idf+head`` (the default: a bonus for the file's first
chunk), and with ``--model NAME=MODEL``: ``dense-NAME`` (cosine to the query alone) and
``lex-idf+NAME@a`` (blended at weight a). Models embed every chunk of each task tree once
(the cache is shared per repository under the scratch folder).

Usage:
  python benchmarks/region_rank.py [--tasks FILE] [--limit 20] [--model base=all-MiniLM-L6-v2]
                                   [--ce ce=/work/data/model/ce/run/final] [--ce-threads 1]
Environment: CTXPACK_EVAL_MIRRORS, CTXPACK_EVAL_SCRATCH, BENCH_DIR (as for benchmarks/ablation.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time
from pathlib import Path

from ctxpack import load_config, open_repo
from ctxpack.embed.lane import dense_hits
from ctxpack.models import Chunk
from ctxpack.pack.chunks import region_scores
from ctxpack.pipeline import embed_index
from ctxpack.terms import terms

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("BENCH_DIR", ROOT.parent / "shared" / "bench")).resolve()
sys.path.insert(0, str(BENCH))
import recall  # noqa: E402

ROOMS = (500, 1000, 2000, 4000)
HEAD = 0.5  # PackPolicy.region_head


def covered(chosen: list[Chunk], hunks: list[list[int]]) -> float:
    merged: list[list[int]] = []
    for a, b in sorted((c.start_line, c.end_line) for c in chosen):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return sum(any(a <= lo and hi <= b for a, b in merged) for lo, hi in hunks) / len(hunks)


def take(chunks: list[Chunk], scores: list[float], room: int) -> list[Chunk]:
    order = sorted(range(len(chunks)), key=lambda i: (-scores[i], chunks[i].start_line))
    chosen, used = [], 0
    for i in order:
        if used + chunks[i].tokens + 12 <= room:
            chosen.append(chunks[i])
            used += chunks[i].tokens + 12
    return chosen


def lexical_order(base: list[float], chunks: list[Chunk]) -> list[int]:
    """Chunk indices best first, as ``take`` orders them."""
    return sorted(range(len(chunks)), key=lambda i: (-base[i], chunks[i].start_line))


def zscores(xs: list[float]) -> list[float]:
    sd = statistics.pstdev(xs) if len(xs) > 1 else 0.0
    mu = statistics.fmean(xs)
    return [(x - mu) / sd if sd > 0 else 0.0 for x in xs]


def rerank_top(base: list[float], chunks: list[Chunk], ce: dict[int, float], a: float | None) -> list[float]:
    """Scores whose order puts the chunks scored by ``ce`` first, ordered by ``ce`` (or by the blend
    ``a * z(ce) + (1 - a) * z(base)``), and the other chunks below them in ``base`` order."""
    order = lexical_order(base, chunks)
    head = [i for i in order if i in ce]
    rest = [i for i in order if i not in ce]
    if a is None:
        key = [ce[i] for i in head]
    else:
        zc, zb = zscores([ce[i] for i in head]), zscores([base[i] for i in head])
        key = [a * c + (1 - a) * b for c, b in zip(zc, zb, strict=True)]
    new = [head[k] for k in sorted(range(len(head)), key=lambda k: (-key[k], k))] + rest
    scores = [0.0] * len(chunks)
    for pos, i in enumerate(new):
        scores[i] = -float(pos)
    return scores


def ce_trained_on(model_dir: str) -> set[str]:
    """The repositories a cross-encoder run trained on (its run.json, beside or above the model)."""
    for p in (Path(model_dir) / "run.json", Path(model_dir).parent / "run.json"):
        if p.exists():
            return {r.lower() for r in json.loads(p.read_text()).get("repos", [])}
    sys.exit(f"Error: no run.json for {model_dir}: cannot check the tasks' repositories against its training data")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=str(BENCH / "tasks-dev.jsonl"))
    ap.add_argument("--limit", type=int, default=0, help="tasks per repository (0 = all)")
    ap.add_argument("--model", action="append", default=[], help="NAME=MODEL (a model name or directory)")
    ap.add_argument("--ce", action="append", default=[],
                    help="NAME=DIR[:fp32|:int8]: a cross-encoder (training/train_ce.py), default --ce-precision")
    ap.add_argument("--ce-top", type=int, default=24, help="chunks of lex-idf+head the cross-encoder reranks")
    ap.add_argument("--ce-precision", default="int8", choices=("int8", "fp32"))
    ap.add_argument("--ce-threads", type=int, default=2, help="onnxruntime threads of each cross-encoder")
    ap.add_argument("--per-file", default=None,
                    help="also write one JSON line per gold file (task, path, each scorer's share per room) here")
    ap.add_argument("--ce-blend", default="0.3,0.5,0.7", help="blend weights a of z(ce) for ce-NAME+lex@a")
    args = ap.parse_args()
    mirrors = os.environ.get("CTXPACK_EVAL_MIRRORS", "/work/.mirror")
    scratch = os.environ.get("CTXPACK_EVAL_SCRATCH", "/tmp/ctxpack-eval-scratch")
    models = dict(m.split("=", 1) for m in args.model)
    tasks = [json.loads(line) for line in open(args.tasks, encoding="utf-8") if line.strip()]
    if args.limit:
        per_repo: collections.Counter[str] = collections.Counter()
        kept = []
        for t in tasks:
            per_repo[t["repo"]] += 1
            if per_repo[t["repo"]] <= args.limit:
                kept.append(t)
        tasks = kept
    ces = {}
    ce_time = collections.Counter()
    if args.ce:
        sys.path.insert(0, str(ROOT / "training"))
        from ce_onnx import OnnxCrossEncoder

        for spec in args.ce:
            name, path = spec.split("=", 1)
            path, _, precision = path.partition(":")
            seen = ce_trained_on(path) & {t["repo"].lower() for t in tasks}
            if seen:
                sys.exit(f"Error: cross-encoder {name} was trained on task repositories: {sorted(seen)}")
            ces[name] = OnnxCrossEncoder(path, precision or args.ce_precision, threads=args.ce_threads)
    blends = [float(a) for a in args.ce_blend.split(",") if a]
    res: dict[tuple[str, int], list[float]] = collections.defaultdict(list)
    n_files = n_chunks = n_hunks = 0
    per_file: list[dict] = []
    for n, task in enumerate(tasks, 1):
        mirror = recall.find_mirror(mirrors, task["repo"])
        tree = recall.materialize(mirror, task["repo"], task["parent"], scratch, "git")
        hunks = recall.gold_hunks(task, mirror)
        slug = task["repo"].replace("/", "+")
        idx = Path(scratch) / "ctxpack-ablation-git" / slug / task["parent"][:16]
        vec = Path(scratch) / "ctxpack-vectors" / slug
        query = task["query"]
        qterms = set(terms(query))
        names = {w for w in query.replace(".", " ").replace("(", " ").split() if w.isidentifier()}
        repo = open_repo(tree, load_config(tree, index_dir=str(idx), embed=False))
        hits = {}
        for name, model in models.items():
            cfg = load_config(tree, index_dir=str(idx), vectors_dir=str(vec), embed=True, model=model)
            embed_index(tree, cfg)
            hits[name] = dense_hits(open_repo(tree, cfg), query)
        idf = repo.rank_index.term_weight
        for g, hs in hunks.items():
            chunks = repo.chunks_for([g])
            if len(chunks) < 2 or not hs:
                continue
            n_files, n_chunks, n_hunks = n_files + 1, n_chunks + len(chunks), n_hunks + len(hs)
            head = min(range(len(chunks)), key=lambda i: chunks[i].start_line)
            lex_idf = region_scores(chunks, qterms, names, None, 0.0, idf)
            scorers = {"head (baseline)": [-c.start_line for c in chunks],
                       "lex": region_scores(chunks, qterms, names, None, 0.0),
                       "lex-idf": lex_idf,
                       "lex-idf+head": [s + (HEAD if i == head else 0.0) for i, s in enumerate(lex_idf)]}
            for name, h in hits.items():
                sims = h.regions(g) if h is not None else None
                scorers[f"dense-{name}"] = region_scores(chunks, qterms, names, sims, 1.0)
                for a in (0.3, 0.5):
                    scorers[f"lex-idf+{name}@{a}"] = region_scores(chunks, qterms, names, sims, a, idf)
            base = scorers["lex-idf+head"]
            for name, ce in ces.items():
                top = lexical_order(base, chunks)[: args.ce_top]
                t0 = time.perf_counter()
                logits = dict(zip(top, ce.score(query, [chunks[i].text for i in top]), strict=True))
                ce_time[name] += time.perf_counter() - t0
                ce_time[name + ":pairs"] += len(top)
                scorers[f"ce-{name}"] = rerank_top(base, chunks, logits, None)
                for a in blends:
                    scorers[f"ce-{name}+lex@{a}"] = rerank_top(base, chunks, logits, a)
            row: dict[str, list[float]] = {}
            for sname, scores in scorers.items():
                row[sname] = [covered(take(chunks, scores, room), hs) for room in ROOMS]
                for room, share in zip(ROOMS, row[sname], strict=True):
                    res[(sname, room)].append(share)
            per_file.append({"task": task["id"], "path": g, "hunks": len(hs), "chunks": len(chunks), "shown": row})
        print(f"[{n}/{len(tasks)}] {task['id']}", file=sys.stderr)
    if args.per_file:
        Path(args.per_file).write_text("".join(json.dumps(r) + "\n" for r in per_file), encoding="utf-8")
    print(f"{len(tasks)} tasks; {n_files} gold files with 2+ chunks and hunks: "
          f"{n_chunks / max(n_files, 1):.1f} chunks and {n_hunks / max(n_files, 1):.1f} hunks each on average\n")
    print("| scorer | " + " | ".join(f"hunks shown @{r}" for r in ROOMS) + " |")
    print("|---|" + "---|" * len(ROOMS))
    for sname in dict.fromkeys(k for k, _ in res):
        print(f"| {sname} | " + " | ".join(f"{sum(res[(sname, r)]) / len(res[(sname, r)]):.3f}" for r in ROOMS) + " |")
    for name in ces:
        n = ce_time[name + ":pairs"]
        print(f"\ncross-encoder {name} (top {args.ce_top}): {n} pairs scored, "
              f"{1000 * ce_time[name] / max(n, 1):.1f} ms per pair (tokenizing included)")


if __name__ == "__main__":
    main()
