"""Mine commit tasks spread over the years of one big repository (issue 17's dev set).

Usage:
    python mine_bigrepo.py numpy/numpy:python --since 2016-01-01 --n 28 \
        --out /work/data/devsets/bigrepo-dev-numpy.jsonl

The time span [since, HEAD's commit time] is cut into n equal bins; in each bin the
non-merge commits are tried in a seeded random order (seed = the repository name, so a
rebuild from the same mirror gives the same tasks) until one passes the bench's filter:
2-8 changed source files that existed at the parent (tests and docs excluded), 4-600
changed lines, a cleaned message of at least 4 words, and not a merge/revert/release
commit. Tasks are written in commit-time order, so consecutive tasks are checkouts of a
newer tree of the same repository. A summary (tree size at HEAD, rough tokens = bytes/4)
goes to stderr.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mining import Commit, TaskFilter, git, list_commits, task_row  # noqa: E402

_SKIP_SUBJECT = re.compile(r"^(merge|revert|rel(ease)?\b|bump|update version|version bump|\[skip ci\]|maint: prepare )",
                           re.IGNORECASE)


def find_gitdir(root: str, repo: str) -> str:
    base = os.path.join(root, repo.replace("/", "+"), "repo")
    return os.path.join(base, ".git") if os.path.isdir(os.path.join(base, ".git")) else base


def tree_bytes(gitdir: str, rev: str) -> tuple[int, int]:
    """(number of blobs, total blob bytes) of the tree at rev (sizes from ls-tree -l)."""
    n = total = 0
    for line in git(gitdir, "ls-tree", "-r", "-l", rev).splitlines():
        meta = line.split("\t", 1)[0].split()
        if len(meta) == 4 and meta[1] == "blob" and meta[3].isdigit():
            n += 1
            total += int(meta[3])
    return n, total


def pick(commits: list[Commit], n: int, start: int, end: int, seed: str,
         accept) -> list[dict]:
    """One accepted task per time bin; bins without an acceptable commit stay empty."""
    bins: list[list[Commit]] = [[] for _ in range(n)]
    width = (end - start) / n
    for c in commits:
        if start <= c.time <= end:
            bins[min(int((c.time - start) / width), n - 1)].append(c)
    out = []
    for i, cands in enumerate(bins):
        rng = random.Random(int(hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:16], 16))
        cands = sorted(cands, key=lambda c: c.sha)
        rng.shuffle(cands)
        for c in cands[:400]:
            row = accept(c)
            if row is not None:
                out.append(row)
                break
    return sorted(out, key=lambda r: r["commit_time"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", help="OWNER/NAME:LANGUAGE")
    ap.add_argument("--mirrors", default=os.environ.get("CTXPACK_EVAL_MIRRORS", "/work/.mirror"))
    ap.add_argument("--since", default="2016-01-01")
    ap.add_argument("--n", type=int, default=28)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    repo, _, lang = args.repo.partition(":")
    gitdir = find_gitdir(args.mirrors, repo)
    flt = TaskFilter(min_gold=2, max_gold=8, min_lines=4, max_lines=600, min_query_words=4)

    def accept(c: Commit) -> dict | None:
        if _SKIP_SUBJECT.match(c.message):
            return None
        try:
            return task_row(gitdir, repo, lang or "python", c, flt)
        except RuntimeError:  # a blob the snapshot lacks
            return None

    commits = list_commits(gitdir, since=args.since)
    head_time = int(git(gitdir, "show", "-s", "--format=%ct", "HEAD").strip())
    start = min(c.time for c in commits)
    rows = pick(commits, args.n, start, head_time, repo, accept)
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    nfiles, nbytes = tree_bytes(gitdir, "HEAD")
    print(f"{repo}: {len(rows)} tasks from {len(commits)} commits since {args.since}; "
          f"HEAD tree {nfiles} files, {nbytes / 4e6:.2f}M rough tokens (bytes/4)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
