#!/usr/bin/env python3
"""The first ``ctxpack pack`` on a never-indexed repository, against reading and counting every file once (issue 17).

In one run, alternating, ``--runs`` times:

- **baseline**: read every file ctxpack would consider and count its tokens exactly once with
  tiktoken, in a fresh process (``benchmarks/timings.py``'s baseline: the least an exact packer does);
- **first pack**: a cold ``ctxpack pack`` process with an empty index directory (it answers
  before parsing, ``open_repo``'s answer_first, and builds the index in a detached child after
  its answer): wall and CPU time of the command, then how long the index took behind it;
- **index then pack**: ``ctxpack index`` then ``ctxpack pack`` (what a first run cost before
  answer_first, and what ``ctxpack index`` still costs), wall and CPU.

CPU time is the process's user + system time (``resource`` of the children). Prints a table and
the ratios to the baseline.

Usage: python benchmarks/first_run.py REPO [--runs 3] [--budget 32000] [--query "..."]
REPO is any directory (e.g. a tree materialized from a fetched repository; never commit it).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = """
import sys
from pathlib import Path
from ctxpack import load_config
from ctxpack.index.discover import list_candidates, read_source
from ctxpack.models import Skipped
from ctxpack.tokens import get_counter
repo = Path(sys.argv[1])
cfg = load_config(repo)
counter = get_counter(cfg.encoding)
n = total = 0
for c in list_candidates(repo, cfg)[0]:
    got = read_source(repo, c)
    if not isinstance(got, Skipped):
        total += counter.count(got.text)
        n += 1
print(n, total)
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one command (and its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out.stdout


def wait_behind(index_dir: Path, timeout_s: float = 600) -> float:
    """Seconds until the detached child that writes the index after the answer is done."""
    t0 = time.perf_counter()
    while (index_dir / "behind.pid").exists() and time.perf_counter() - t0 < timeout_s:
        time.sleep(0.05)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--budget", type=int, default=32_000)
    ap.add_argument("--query", default="fix the error raised when the configuration file is missing a value")
    args = ap.parse_args()
    repo = args.repo.resolve()
    scratch = Path(tempfile.mkdtemp(prefix="ctxpack-first-"))
    env = {**os.environ, "CTXPACK_EMBED": "0", "CTXPACK_HOME": str(scratch / "home")}
    env.pop("CTXPACK_DAEMON", None)
    py = [sys.executable]
    ctx = [*py, "-m", "ctxpack"]
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.2f}; repo {repo.name}; budget {args.budget}", flush=True)
    rows: dict[str, list[tuple[float, float]]] = {"baseline": [], "first pack": [], "index then pack": []}
    behind: list[float] = []
    files = tokens = 0
    try:
        for run in range(args.runs):
            wall, cpu, out = timed([*py, "-c", BASELINE, str(repo)], env)
            files, tokens = map(int, out.split())
            rows["baseline"].append((wall, cpu))
            idx = scratch / f"idx-first-{run}"
            pack = [*ctx, "pack", str(repo), "--query", args.query, "--budget", str(args.budget), "-q", "-o",
                    os.devnull, "--index-dir", str(idx)]
            rows["first pack"].append(timed(pack, env)[:2])
            behind.append(wait_behind(idx))
            idx2 = scratch / f"idx-index-{run}"
            w1, c1, _ = timed([*ctx, "index", str(repo), "--no-embed", "-q", "--index-dir", str(idx2)], env)
            w2, c2, _ = timed([*pack[:-1], str(idx2)], env)
            rows["index then pack"].append((w1 + w2, c1 + c2))
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f}s wall / {v[-1][1]:.2f}s cpu"
                                                 for k, v in rows.items()) + f"; index behind {behind[-1]:.1f}s",
                  file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base_w = statistics.median(w for w, _ in rows["baseline"])
    base_c = statistics.median(c for _, c in rows["baseline"])
    print(f"\n{files} files, {tokens:,} tokens; median of {args.runs} runs\n")
    print("| step | wall s | CPU s | wall / baseline | CPU / baseline |")
    print("|---|---:|---:|---:|---:|")
    for k, v in rows.items():
        w, c = statistics.median(x for x, _ in v), statistics.median(y for _, y in v)
        print(f"| {k} | {w:.2f} | {c:.2f} | {w / base_w:.2f}x | {c / base_c:.2f}x |")
    print(f"\nThe index written behind the first pack's answer took {statistics.median(behind):.1f} s more (median).")


if __name__ == "__main__":
    main()
