#!/usr/bin/env python3
"""Capture or compare the packs of the sample repositories (issue 16: reshape without behaviour change).

For every sample repository (``sample_repos/shop_api``, ``ratelimit_go``, ``taskboard_web`` and each
``sample_repos/lang/*``), three queries and two budgets, this runs the real CLI in a fresh process::

    ctxpack pack REPO --query Q --budget B --format json --no-embed --index-dir TMP

and stores stdout (plus a few other formats for the first query) under OUT. Each repository is
copied to a temporary directory and committed to a fresh git repository with fixed dates, so the
history lane sees the same commits whatever this checkout's own history is.

Usage:
    python benchmarks/behaviour_snapshot.py capture OUT     # write OUT/<repo>/<case>.<fmt>
    python benchmarks/behaviour_snapshot.py compare OUT     # exit 1 and list differences if any

Run it with ``PYTHONPATH`` set to the tree under test; outputs are not committed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_repos"
BUDGETS = (8_000, 128_000)
EXTRA_FORMATS = ("xml", "markdown", "plain")

QUERIES: dict[str, tuple[str, str, str]] = {
    "shop_api": (
        "add a discount code to checkout",
        "retry the payment gateway with exponential backoff",
        "send an order confirmation email after payment",
    ),
    "ratelimit_go": (
        "add a per-key limit override to the token bucket",
        "expose the number of rejected requests as a Prometheus metric",
        "make the memory store janitor interval configurable",
    ),
    "taskboard_web": (
        "show overdue tasks first when sorting",
        "add an assignee filter to the filter bar",
        "retry failed API requests once after a timeout",
    ),
}
LANG_QUERIES = (
    "add an item to the inventory and update the total",
    "normalize item names before saving them",
    "raise an error when the inventory is full",
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "snapshot",
    "GIT_AUTHOR_EMAIL": "snapshot@example.invalid",
    "GIT_COMMITTER_NAME": "snapshot",
    "GIT_COMMITTER_EMAIL": "snapshot@example.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}


@dataclass(frozen=True, slots=True)
class Case:
    repo: str
    query: str
    budget: int
    fmt: str

    @property
    def name(self) -> str:
        index = self.queries().index(self.query)
        return f"q{index}-b{self.budget}.{self.fmt}"

    def queries(self) -> tuple[str, ...]:
        return QUERIES.get(self.repo, LANG_QUERIES)


def _repos() -> list[str]:
    names = [name for name in QUERIES if (SAMPLES / name).is_dir()]
    lang = SAMPLES / "lang"
    names += [f"lang/{p.name}" for p in sorted(lang.iterdir()) if p.is_dir()]
    return names


def _cases(repo: str) -> list[Case]:
    queries = QUERIES.get(repo, LANG_QUERIES)
    cases = [Case(repo, q, b, "json") for q in queries for b in BUDGETS]
    cases += [Case(repo, queries[0], BUDGETS[0], fmt) for fmt in EXTRA_FORMATS]
    return cases


def _materialize(repo: str, dest: Path) -> Path:
    tree = dest / repo.replace("/", "_")
    shutil.copytree(SAMPLES / repo, tree)
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "sample repository"]):
        subprocess.run(["git", *args], cwd=tree, env=env, check=True, capture_output=True)
    return tree


def _pack(tree: Path, index_dir: Path, case: Case) -> bytes:
    cmd = [sys.executable, "-m", "ctxpack", "pack", str(tree), "--query", case.query,
           "--budget", str(case.budget), "--format", case.fmt, "--no-embed", "--index-dir", str(index_dir), "-q"]
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ctxpack failed ({done.returncode}) on {case}: {done.stderr.decode()[-2000:]}")
    return done.stdout


def _run_all(work: Path) -> dict[str, bytes]:
    outputs: dict[str, bytes] = {}
    for repo in _repos():
        tree = _materialize(repo, work)
        index_dir = work / "index" / repo.replace("/", "_")
        for case in _cases(repo):
            outputs[f"{repo}/{case.name}"] = _pack(tree, index_dir, case)
        print(f"{repo}: {len(_cases(repo))} packs", file=sys.stderr)
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("capture", "compare"))
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    # A fixed work path: the packs must not depend on where the copy lives, but keep it stable anyway.
    with tempfile.TemporaryDirectory(prefix="ctxpack-snapshot-") as tmp:
        outputs = _run_all(Path(tmp))
    if args.action == "capture":
        for key, data in outputs.items():
            path = args.out / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        print(f"captured {len(outputs)} outputs in {args.out}", file=sys.stderr)
        return 0
    differ = [key for key, data in outputs.items() if (args.out / key).read_bytes() != data]
    missing = sorted(str(p.relative_to(args.out)) for p in args.out.rglob("*.*") if p.is_file()
                     and str(p.relative_to(args.out)) not in outputs)
    for key in differ:
        print(f"DIFFERS: {key}", file=sys.stderr)
    for key in missing:
        print(f"NOT PRODUCED: {key}", file=sys.stderr)
    same = len(outputs) - len(differ)
    print(f"{same}/{len(outputs)} outputs byte-identical", file=sys.stderr)
    return 1 if differ or missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
