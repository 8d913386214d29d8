#!/usr/bin/env python3
"""What answering a checkout first costs in quality: the first pack (files not parsed yet are
provisional, ``open_repo(answer_first=True)``) against the pack of the fully parsed index (issue 17).

For each repository of the task file, one clone of its mirror is checked out at the tasks'
parent commits one after another (``--per-repo`` of them, spread over the history), sharing one
index, as ``benchmarks/bigrepo_checkout.py`` does. After each checkout, in this process:

- **first**: a copy of the index as the checkout found it, opened with ``answer_first`` and packed;
- **parsed**: the index brought fully up to date (``build_index``), then packed.

Both at 8K / 32K / 128K, lexical lane. Scores per task: full-recall (gold files packed whole)
and any-recall (gold files shown at all), the shared bench's definitions; and the overlap of
the two packs' file lists.

Usage: python benchmarks/answer_first_quality.py [--tasks /work/data/devsets/bigrepo-dev.jsonl]
    [--per-repo 6] [--mirrors /work/.mirror] [--scratch /tmp/ctxpack-answer-first] [--complete-top N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
from pathlib import Path

from ctxpack import build_index, load_config, open_repo, pack_for

BUDGETS = (8_000, 32_000, 128_000)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def spread(tasks: list[dict], n: int) -> list[dict]:
    tasks = sorted(tasks, key=lambda t: t["commit_time"])
    if n >= len(tasks):
        return tasks
    return [tasks[round(i * (len(tasks) - 1) / (n - 1))] for i in range(n)]


def scores(pack: object, gold: list[str]) -> tuple[float, float, set[str]]:
    modes = {f.path: f.mode for f in pack.files}  # type: ignore[attr-defined]
    full = sum(modes.get(g) == "full" for g in gold) / len(gold)
    anyr = sum(g in modes for g in gold) / len(gold)
    return full, anyr, {p for p, m in modes.items() if m not in ("map", "diff")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="/work/data/devsets/bigrepo-dev.jsonl")
    ap.add_argument("--per-repo", type=int, default=6)
    ap.add_argument("--mirrors", default="/work/.mirror")
    ap.add_argument("--scratch", default="/tmp/ctxpack-answer-first")
    ap.add_argument("--complete-top", type=int, help="pipeline.COMPLETE_TOP for the first packs")
    args = ap.parse_args()
    if args.complete_top is not None:
        import ctxpack.pipeline

        ctxpack.pipeline.COMPLETE_TOP = args.complete_top
    scratch = Path(args.scratch).resolve()
    tasks = [json.loads(line) for line in open(args.tasks, encoding="utf-8") if line.strip()]
    rows: list[dict] = []
    for repo in dict.fromkeys(t["repo"] for t in tasks):
        chosen = spread([t for t in tasks if t["repo"] == repo], args.per_repo + 1)
        slug = repo.replace("/", "+")
        clone, index = scratch / "wt" / slug, scratch / "index" / slug
        shutil.rmtree(clone, ignore_errors=True)
        shutil.rmtree(index, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(Path(args.mirrors) / slug / "repo"), str(clone)],
                       check=True)
        git(clone, "checkout", "-q", "--detach", chosen[0]["parent"])
        cfg = load_config(clone, index_dir=str(index), embed=False)
        build_index(clone, cfg)
        for task in chosen[1:]:
            git(clone, "checkout", "-q", "--detach", task["parent"])
            copy = scratch / "index-first"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(index, copy, symlinks=True)
            first = open_repo(clone, load_config(clone, index_dir=str(copy), embed=False), answer_first=True)
            build_index(clone, cfg)
            parsed = open_repo(clone, cfg)
            gold = [g for g in task["gold_existing"] if g in parsed.snapshot.files] or task["gold_existing"]
            row = {"repo": repo, "commit": task["parent"][:10], "provisional": len(first.provisional)}
            for b in BUDGETS:
                fa, aa, fa_files = scores(pack_for(first, task["query"], budget=b), gold)
                fb, ab, fb_files = scores(pack_for(parsed, task["query"], budget=b), gold)
                row[b] = (fa, aa, fb, ab, len(fa_files & fb_files) / max(len(fa_files | fb_files), 1))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| budget | first: full / any recall | parsed: full / any recall | files in both packs (Jaccard) |")
    print("|---|---|---|---|")
    for b in BUDGETS:
        cols = list(zip(*(r[b] for r in rows), strict=True))
        m = [statistics.mean(c) for c in cols]
        print(f"| {b // 1000}K | {m[0]:.3f} / {m[1]:.3f} | {m[2]:.3f} / {m[3]:.3f} | {m[4]:.3f} |")
    print(f"\n{len(rows)} checkouts; provisional files per first pack: median "
          f"{statistics.median(r['provisional'] for r in rows)}")


if __name__ == "__main__":
    main()
