"""The working-tree signal, measured: part of the real change already applied, the rest to find.

For each dev task with at least two gold files, the tree is checked out at the task's
parent and the real diff of ONE gold file (the first in path order: no choice by outcome)
is applied to the working tree, uncommitted, as a user midway through the change would
have it. The remaining gold files are scored, with the working-tree signal at each pair
of weights given (``worktree:worktree_link``; 0:0 = off, the ranking of a clean tree):
their recall in the pack (full and any mode) at each budget, and the mean reciprocal
rank of the best of them among the files not changed. For reference, the full-mode recall
of all gold files (the applied one included) is shown too.

Lexical lane only (``--no-embed``), both arms on the same index and the same tree.

    python benchmarks/worktree_bench.py --tasks /work/shared/bench/tasks-dev.jsonl \\
        --mirrors /work/.mirror --scratch /tmp/wtbench --limit 20 --weights 0:0,1.5:0,1.5:0.5,1.5:1

Trees and indexes live under ``--scratch`` (a shared clone per repository); nothing is
written to the mirrors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from ctxpack import load_config, open_repo
from ctxpack.pipeline import pack_for
from ctxpack.query import analyze_query
from ctxpack.rank.score import rank
from ctxpack.index.worktree import changes


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    r = subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=", *args], cwd=cwd,
                       input=stdin, capture_output=True, check=False)
    if r.returncode:
        raise RuntimeError(f"git {' '.join(args[:2])}: {r.stderr.decode(errors='replace').strip()[:300]}")
    return r.stdout


def _tree(scratch: Path, mirrors: Path, repo: str) -> Path:
    tree = scratch / repo.replace("/", "+") / "tree"
    if not (tree / ".git").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout",
                        str(mirrors / repo.replace("/", "+") / "repo"), str(tree)], check=True)
    return tree


def _prepare(tree: Path, task: dict) -> str:
    """Check out the parent and apply the first gold file's real diff, uncommitted; that file."""
    _git(tree, "checkout", "-q", "-f", "--detach", task["parent"])
    _git(tree, "clean", "-q", "-fdx")
    first = sorted(task["gold_existing"])[0]
    patch = _git(tree, "diff", "--no-ext-diff", "--no-textconv", task["parent"], task["commit"], "--", first)
    _git(tree, "apply", "--whitespace=nowarn", "-", stdin=patch)
    return first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--mirrors", required=True)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--limit", type=int, default=10, help="tasks per repository")
    ap.add_argument("--budgets", default="8000,32000")
    ap.add_argument("--weights", default="0:0,1.5:0,1.5:1", help="worktree:worktree_link weight pairs")
    ap.add_argument("--out", help="per-task rows (JSON lines)")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    weights = [tuple(float(x) for x in w.split(":")) for w in args.weights.split(",")]
    scratch, mirrors = Path(args.scratch), Path(args.mirrors)
    tasks = [json.loads(line) for line in open(args.tasks, encoding="utf-8") if line.strip()]
    per_repo: dict[str, list[dict]] = defaultdict(list)
    for t in tasks:
        if len(t["gold_existing"]) >= 2 and len(per_repo[t["repo"]]) < args.limit:
            per_repo[t["repo"]].append(t)
    rows = []
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    for repo_name, group in per_repo.items():
        tree = _tree(scratch, mirrors, repo_name)
        idx = scratch / repo_name.replace("/", "+") / "index"
        for task in group:
            t0 = time.monotonic()
            try:
                applied = _prepare(tree, task)
            except RuntimeError as exc:
                print(f"{task['id']}: skipped ({exc})", file=sys.stderr)
                continue
            rest = set(task["gold_existing"]) - {applied}
            cfg = load_config(tree, index_dir=str(idx), embed=False, history=False)
            repo = open_repo(tree, cfg)
            work = changes(tree)
            q = analyze_query(task["query"])
            row: dict[str, object] = {"id": task["id"], "repo": repo_name, "applied": applied,
                                      "rest": sorted(rest), "changed": list(work.files)}
            for wt, wl in weights:
                w = f"{wt:g}:{wl:g}"
                wts = dataclasses.replace(cfg.weights, worktree=wt, worktree_link=wl)
                ranked = rank(q, repo.rank_index, wts, (), None, work.files if wt or wl else None, work.names)
                pos = [i for i, r in enumerate(r for r in ranked if r.path not in work.files) if r.path in rest]
                row[f"mrr@{w}"] = 1.0 / (1 + pos[0]) if pos else 0.0
                for b in budgets:
                    p = pack_for(repo, task["query"], budget=b, fmt="json", ranked=ranked)
                    full = {f.path for f in p.files if f.mode == "full"}
                    anym = {f.path for f in p.files}
                    row[f"full@{w}@{b}"] = len(rest & full) / len(rest)
                    row[f"any@{w}@{b}"] = len(rest & anym) / len(rest)
                    gold = set(task["gold_existing"])
                    row[f"fullall@{w}@{b}"] = len(gold & full) / len(gold)
            row["time_s"] = round(time.monotonic() - t0, 2)
            rows.append(row)
            if out:
                out.write(json.dumps(row) + "\n")
                out.flush()
            print(f"{task['id']}: " + " ".join(f"{k}={v:.2f}" for k, v in row.items() if k.startswith(("mrr", "full"))),
                  file=sys.stderr)
    if not rows:
        print("no tasks run", file=sys.stderr)
        return 1
    counts = ", ".join(f"{r}: {sum(x['repo'] == r for x in rows)}" for r in per_repo)
    print(f"{len(rows)} tasks ({counts})")
    heads = " | ".join(f"full@{b // 1000}K | any@{b // 1000}K | full@{b // 1000}K, all gold" for b in budgets)
    print(f"| worktree:link weights | MRR (rest, changed files left out) | {heads} |")
    print("|---|---|" + "---|---|---|" * len(budgets))
    for wt, wl in weights:
        w = f"{wt:g}:{wl:g}"
        cells = [sum(r[f"mrr@{w}"] for r in rows) / len(rows)]
        for b in budgets:
            cells += [sum(r[f"{m}@{w}@{b}"] for r in rows) / len(rows) for m in ("full", "any", "fullall")]
        print(f"| {w} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
