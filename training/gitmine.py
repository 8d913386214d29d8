"""Read commits from a git mirror and turn them into (query, touched line ranges) records.

Git runs with hardened flags (no hooks, fsmonitor, external diff or textconv; no system
config), so a fetched repository's own configuration cannot run anything.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import PurePosixPath

__all__ = ["Commit", "GitRepo", "bug_style", "clean_message", "is_test_path", "keep_commit", "parse_hunks"]

_GIT_FLAGS = ("-c", "core.fsmonitor=", "-c", "core.hooksPath=/dev/null", "-c", "core.quotePath=false")
_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


@dataclass(frozen=True, slots=True)
class Commit:
    """A non-merge commit with the files it changed (status, parent-side path, new path)."""

    sha: str
    parent: str
    time: int
    author: str
    email: str
    message: str
    changes: tuple[tuple[str, str, str], ...] = field(default=())


class GitRepo:
    """A bare or non-bare git directory, read with plumbing commands only."""

    def __init__(self, gitdir: str) -> None:
        self.gitdir = gitdir
        self._cat: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> str:
        out = subprocess.run(["git", *_GIT_FLAGS, "--git-dir", self.gitdir, *args], env=_ENV,
                             capture_output=True, check=True)
        return out.stdout.decode("utf-8", errors="replace")

    def commits(self, max_files: int = 30) -> list[Commit]:
        """Non-merge commits of HEAD's history (newest first) touching 1..max_files files."""
        fmt = "%x1e%H%x1f%P%x1f%at%x1f%an%x1f%ae%x1f%B%x1f"
        raw = self.run("log", "--no-merges", "-M", "--name-status", "--no-ext-diff", "--no-textconv",
                       f"--format={fmt}", "HEAD")
        out: list[Commit] = []
        for rec in raw.split("\x1e")[1:]:
            parts = rec.split("\x1f")
            if len(parts) < 7:
                continue
            sha, parents, at, an, ae, msg, files = parts[:7]
            plist = parents.split()
            if len(plist) != 1:
                continue
            changes = []
            for line in files.strip("\n").splitlines():
                cols = line.split("\t")
                if len(cols) == 2:
                    changes.append((cols[0][:1], cols[1], cols[1]))
                elif len(cols) == 3:
                    changes.append((cols[0][:1], cols[1], cols[2]))
            if 1 <= len(changes) <= max_files:
                out.append(Commit(sha, plist[0], int(at), an, ae, msg.strip(), tuple(changes)))
        return out

    def diff_hunks(self, parent: str, sha: str, paths: list[str]) -> dict[str, list[tuple[int, int]]]:
        """Parent-side line ranges of ``git diff -U0 -M parent sha`` per parent-side path."""
        raw = self.run("diff", "-U0", "-M", "--no-ext-diff", "--no-textconv", "--no-color", parent, sha)
        hunks = parse_hunks(raw)
        wanted = set(paths)
        return {p: h for p, h in hunks.items() if p in wanted}

    def tree(self, sha: str, paths: tuple[str, ...] = ()) -> list[tuple[str, str, int]]:
        """(path, blob sha, size) of every regular file of the commit's tree (or of ``paths``)."""
        raw = self.run("ls-tree", "-r", "-l", "-z", sha, *(("--", *paths) if paths else ()))
        out = []
        for ent in raw.split("\0"):
            if not ent:
                continue
            meta, path = ent.split("\t", 1)
            mode, kind, blob, size = meta.split()
            if kind == "blob" and mode in ("100644", "100755") and size != "-":
                out.append((path, blob, int(size)))
        return out

    def blob(self, spec: str) -> bytes | None:
        """Content of ``spec`` (a blob sha or ``commit:path``), None if missing."""
        if self._cat is None:
            self._cat = subprocess.Popen(["git", *_GIT_FLAGS, "--git-dir", self.gitdir, "cat-file", "--batch"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_ENV)
        assert self._cat.stdin is not None and self._cat.stdout is not None
        self._cat.stdin.write(spec.encode() + b"\n")
        self._cat.stdin.flush()
        header = self._cat.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            return None
        data = self._cat.stdout.read(int(header[2]))
        self._cat.stdout.read(1)
        return data

    def close(self) -> None:
        if self._cat is not None:
            self._cat.kill()
            self._cat.wait()
            self._cat = None


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def parse_hunks(diff: str) -> dict[str, list[tuple[int, int]]]:
    """Parent-side (start, end) lines per file of a ``-U0`` diff; a pure insertion is its anchor line."""
    out: dict[str, list[tuple[int, int]]] = {}
    cur: str | None = None
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            cur = None
        elif line.startswith("--- "):
            name = line[4:]
            cur = name[2:] if name.startswith("a/") else None
            if cur is not None:
                out.setdefault(cur, [])
        elif cur is not None and line.startswith("@@"):
            m = _HUNK.match(line)
            if m:
                start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
                out[cur].append((start, start + count - 1) if count else (max(start, 1), max(start, 1)))
    return out


_TEST_PARTS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "testdata", "fixtures",
                         "benchmarks", "bench", "examples", "example", "docs", "doc"})
_TEST_NAME = re.compile(r"(^test_|_test\.|\.test\.|\.spec\.|_spec\.|^tests?\.|Test\.java$|Tests\.java$|_tests?\.rs$)")


def is_test_path(path: str) -> bool:
    """Tests, fixtures, examples, benchmarks and docs: left out of positives and pools."""
    p = PurePosixPath(path)
    return any(part.lower() in _TEST_PARTS for part in p.parts[:-1]) or bool(_TEST_NAME.search(p.name))


_BOT = re.compile(r"\[bot\]|dependabot|renovate|pre-commit-ci|github-actions|greenkeeper|snyk-bot|allcontributors",
                  re.I)
_SKIP_SUBJECT = re.compile(
    r"^(merge\b|revert\b|bump\b|release\b|prepare (for )?release|v?\d+\.\d+(\.\d+)?\b|version\b|changelog|"
    r"update (changelog|readme|docs?|authors|copyright|license|deps|dependencies)|wip\b|typo|fix(ed)? typos?|"
    r"(auto)?format|lint\b|run (black|isort|prettier|rustfmt|gofmt)|apply (black|isort|prettier|rustfmt)|"
    r"(black|isort|prettier|rustfmt|gofmt|ruff)\b|whitespace|style\b|cleanup$|clean up$|minor$|update$|fix$)", re.I)
_VERSION_ONLY = re.compile(r"^(v|version\s*)?\d+(\.\d+)+\S*$", re.I)
_TRAILER = re.compile(r"^(signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by|suggested-by|"
                      r"change-id|cc|fixes|closes|resolves|ref|refs|see-also|pr-url|pr-close)\s*:", re.I)


def clean_message(message: str, max_chars: int = 2000) -> str:
    """Subject + body without trailers, ``[skip ci]`` tags and excess blank lines."""
    lines = [ln.rstrip() for ln in message.replace("\r\n", "\n").split("\n")]
    kept = [ln for ln in lines if not _TRAILER.match(ln.strip())]
    text = "\n".join(kept)
    text = re.sub(r"\[(skip ci|ci skip|skip-ci|no ci)\]", "", text, flags=re.I)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text[:max_chars]


def keep_commit(commit: Commit, query: str) -> str | None:
    """Why the commit is dropped (None: keep it)."""
    if _BOT.search(commit.author) or _BOT.search(commit.email):
        return "bot"
    subject = query.split("\n", 1)[0].strip()
    if _SKIP_SUBJECT.match(subject) or _VERSION_ONLY.match(subject):
        return "subject"
    if len(subject) < 12 or len(re.findall(r"[A-Za-z]{2,}", subject)) < 3:
        return "short"
    return None


_BUG_PATTERNS = {
    "traceback": re.compile(r"Traceback \(most recent call last\)|^\s+File \".+\", line \d+|panicked at|"
                            r"^\s+at .+\(.+:\d+(:\d+)?\)|goroutine \d+ \[|stack trace", re.M | re.I),
    "error": re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Warning)\b|\berror:|\bpanic:|\bsegfault|"
                        r"\bcrash(es|ed)?\b|\braises?\b", re.I),
    "expected_actual": re.compile(r"\bexpected\b.*\b(got|but|actual|instead)\b|\binstead of\b|\bactual(ly)?:|"
                                  r"\bshould (be|return|not)\b|\breturns? .* instead\b", re.I | re.S),
    "code": re.compile(r"```|^(    |\t)\S.*\n(    |\t)\S|^>>> |^\$ \S", re.M),
}


def bug_style(query: str) -> tuple[str, ...]:
    """Which bug-report traits the message has (traceback, error, expected_actual, code)."""
    return tuple(k for k, pat in _BUG_PATTERNS.items() if pat.search(query))
