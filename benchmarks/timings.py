#!/usr/bin/env python3
"""Index and pack timings on a real repository, next to a baseline measured in the same run.

Baseline: read every file ctxpack would consider and count its tokens exactly once with
tiktoken (the least any exact packer must do). Figures:

* cold index (fresh index dir, lexical lane: discover, parse, chunk, count, write LanceDB);
* no-op refresh (nothing changed);
* one-file edit -> refreshed index;
* cold `ctxpack pack` process (new interpreter, index fresh) at 8K / 32K / 128K;
* the same command with ``--daemon`` once its daemon is warm, at 8K / 32K / 128K;
* warm pack in a running process (index loaded once) at 8K / 32K / 128K, median of N.

Usage: python benchmarks/timings.py REPO [--runs 5] [--query "..."]
REPO is any directory (e.g. a tree materialized from a fetched repository; never commit it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.index.discover import list_candidates, read_source
from ctxpack.models import Skipped
from ctxpack.serve.daemon_client import is_running, stop_daemon
from ctxpack.tokens import get_counter

BUDGETS = (8_000, 32_000, 128_000)


def _baseline(repo: Path) -> tuple[float, int, int]:
    cfg = load_config(repo)
    counter = get_counter(cfg.encoding)
    t0 = time.perf_counter()
    cands, _ = list_candidates(repo, cfg)
    total = n = 0
    for c in cands:
        got = read_source(repo, c)
        if not isinstance(got, Skipped):
            total += counter.count(got.text)
            n += 1
    return time.perf_counter() - t0, n, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--query", default="fix the error raised when the configuration file is missing a value")
    args = ap.parse_args()
    repo = args.repo.resolve()
    get_counter("o200k_base")  # load the tokenizer outside every timing

    base_s, n_files, n_tokens = _baseline(repo)
    idx = Path(tempfile.mkdtemp(prefix="ctxpack-bench-"))
    try:
        cfg = load_config(repo, index_dir=str(idx))
        t0 = time.perf_counter()
        stats = build_index(repo, cfg)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_index(repo, cfg)
        noop = time.perf_counter() - t0

        cold_proc: dict[int, float] = {}
        exe = [sys.executable, "-m", "ctxpack", "pack", str(repo), "--query", args.query, "--index-dir", str(idx),
               "--format", "json", "-q"]
        for b in BUDGETS:
            times = []
            for _ in range(max(1, args.runs // 2)):
                t0 = time.perf_counter()
                subprocess.run([*exe, "--budget", str(b)], check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - t0)
            cold_proc[b] = statistics.median(times)

        # The same command with --daemon: the first run starts the daemon, the timed ones use it.
        daemon_proc: dict[int, float] = {}
        subprocess.run([*exe, "--budget", "8000", "--daemon"], check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not is_running(idx.resolve()) and time.monotonic() < deadline:
            time.sleep(0.05)
        # One untimed request: the daemon loads the index.
        subprocess.run([*exe, "--budget", "8000", "--daemon"], check=True, stdout=subprocess.DEVNULL)
        for b in BUDGETS:
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                subprocess.run([*exe, "--budget", str(b), "--daemon"], check=True, stdout=subprocess.DEVNULL)
                times.append(time.perf_counter() - t0)
            daemon_proc[b] = statistics.median(times)
        stop_daemon(idx.resolve())

        t0 = time.perf_counter()
        r = open_repo(repo, cfg)
        load_s = time.perf_counter() - t0
        warm: dict[int, float] = {}
        for b in BUDGETS:
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                pack_for(r, args.query, budget=b)
                times.append(time.perf_counter() - t0)
            warm[b] = statistics.median(times)

        # one-file edit -> refreshed, re-ranked pack
        victim = next(p for p in sorted(r.snapshot.files) if r.snapshot.files[p].language != "text")
        path = repo / victim
        original = path.read_bytes()
        try:
            path.write_bytes(original + b"\n")
            t0 = time.perf_counter()
            r2 = open_repo(repo, cfg)
            pack_for(r2, args.query, budget=32_000)
            edit_s = time.perf_counter() - t0
        finally:
            path.write_bytes(original)
            os.utime(path)
    finally:
        shutil.rmtree(idx, ignore_errors=True)

    print(f"repository: {repo.name}: {n_files} files, {n_tokens:,} tokens; {stats.chunks} chunks, {stats.symbols} symbols")
    print()
    print("| step | seconds | vs baseline (read + count every file once) |")
    print("|---|---|---|")
    print(f"| baseline: read + count every file | {base_s:.3f} | 1.00x |")
    print(f"| cold index (lexical lane) | {cold:.3f} | {cold / base_s:.2f}x |")
    print(f"| refresh, nothing changed | {noop:.3f} | {noop / base_s:.2f}x |")
    print(f"| one-file edit -> refreshed pack @32K | {edit_s:.3f} | {edit_s / base_s:.2f}x |")
    print(f"| load index in a process | {load_s:.3f} | {load_s / base_s:.2f}x |")
    for b in BUDGETS:
        print(f"| cold `ctxpack pack` process @{b // 1000}K | {cold_proc[b]:.3f} | {cold_proc[b] / base_s:.2f}x |")
    for b in BUDGETS:
        print(f"| `ctxpack pack --daemon` process, daemon warm @{b // 1000}K (median of {args.runs}) "
              f"| {daemon_proc[b]:.3f} | {daemon_proc[b] / base_s:.2f}x |")
    for b in BUDGETS:
        print(f"| warm pack in process @{b // 1000}K (median of {args.runs}) | {warm[b]:.4f} | {warm[b] / base_s:.3f}x |")


if __name__ == "__main__":
    main()
