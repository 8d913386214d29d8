#!/usr/bin/env python3
"""The first pack after a ``git checkout`` that changes many files, against a from-scratch BM25 (issue 17).

For each repository of the task file, one clone of its mirror (``--mirrors``) is checked out
at the tasks' parent commits one after another, in commit order, sharing one index (a user
doing ``git checkout``). The first tree is indexed (``ctxpack index --no-embed``, timed, not
counted); then, after each following checkout:

- ``cli``: one cold ``ctxpack --debug pack`` process at 32K, then (the index directory put
  back as it was before that pack, so that it is a first pack too) one at 128K; each one
  updates the index itself before it packs (parses what changed; a big update goes to the
  journal, and the tables are written by a detached process after the answer: the next step
  waits for it, and the rows say how long it ran after the answer);
- ``daemon`` (``--daemon``; a second pass over the same commits, with its own index):
  ``ctxpack pack --daemon`` at 32K (the first pack: the daemon refreshes its repository),
  then at 128K (the second pack on that tree);
- the shared bench's ``bm25-files+code`` baseline (``recall.run_baseline``, in this process:
  it reads, counts, tokenizes and ranks the whole tree from scratch; its token counts are
  cached in ``SCRATCH/token-cache-o200k_base.sqlite`` as in every bench run) at both budgets.

It prints one row per checkout and a summary per repository: median and max first-pack wall
time, the BM25 median, and their ratio. Files parsed come from the pack's debug log.

Usage (PYTHONPATH = the tree under test; run it with ``nice``, one benchmark at a time):
    python benchmarks/bigrepo_checkout.py [--tasks /work/data/devsets/bigrepo-dev.jsonl]
        [--per-repo 8] [--mirrors /work/.mirror] [--scratch /tmp/ctxpack-bigrepo] [--daemon]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(os.environ.get("BENCH_DIR", "/work/shared/bench"))
sys.path.insert(0, str(BENCH))
import recall  # noqa: E402  (the bench harness: trees, baselines)

BUDGETS = (32_000, 128_000)
_LINE = re.compile(r"index update: (\d+) files parsed, (\d+) from the parse cache, (\d+) removed")
_FIRST = re.compile(r"answer first\): (\d+) files not parsed yet")  # answered before parsing (open_repo's answer_first)
_FOR_PACK = re.compile(r"parsed (\d+) files for this pack")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, out.stderr


def tables_written(index_dir: Path, timeout_s: float = 300) -> float:
    """Wait until the tables a pack writes behind its answer are written (nothing else runs
    meanwhile: the next step is timed); the seconds waited after the pack returned."""
    import fcntl

    from ctxpack.store.tables import IndexStore

    from ctxpack.store.tables import BEHIND_PID

    t0 = time.perf_counter()
    store = IndexStore(index_dir)
    while (store.fold_due() or (index_dir / BEHIND_PID).exists()) and time.perf_counter() - t0 < timeout_s:
        time.sleep(0.05)
    with open(index_dir / "write.lock", "a+") as fh:  # the writer's commit done
        fcntl.flock(fh, fcntl.LOCK_EX)
        fcntl.flock(fh, fcntl.LOCK_UN)
    return time.perf_counter() - t0


def spread(tasks: list[dict], n: int) -> list[dict]:
    """``n`` tasks evenly spaced over ``tasks`` (sorted by commit time), first and last included."""
    tasks = sorted(tasks, key=lambda t: t["commit_time"])
    if n >= len(tasks):
        return tasks
    return [tasks[round(i * (len(tasks) - 1) / (n - 1))] for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="/work/data/devsets/bigrepo-dev.jsonl")
    ap.add_argument("--per-repo", type=int, default=8, help="checkouts measured per repository (after the first)")
    ap.add_argument("--repo", action="append", help="only these repositories (owner/name)")
    ap.add_argument("--mirrors", default="/work/.mirror")
    ap.add_argument("--scratch", default="/tmp/ctxpack-bigrepo")
    ap.add_argument("--ctxpack", default=f"{sys.executable} -m ctxpack")
    ap.add_argument("--daemon", action="store_true", help="also a pass through pack --daemon")
    args = ap.parse_args()
    scratch = Path(args.scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    tasks = [json.loads(line) for line in open(args.tasks, encoding="utf-8") if line.strip()]
    repos = list(dict.fromkeys(t["repo"] for t in tasks if not args.repo or t["repo"] in args.repo))
    counter = recall.TokenCounter("o200k_base", str(scratch / "token-cache-o200k_base.sqlite"))
    cmd = args.ctxpack.split()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
          f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}; "
          f"CTXPACK_WORKERS={os.environ.get('CTXPACK_WORKERS', '(unset: the idle cores)')}", flush=True)
    modes = ["cli", "daemon"] if args.daemon else ["cli"]
    rows = []
    for repo in repos:
        chosen = spread([t for t in tasks if t["repo"] == repo], args.per_repo + 1)
        mirror = recall.find_mirror(args.mirrors, repo)
        for mode in modes:
            rows += run_repo(repo, mirror, chosen, mode, cmd, scratch, counter)
    print(summary(rows, modes))


def run_repo(repo: str, mirror: str, chosen: list[dict], mode: str, cmd: list[str], scratch: Path,
             counter: object) -> list[dict]:
    slug = repo.replace("/", "+")
    clone, index_dir, home = scratch / "wt" / slug, scratch / f"index-{mode}" / slug, scratch / f"home-{mode}"
    for p in (clone, index_dir):
        shutil.rmtree(p, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--no-checkout", mirror, str(clone)], check=True)
    env = {**os.environ, "CTXPACK_EMBED": "0", "CTXPACK_HOME": str(home), "CTXPACK_INDEX_DIR": str(index_dir)}
    git(clone, "checkout", "-q", "--detach", chosen[0]["parent"])
    wall, _ = run([*cmd, "index", str(clone), "--no-embed", "-q"], env, scratch)
    print(f"{repo} [{mode}]: first index at {chosen[0]['parent'][:10]} {wall:.1f}s", file=sys.stderr, flush=True)
    rows = []
    prev = chosen[0]["parent"]
    try:
        for task in chosen[1:]:
            changed = len(git(clone, "diff", "--name-only", prev, task["parent"]).splitlines())
            git(clone, "checkout", "-q", "--detach", task["parent"])
            prev = task["parent"]
            row = {"repo": repo, "mode": mode, "commit": task["parent"][:10], "changed": changed}
            pack = [*cmd, "--debug", "pack", str(clone), "--query", task["query"], "--no-embed", "-o", os.devnull]
            if mode == "cli":
                saved = scratch / "index-saved"
                shutil.rmtree(saved, ignore_errors=True)
                shutil.copytree(index_dir, saved, symlinks=True)
                for i, b in enumerate(BUDGETS):
                    if i:  # the index as the checkout found it: this pack is a first pack too
                        shutil.rmtree(index_dir)
                        shutil.copytree(saved, index_dir, symlinks=True)
                    wall, err = run([*pack, "--budget", str(b)], env, scratch)
                    row[f"t{b}"] = wall
                    row[f"behind{b}"] = tables_written(index_dir)
                    if (m := _LINE.search(err)) and not i:
                        row["parsed"], row["reused"] = int(m.group(1)), int(m.group(2))
                    if (m := _FIRST.search(err)) and not i:
                        row["parsed"] = f"{sum(int(x) for x in _FOR_PACK.findall(err))} for the pack"
                        row["reused"] = f"{m.group(1)} later"
            else:
                for b in BUDGETS:
                    wall, err = run([*pack, "--daemon", "--budget", str(b)], env, scratch)
                    row[f"t{b}"] = wall
            baseline = recall.run_baseline("bm25-files+code", task, str(clone), BUDGETS, counter, verify=False)
            for b, (pack_d, dt) in baseline.items():
                row[f"bm25_{b}"] = dt
                row["files"], row["tokens"] = pack_d["repo_files"], pack_d["repo_tokens"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        if mode == "daemon":
            subprocess.run([*cmd, "daemon", "--stop", str(index_dir)], env=env, cwd=scratch, capture_output=True)
    return rows


def summary(rows: list[dict], modes: list[str]) -> str:
    out = ["", ("| repo | pack | checkout | paths changed | parsed / from cache | pack 32K s | pack 128K s | "
                "BM25 32K s | BM25 128K s | tables written, s after the 32K answer |"),
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        parsed = f"{r['parsed']} / {r['reused']}" if "parsed" in r else ""
        behind = f"{r['behind32000']:.1f}" if "behind32000" in r else ""
        out.append(f"| {r['repo']} | {r['mode']} | {r['commit']} | {r['changed']} | {parsed} | {r['t32000']:.2f} | "
                   f"{r['t128000']:.2f} | {r['bm25_32000']:.2f} | {r['bm25_128000']:.2f} | {behind} |")
    out += ["", "| repo (files, tokens) | pack | budget | ctxpack median / max s | BM25 median / max s | "
            "median ratio | median of per-checkout ratios |", "|---|---|---:|---:|---:|---:|---:|"]
    for repo in dict.fromkeys(r["repo"] for r in rows):
        for mode in modes:
            rs = [r for r in rows if r["repo"] == repo and r["mode"] == mode]
            if not rs:
                continue
            files, tokens = statistics.median(r["files"] for r in rs), statistics.median(r["tokens"] for r in rs)
            size = f"{files:.0f} files, {tokens / 1e6:.1f}M tokens"
            for b in BUDGETS:
                t = [r[f"t{b}"] for r in rs]
                base = [r[f"bm25_{b}"] for r in rs]
                label = "first" if mode == "cli" or b == BUDGETS[0] else "second"
                out.append(f"| {repo} ({size}) | {mode} ({label}) | {b // 1000}K | {statistics.median(t):.2f} / "
                           f"{max(t):.2f} | {statistics.median(base):.2f} / {max(base):.2f} | "
                           f"{statistics.median(t) / statistics.median(base):.2f}x | "
                           f"{statistics.median(x / y for x, y in zip(t, base, strict=True)):.2f}x |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
