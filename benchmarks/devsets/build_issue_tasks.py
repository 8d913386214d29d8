"""Build issues-dev.jsonl (recall.py's task format) from transcribed issue texts.

Usage:
    python build_issue_tasks.py --texts /work/data/devsets/issue-texts \
        --out /work/data/devsets/issues-dev.jsonl --manifest /work/data/devsets/issues-manifest.jsonl

Input: text files (*.txt) of records, each opened by a header line

    @@@ISSUE OWNER/NAME#N | YYYY-MM-DD | FIX
    title: <issue title>
    <issue description, as the reporter wrote it (the search tool's excerpt)>

where YYYY-MM-DD is the day the issue was opened and FIX names the commit that fixed it:
a commit (prefix) of the repository, or "pr:M" for the commit of pull request M (a
squash "Subject (#M)" or a "Merge pull request #M" merge, whose first parent is the
parent). The texts come from the search tool's issues corpus, looked up by hand; this
script cannot fetch them, so the issue set cannot be rebuilt from git alone.

Each task: query = title + blank line + description; parent = the fix commit's (first)
parent; gold = the source files the fix changed (mining.is_source_path: tests and docs
out). Records whose issue is dated after the fix, or whose fix changes no existing
source file or more than 8, are dropped with a note on stderr. Extra fields:
issue, issue_url, issue_created.
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import re
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mining import Commit, TaskFilter, git, task_row  # noqa: E402

LANGUAGES = {  # the repository's main language, as recall.py reports it
    "vitejs/vite": "typescript", "prettier/prettier": "javascript", "axios/axios": "javascript",
    "go-chi/chi": "go", "urfave/cli": "go", "spf13/viper": "go",
}
_HEADER = re.compile(r"^@@@ISSUE\s+([\w.-]+/[\w.-]+)#(\d+)\s*\|\s*(\d{4}-\d{2}-\d{2})\s*\|\s*(\S+)\s*$")


@dataclass(frozen=True, slots=True)
class IssueText:
    repo: str
    number: int
    created: str
    fix: str
    title: str
    body: str
    source: str


def parse_texts(text: str, source: str = "") -> list[IssueText]:
    """Records of one transcription file, in file order.

    Raises:
        ValueError: a record has no "title:" line.
    """
    out: list[IssueText] = []
    cur: list[str] | None = None
    head = None

    def close() -> None:
        if head is None or cur is None:
            return
        if not cur or not cur[0].startswith("title:"):
            raise ValueError(f"{source}: record {head.group(1)}#{head.group(2)} has no title line")
        title = cur[0][len("title:"):].strip()
        body = "\n".join(cur[1:]).strip()
        out.append(IssueText(head.group(1), int(head.group(2)), head.group(3), head.group(4),
                             title, body, source))

    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            close()
            head, cur = m, []
        elif line.startswith("@@@ISSUE"):
            raise ValueError(f"{source}: bad header line {line!r}")
        elif cur is not None:
            cur.append(line)
    close()
    return out


def resolve_fix(gitdir: str, fix: str) -> Commit:
    """The fix commit: a sha (prefix), or pr:M (squash "(#M)" subject, else a PR merge).

    Raises:
        LookupError: no such commit or pull request in the history of HEAD.
    """
    if fix.startswith("pr:"):
        n = fix[3:]
        log = git(gitdir, "log", "--format=%H%x00%s", "HEAD")
        squash = re.compile(rf"\(#{n}\)\s*$")
        merge = re.compile(rf"^Merge pull request #{n}\b")
        sha = next((ln.split("\x00")[0] for ln in log.splitlines()
                    if squash.search(ln.split("\x00", 1)[1]) or merge.match(ln.split("\x00", 1)[1])), None)
        if sha is None:
            raise LookupError(f"no commit for pull request #{n}")
    else:
        try:
            sha = git(gitdir, "rev-parse", "--verify", "--quiet", f"{fix}^{{commit}}").strip()
        except RuntimeError:
            raise LookupError(f"no commit {fix}") from None
    parents, ct, msg = git(gitdir, "show", "-s", "--format=%P%x00%ct%x00%B", sha).split("\x00", 2)
    return Commit(sha, parents.split()[0], int(ct), msg.strip())


def find_gitdir(root: str, repo: str) -> str:
    base = os.path.join(root, repo.replace("/", "+"), "repo")
    return os.path.join(base, ".git") if os.path.isdir(os.path.join(base, ".git")) else base


def build(records: list[IssueText], mirrors: str, log=lambda s: None) -> list[dict]:
    """Task rows for records; one per fix commit (the first record wins), sorted by repo and time."""
    flt = TaskFilter(min_gold=1, max_gold=8, min_lines=1, max_lines=5000, min_query_words=0)
    rows: dict[str, dict] = {}
    for r in records:
        gitdir = find_gitdir(mirrors, r.repo)
        try:
            c = resolve_fix(gitdir, r.fix)
        except (LookupError, RuntimeError) as e:
            log(f"skip {r.repo}#{r.number}: {e}")
            continue
        created = dt.date.fromisoformat(r.created)
        if created > dt.datetime.fromtimestamp(c.time, dt.timezone.utc).date():
            log(f"skip {r.repo}#{r.number}: issue opened {created} after the fix {c.sha[:10]}")
            continue
        query = f"{r.title}\n\n{r.body}".strip()
        row = task_row(gitdir, r.repo, LANGUAGES.get(r.repo, "python"), c, flt, query=query)
        if row is None:
            log(f"skip {r.repo}#{r.number}: fix {c.sha[:10]} changes no (or too many) source files")
            continue
        if row["id"] in rows:
            log(f"skip {r.repo}#{r.number}: fix {c.sha[:10]} already used by another issue")
            continue
        row["issue"] = r.number
        row["issue_url"] = f"https://github.com/{r.repo}/issues/{r.number}"
        row["issue_created"] = r.created
        rows[row["id"]] = row
    return sorted(rows.values(), key=lambda t: (t["repo"], t["commit_time"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", required=True, help="folder of *.txt transcriptions")
    ap.add_argument("--mirrors", default=os.environ.get("CTXPACK_EVAL_MIRRORS", "/work/.mirror"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--manifest", help="also write repo, issue, url, fix commit per task here")
    args = ap.parse_args(argv)
    records: list[IssueText] = []
    for path in sorted(glob.glob(os.path.join(args.texts, "*.txt"))):
        with open(path, encoding="utf-8") as f:
            records += parse_texts(f.read(), os.path.basename(path))
    rows = build(records, args.mirrors, log=lambda s: print(s, file=sys.stderr))
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({k: r[k] for k in ("id", "repo", "issue", "issue_url", "issue_created",
                                                      "commit", "parent", "gold_files")}) + "\n")
    per_repo: dict[str, int] = {}
    for r in rows:
        per_repo[r["repo"]] = per_repo.get(r["repo"], 0) + 1
    print(f"{len(rows)} tasks from {len(records)} records: {per_repo}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
