#!/usr/bin/env python3
"""A branch switch and back (issue 17): ``ctxpack pack`` right after ``git checkout``, two builds in one run.

The repository is cloned twice into a temporary directory (a local clone: the source
repository is only read), one clone per build, each checked out at commit A and indexed
(``ctxpack index --no-embed``, timed). Then, for each build in turn, the clone is checked
out at B (``--back`` first-parent commits before A), back at A, and at B again, and after
each checkout one cold ``ctxpack --debug pack`` process is timed (lexical lane; its index
update happens inside it). The files parsed are read from the new build's debug log
(``index update: N files parsed, M from the parse cache``); a build without that line (the
baseline, which has no parse cache) parses every changed file the index update reads,
which is N + M of the other build at the same step.

Usage:
    python benchmarks/branch_switch.py REPO [--back 100] [--commit A] [--runs 1]
        [--base "/work/bin/ctxpack-base"] [--new "python -m ctxpack"]
Run it with PYTHONPATH set to the tree under test (the default --new runs it).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUERY = "fix the error raised when an argument has the wrong type"
_LINE = re.compile(r"index update: (\d+) files parsed, (\d+) from the parse cache, (\d+) removed")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{shlex.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, out.stderr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", type=Path)
    ap.add_argument("--back", type=int, default=100)
    ap.add_argument("--commit", default="HEAD")
    ap.add_argument("--budget", type=int, default=32_000)
    ap.add_argument("--base", default="/work/bin/ctxpack-base")
    ap.add_argument("--new", default=f"{sys.executable} -m ctxpack")
    args = ap.parse_args()
    a = git(args.repo, "rev-parse", args.commit).strip()
    b = git(args.repo, "rev-list", "--first-parent", f"--skip={args.back}", "-n1", a).strip()
    changed = len(git(args.repo, "diff", "--name-only", a, b).splitlines())
    name = args.repo.parent.name if args.repo.name in ("repo", ".git") else args.repo.name
    print(f"{name}: A={a[:10]} B={b[:10]} ({args.back} first-parent commits back), "
          f"{changed} paths differ (all files, indexed or not); "
          f"CTXPACK_WORKERS={os.environ.get('CTXPACK_WORKERS', '(unset: the idle cores)')}")
    builds = {"base": shlex.split(args.base), "new": shlex.split(args.new)}
    with tempfile.TemporaryDirectory(prefix="branch-switch-") as tmp:
        rows: list[tuple[str, str, float, str]] = []
        clones = {}
        for name, cmd in builds.items():
            clone = Path(tmp) / name
            subprocess.run(["git", "clone", "-q", "--no-checkout", str(args.repo), str(clone)], check=True)
            git(clone, "checkout", "-q", "--detach", a)
            env = {**os.environ, "CTXPACK_EMBED": "0", "CTXPACK_HOME": str(Path(tmp) / f"home-{name}")}
            wall, _ = run([*cmd, "index", str(clone), "--no-embed", "-q"], env)
            rows.append((name, "cold index at A", wall, ""))
            clones[name] = (clone, env)
        for step, commit in (("checkout B, pack", b), ("checkout A (back), pack", a), ("checkout B again, pack", b)):
            for name, cmd in builds.items():
                clone, env = clones[name]
                git(clone, "checkout", "-q", "--detach", commit)
                wall, err = run([*cmd, "--debug", "pack", str(clone), "--query", QUERY, "--budget", str(args.budget),
                                 "--no-embed", "-o", os.devnull], env)
                m = _LINE.search(err)
                rows.append((name, step, wall, f"{m.group(1)} parsed, {m.group(2)} from the parse cache" if m else ""))
            # a build without the log line has no parse cache: it parses every changed file the other one read
            read = [int(x) for r in rows[-len(builds):] if (m := re.match(r"(\d+) parsed, (\d+)", r[3]))
                    for x in m.groups()]
            rows[-len(builds):] = [(n, st, w, p or (f"{sum(read)} (every changed file)" if read else "?"))
                                   for n, st, w, p in rows[-len(builds):]]
    print("\n| build | step | wall s | files parsed |")
    print("|---|---|---:|---|")
    for name, step, wall, parsed in rows:
        print(f"| {name} | {step} | {wall:.2f} | {parsed} |")


if __name__ == "__main__":
    main()
