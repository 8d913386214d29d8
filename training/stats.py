"""Counts for the data card: pairs, time span, regions and bug-report-style messages per repository.

Usage: python training/stats.py --pairs /work/data/model/pairs --holdout training/holdout.txt \
           --exclude /work/data/devsets/EXCLUDE.txt --exclude training/devbench.txt > stats.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train import read_list  # noqa: E402

from ctxpack.languages import language_for  # noqa: E402

STRICT = {"traceback", "expected_actual", "code"}


def year(t: int | None) -> str:
    return time.strftime("%Y-%m", time.gmtime(t)) if t else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--holdout", required=True)
    ap.add_argument("--exclude", action="append", default=[])
    args = ap.parse_args(argv)
    holdout = read_list(args.holdout)
    excluded = {r for f in args.exclude for r in read_list(f)}
    rows = []
    totals: Counter[str] = Counter()
    for f in sorted(Path(args.pairs).glob("*.stats.json")):
        st = json.loads(f.read_text())
        repo = st["repo"]
        pairs_file = f.parent / f"{repo.replace('/', '+')}.jsonl"
        if not pairs_file.exists():
            print(f"<!-- {repo}: pairs file missing -->")
            continue
        split = "excluded" if repo.lower() in excluded else "held-out" if repo.lower() in holdout else "train"
        langs: Counter[str] = Counter()
        flags: Counter[str] = Counter()
        n = pos = 0
        for line in pairs_file.open():
            d = json.loads(line)
            n += 1
            pos += len(d["positives"])
            langs.update(language_for(r["path"]) for r in d["positives"])
            flags.update(d["bug_style"])
            flags["any"] += bool(d["bug_style"])
            flags["strict"] += bool(STRICT & set(d["bug_style"]))
        lang = langs.most_common(1)[0][0] if langs else "-"
        rows.append((split, repo, lang, n, st.get("candidates", 0), year(st.get("first_time")), year(st.get("last_time")),
                     round(pos / max(n, 1), 1), flags["any"], flags["strict"]))
        for k in (split, f"{split}:{lang}"):
            totals[k] += n
        for k, v in flags.items():
            totals[f"{split}:bug:{k}"] += v
    print("| split | repository | main language | pairs | candidate commits | first | last | positives/pair | bug-style | strict |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows):
        print("| " + " | ".join(str(x) for x in r) + " |")
    print()
    for k, v in sorted(totals.items()):
        print(f"- {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
