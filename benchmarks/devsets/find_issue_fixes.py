"""List commits that say they fix a GitHub issue: candidates for issue-style dev tasks.

Usage:
    python find_issue_fixes.py --mirrors /work/.mirror --since 2016-01-01 \
        pallets/click:python psf/black:python ... > candidates.jsonl

One JSON line per commit whose message references an issue of its own repository
("Fixes #N", "closes gh-N", an issues/N URL) and whose source-file change passes the
filter (1-4 existing gold source files, 2-300 changed lines). The fields are the task
row (without a query) plus "issues" (numbers referenced) and "pr" (squash "(#N)").
The issue texts themselves come from the search tool's issues corpus, by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mining import TaskFilter, issue_refs, list_commits, task_row  # noqa: E402


def find_gitdir(root: str, repo: str) -> str:
    base = os.path.join(root, repo.replace("/", "+"), "repo")
    return os.path.join(base, ".git") if os.path.isdir(os.path.join(base, ".git")) else base


def candidates(gitdir: str, repo: str, language: str, since: str | None, flt: TaskFilter):
    """Yield candidate rows for repo, newest first."""
    for c in list_commits(gitdir, since=since):
        nums, pr = issue_refs(c.message, repo)
        nums = [n for n in nums if n != pr]
        if not nums:
            continue
        try:
            row = task_row(gitdir, repo, language, c, flt, query="")
        except RuntimeError:  # a blob the snapshot lacks (files >= 4 MiB)
            continue
        if row is None:
            continue
        row.pop("query")
        row["issues"] = nums
        row["pr"] = pr
        yield row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repos", nargs="+", help="OWNER/NAME:LANGUAGE")
    ap.add_argument("--mirrors", default=os.environ.get("CTXPACK_EVAL_MIRRORS", "/work/.mirror"))
    ap.add_argument("--since", default="2016-01-01")
    ap.add_argument("--max-gold", type=int, default=4)
    ap.add_argument("--max-lines", type=int, default=300)
    args = ap.parse_args(argv)
    flt = TaskFilter(min_gold=1, max_gold=args.max_gold, min_lines=2, max_lines=args.max_lines,
                     min_query_words=0)
    for spec in args.repos:
        repo, _, lang = spec.partition(":")
        n = 0
        for row in candidates(find_gitdir(args.mirrors, repo), repo, lang or "python", args.since, flt):
            sys.stdout.write(json.dumps(row) + "\n")
            n += 1
        print(f"{repo}: {n} candidates", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
