#!/usr/bin/env python3
"""Where a process pool starts to pay for parsing (issue 17): serial vs pool wall time by file count.

For each N, the first N files of REPO (sorted by path, so every run parses the same files)
are parsed (``index.pool.parse_contents``: tree-sitter, chunks, exact counts, terms) in this
process and in a pool of ``--workers`` processes, alternating, ``--runs`` times; it prints
the median wall time of each and checks that both give the same values. The grammars and
the tokenizer are loaded before timing (a process that parses has them loaded already).

Usage: python benchmarks/parse_pool.py REPO [--sizes 16,32,64,128,256,512] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from ctxpack.config import load_config
from ctxpack.index import pool
from ctxpack.index.discover import list_candidates, read_source
from ctxpack.models import SourceFile


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", type=Path)
    ap.add_argument("--sizes", default="16,32,64,128,256,512")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cfg = load_config(args.repo)
    cands, _ = list_candidates(args.repo, cfg, ())
    srcs = [s for c in sorted(cands, key=lambda c: c.path) if isinstance(s := read_source(args.repo, c), SourceFile)]
    items = [(s.text, s.language) for s in srcs]
    pool.parse_contents(items[:64], cfg, workers=1)  # load grammars and the tokenizer
    print(f"{args.repo.name}: {len(items)} files, {args.workers} workers, min pool size now {pool.POOL_MIN_FILES}")
    print("| files | serial s | pool s | pool / serial |")
    print("|---:|---:|---:|---:|")
    for n in (int(x) for x in args.sizes.split(",")):
        part = items[:n]
        serial, pooled = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            a = pool.parse_contents(part, cfg, workers=1)
            t1 = time.perf_counter()
            b = _pooled(part, cfg, args.workers)
            t2 = time.perf_counter()
            serial.append(t1 - t0)
            pooled.append(t2 - t1)
            if a != b:
                sys.exit(f"pool and serial differ at {n} files")
        s, p = statistics.median(serial), statistics.median(pooled)
        print(f"| {len(part)} | {s:.3f} | {p:.3f} | {p / s:.2f} |")


def _pooled(part: list[tuple[str, str]], cfg: object, workers: int) -> list[object]:
    saved = pool.POOL_MIN_FILES
    pool.POOL_MIN_FILES = 0  # force the pool whatever the size
    try:
        return pool.parse_contents(part, cfg, workers=workers)  # type: ignore[arg-type,return-value]
    finally:
        pool.POOL_MIN_FILES = saved


if __name__ == "__main__":
    main()
