"""Shared helpers for mining dev-set tasks from git history (recall.py's task format).

The rules follow ../shared/bench/README.md:
- gold = the changed *source* files of the edit commit (code extensions of recall.py's
  CODE_EXT), tests and docs excluded, as paths at the parent (renames: the old path);
- gold_existing = the gold files that existed at the parent (what recall.py scores);
- query = the cleaned commit message (subject + body, without issue/PR references,
  trailers, squash-merge bullet lists and URLs), cut at QUERY_MAX_CHARS.

Everything here reads a git directory (a `fetch` mirror) and returns plain values;
nothing is written and nothing is printed.
"""
from __future__ import annotations

import posixpath
import re
import subprocess
from dataclasses import dataclass, field

__all__ = [
    "CODE_EXT",
    "Change",
    "Commit",
    "QUERY_MAX_CHARS",
    "clean_message",
    "commit_changes",
    "git",
    "is_source_path",
    "issue_refs",
    "list_commits",
    "n_tracked_files",
    "task_row",
]

# recall.py's CODE_EXT: the extensions the bench counts as code.
CODE_EXT = frozenset({
    ".py", ".pyi", ".go", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".mts", ".cts",
    ".rs", ".c", ".h", ".cc", ".cpp", ".hpp", ".java", ".kt", ".rb", ".php", ".swift",
    ".cs", ".scala", ".vue", ".svelte",
})
QUERY_MAX_CHARS = 1000

# Directory names whose files are tests, test data or documentation, not the code an edit needs.
_NON_SOURCE_DIRS = frozenset({
    "test", "tests", "testing", "__tests__", "__test__", "spec", "specs", "testdata",
    "test-data", "test_data", "fixtures", "__fixtures__", "__snapshots__", "e2e",
    "playground", "doc", "docs", "examples", "example", "benchmarks", "bench",
})
_TEST_FILE = re.compile(
    r"(^test_.*\.py$|.*_test\.py$|^conftest\.py$|.*_test\.go$|"
    r".*\.(test|spec)\.(js|mjs|cjs|jsx|ts|tsx|mts|cts)$)"
)


def git(gitdir: str, *args: str) -> str:
    """Run git on a git directory and return stdout.

    Raises:
        RuntimeError: git exited non-zero (its stderr is in the message).
    """
    r = subprocess.run(["git", "--git-dir", gitdir, "-c", "core.quotePath=false", *args],
                       capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:3])} failed in {gitdir}: {r.stderr.strip()[:300]}")
    return r.stdout


def is_source_path(path: str) -> bool:
    """True if path is a code file (CODE_EXT) outside test and doc folders and not a test file."""
    if posixpath.splitext(path)[1].lower() not in CODE_EXT:
        return False
    parts = path.split("/")
    if any(p.lower() in _NON_SOURCE_DIRS for p in parts[:-1]):
        return False
    return not _TEST_FILE.match(parts[-1])


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    parent: str
    time: int
    message: str


@dataclass(frozen=True, slots=True)
class Change:
    """One changed file of a commit: status M/A/D/R, path at the parent (added: new path)."""

    path: str
    status: str
    added: int
    deleted: int


def list_commits(gitdir: str, rev: str = "HEAD", since: str | None = None,
                 first_parent: bool = False) -> list[Commit]:
    """Non-merge commits reachable from rev, newest first (root commits skipped)."""
    args = ["log", "--no-merges", "--format=%H%x00%P%x00%ct%x00%B%x1e"]
    if first_parent:
        args.append("--first-parent")
    if since:
        args.append(f"--since={since}")
    out = []
    for rec in git(gitdir, *args, rev).split("\x1e"):
        rec = rec.lstrip("\n")
        if not rec:
            continue
        sha, parents, ct, msg = rec.split("\x00", 3)
        parents_l = parents.split()
        if len(parents_l) != 1:
            continue
        out.append(Commit(sha, parents_l[0], int(ct), msg.strip()))
    return out


def commit_changes(gitdir: str, parent: str, sha: str) -> list[Change]:
    """Changed files between parent and sha with rename detection, as Change values."""
    ns = git(gitdir, "diff", "--no-color", "--no-ext-diff", "-M", "--name-status", "-z", parent, sha)
    nums = git(gitdir, "diff", "--no-color", "--no-ext-diff", "-M", "--numstat", "-z", parent, sha)
    counts: dict[str, tuple[int, int]] = {}
    toks = nums.split("\x00")
    i = 0
    while i < len(toks):
        head = toks[i]
        if not head:
            i += 1
            continue
        a, d, path = head.split("\t", 2)
        if path == "":  # rename: the two paths follow
            path = toks[i + 2]
            i += 3
        else:
            i += 1
        counts[path] = (int(a) if a.isdigit() else 0, int(d) if d.isdigit() else 0)
    out = []
    toks = ns.split("\x00")
    i = 0
    while i < len(toks):
        st = toks[i]
        if not st:
            i += 1
            continue
        code = st[0]
        if code in "RC":
            old, new = toks[i + 1], toks[i + 2]
            i += 3
            a, d = counts.get(new, (0, 0))
            if code == "C":
                out.append(Change(new, "A", a, d))
            else:
                out.append(Change(old, "R", a, d))
            continue
        path = toks[i + 1]
        i += 2
        a, d = counts.get(path, (0, 0))
        out.append(Change(path, code if code in "MAD" else "M", a, d))
    return out


def n_tracked_files(gitdir: str, rev: str) -> int:
    return sum(1 for _ in git(gitdir, "ls-tree", "-r", "--name-only", "-z", rev).split("\x00") if _)


_REF_WORDS = r"(?:fix(?:e[sd])?|close[sd]?|resolve[sd]?|refs?|see|addresse[sd]|related to)"
_ISSUE_REF = re.compile(
    _REF_WORDS + r"[:\s]+(?:issue\s+)?(?:(?:#|gh-|GH-)(\d+)|https?://github\.com/([\w.-]+/[\w.-]+)/issues/(\d+))",
    re.IGNORECASE,
)
_PR_SUFFIX = re.compile(r"\s*\((?:#|gh-|GH-)(\d+)\)\s*$")


def issue_refs(message: str, repo: str) -> tuple[list[int], int | None]:
    """Issue numbers a commit message says it fixes/closes, and the squash-merge PR number.

    Returns:
        (issue numbers in order of appearance, PR number from a "Subject (#N)" or None).
        URLs to other repositories' issues are ignored.
    """
    nums: list[int] = []
    for m in _ISSUE_REF.finditer(message):
        if m.group(1):
            n = int(m.group(1))
        elif m.group(2) and m.group(2).lower() == repo.lower():
            n = int(m.group(3))
        else:
            continue
        if n not in nums:
            nums.append(n)
    subject = message.split("\n", 1)[0]
    pm = _PR_SUFFIX.search(subject)
    return nums, (int(pm.group(1)) if pm else None)


_TRAILER = re.compile(
    r"^\s*(signed-off-by|co-authored-by|co-developed-by|reviewed-by|acked-by|tested-by|"
    r"reported-by|suggested-by|helped-by|cc|change-id|pr-url|pr-close|fixes|closes|"
    r"resolves|refs|see also|backport-of|cherry picked from)\b.*$",
    re.IGNORECASE,
)
_REF_ONLY = re.compile(
    r"^\s*[-*]?\s*(?:" + _REF_WORDS + r")?[:\s]*(?:issue\s+)?(?:(?:#|gh-|GH-)\d+[\s,.;]*(?:and\s+)?)+\.?\s*$",
    re.IGNORECASE,
)
_URL_ONLY = re.compile(r"^\s*[-*]?\s*(?:\[\d+\]:?\s*)?<?https?://\S+>?\s*$")
_RULE = re.compile(r"^\s*(?:-{3,}|={3,}|\*{3,})\s*$")
_LEAD_EMOJI = re.compile(r"^(?::[a-z0-9_+-]+:\s*)+")
_INLINE_REF = re.compile(
    r"\s*\b(?:" + _REF_WORDS + r")(?::\s*(?:#|gh-|GH-)?\d+|\s+(?:#|gh-|GH-)\d+)\b\.?", re.IGNORECASE
)
_EMPTY_PARENS = re.compile(r"\s+\(\s*\)")
_SKIP_TAGS = re.compile(r"^\s*\[(?:skip ci|ci skip|skip actions|no ci)\]\s*", re.IGNORECASE)


def clean_message(message: str, max_chars: int = QUERY_MAX_CHARS) -> str:
    """The commit message as an edit instruction.

    Drops: a trailing "(#N)" PR number and leading ":emoji:" codes in the subject, inline
    "fixes #N" phrases, lines that are only an issue reference or a URL, trailers
    (Signed-off-by, Co-authored-by, Fixes, ...), and squash-merge bullet paragraphs
    ("* commit subject" lines after a "(#N)" subject). Cuts at max_chars.
    """
    lines = message.strip().splitlines()
    if not lines:
        return ""
    subject = lines[0]
    squash = bool(_PR_SUFFIX.search(subject))
    subject = _PR_SUFFIX.sub("", subject)
    subject = _SKIP_TAGS.sub("", _LEAD_EMOJI.sub("", subject.strip())).strip()
    subject = _EMPTY_PARENS.sub("", _INLINE_REF.sub("", subject)).strip(" -")
    body: list[str] = []
    for ln in lines[1:]:
        if _TRAILER.match(ln) or _REF_ONLY.match(ln) or _URL_ONLY.match(ln) or _RULE.match(ln):
            continue
        if squash and ln.startswith("* "):
            body.append("\x00")  # a squashed commit's subject: drop this paragraph
            continue
        body.append(_EMPTY_PARENS.sub("", _INLINE_REF.sub("", ln)).rstrip())
    paras: list[str] = []
    cur: list[str] = []
    for ln in body + [""]:
        if ln.strip() == "":
            if cur and "\x00" not in cur:
                paras.append("\n".join(cur).strip("\n"))
            cur = []
        else:
            cur.append(ln)
    if not subject and paras:
        subject, paras = paras[0], paras[1:]
    text = "\n\n".join([subject, *paras]).strip()
    if len(text) > max_chars:
        text = text[:max_chars]
    return text


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which commits make tasks: gold source files existing at the parent and diff size."""

    min_gold: int = 1
    max_gold: int = 8
    min_lines: int = 2
    max_lines: int = 600
    min_query_words: int = 3
    extra_skip: tuple[str, ...] = field(default=())


def task_row(gitdir: str, repo: str, language: str, commit: Commit, flt: TaskFilter,
             query: str | None = None) -> dict | None:
    """One recall.py task for commit, or None if the commit fails the filter.

    query defaults to clean_message(commit.message).
    """
    changes = [c for c in commit_changes(gitdir, commit.parent, commit.sha) if is_source_path(c.path)]
    gold = sorted({c.path for c in changes})
    existing = sorted({c.path for c in changes if c.status != "A"})
    n_lines = sum(c.added + c.deleted for c in changes)
    if not (flt.min_gold <= len(existing) <= flt.max_gold) or len(gold) > flt.max_gold:
        return None
    if not (flt.min_lines <= n_lines <= flt.max_lines):
        return None
    q = clean_message(commit.message) if query is None else query
    if len(q.split()) < flt.min_query_words:
        return None
    return {
        "id": f"{repo.replace('/', '__')}-{commit.sha[:10]}",
        "repo": repo,
        "language": language,
        "parent": commit.parent,
        "commit": commit.sha,
        "commit_time": commit.time,
        "query": q,
        "message": commit.message,
        "gold_files": gold,
        "gold_existing": existing,
        "gold_status": {c.path: c.status for c in sorted(changes, key=lambda c: c.path)},
        "n_changed_lines": n_lines,
        "parent_n_files": n_tracked_files(gitdir, commit.parent),
    }
