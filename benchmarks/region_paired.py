#!/usr/bin/env python3
"""Paired comparison of region scorers from ``region_rank.py --per-file FILE``.

For each pair (A, B) and room, the mean per-file difference of hunks shown (A - B), a 95%
bootstrap interval over files (resampled by task, as a task's files are not independent), and
how many files A shows more / fewer hunks of.

Usage:
  python benchmarks/region_paired.py FILE "ce-new+lex@0.5" "lex-idf+head" [--vs "ce-old+lex@0.5" ...]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics

ROOMS = (500, 1000, 2000, 4000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("per_file")
    ap.add_argument("a")
    ap.add_argument("b", nargs="+")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(args.per_file, encoding="utf-8") if line.strip()]
    by_task: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows:
        by_task[r["task"]].append(r)
    tasks = sorted(by_task)
    print(f"{len(rows)} files of {len(tasks)} tasks; A = {args.a}\n")
    print("| B | room | A - B | 95% interval | files A better / worse |")
    print("|---|---|---|---|---|")
    rng = random.Random(args.seed)
    for b in args.b:
        for k, room in enumerate(ROOMS):
            diff = {t: [r["shown"][args.a][k] - r["shown"][b][k] for r in by_task[t]] for t in tasks}
            flat = [d for t in tasks for d in diff[t]]
            boots = []
            for _ in range(args.samples):
                pick = [d for t in rng.choices(tasks, k=len(tasks)) for d in diff[t]]
                boots.append(statistics.fmean(pick))
            boots.sort()
            lo, hi = boots[int(0.025 * len(boots))], boots[int(0.975 * len(boots)) - 1]
            print(f"| {b} | {room} | {statistics.fmean(flat):+.3f} | {lo:+.3f} .. {hi:+.3f} | "
                  f"{sum(d > 0 for d in flat)} / {sum(d < 0 for d in flat)} |")


if __name__ == "__main__":
    main()
