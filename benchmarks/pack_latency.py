#!/usr/bin/env python3
"""Warm pack latency of the packing policy against the policy without regions, in one process.

Loads REPO once (as the server and ``pack --daemon`` do), then packs the same queries
with each policy in turn, interleaved, at 8K / 32K / 128K, and prints p50 / p90 per
budget and the ratio to the baseline policy (``region_weight 0``, ``region_idf off``,
``region_head 0``, ``region_fill off``: the packing before regions competed). Lexical
lane (no model loaded).

Usage:
  python benchmarks/pack_latency.py REPO [--queries FILE] [--rounds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from ctxpack import load_config, open_repo, pack_for

QUERIES = (
    "fix the connection pool so that it does not leak connections when a checkout fails",
    "add a timeout parameter to the execute method and pass it to the driver",
    "rename the dialect option for isolation level and keep the old name as a deprecated alias",
    "the ORM raises AttributeError when a relationship is loaded twice with selectinload",
    "support JSON columns in the reflection of table definitions",
)
BASELINE = {"region_weight": 0.0, "region_idf": False, "region_head": 0.0, "region_fill": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--queries", help="one query per line [5 built-in ones]")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    root = Path(args.repo).resolve()
    queries = [q for q in Path(args.queries).read_text().splitlines() if q.strip()] if args.queries else QUERIES
    cfg = load_config(root, embed=False)
    t0 = time.perf_counter()
    repo = open_repo(root, cfg)
    print(f"{root.name}: {len(repo.snapshot.files)} files; open_repo {time.perf_counter() - t0:.2f} s")
    repos = {"baseline (no regions)": dataclasses.replace(repo, cfg=dataclasses.replace(cfg, **BASELINE)),
             "default": repo}
    for r in repos.values():  # warm the memos (bodies, skeletons, counts) once, as a served repository is
        for q in queries:
            for b in (8_000, 32_000, 128_000):
                pack_for(r, q, budget=b)
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.rounds):
        for q in queries:
            for b in (8_000, 32_000, 128_000):
                for name, r in repos.items():
                    t = time.perf_counter()
                    pack_for(r, q, budget=b)
                    times.setdefault((name, b), []).append((time.perf_counter() - t) * 1000)
    print("\n| policy | budget | p50 ms | p90 ms | p50 vs baseline |\n|---|---|---|---|---|")
    for b in (8_000, 32_000, 128_000):
        base = statistics.median(times[("baseline (no regions)", b)])
        for name in repos:
            ts = sorted(times[(name, b)])
            p50 = statistics.median(ts)
            print(f"| {name} | {b // 1000}K | {p50:.1f} | {ts[int(0.9 * (len(ts) - 1))]:.1f} | {p50 / base:.2f}x |")


if __name__ == "__main__":
    main()
