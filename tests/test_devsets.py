"""The dev-set miners in benchmarks/devsets: real git repositories, recall.py's task format."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

DEVSETS = Path(__file__).resolve().parent.parent / "benchmarks" / "devsets"
# The shared bench sits next to the checkout (../shared/bench); a worktree one level deeper looks two up.
BENCH_TASKS = next((p / "shared" / "bench" / "tasks-dev.jsonl" for p in Path(__file__).resolve().parents[2:4]
                    if (p / "shared" / "bench" / "tasks-dev.jsonl").exists()), Path("/nonexistent"))

_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}
# recall.py's task fields, in its README's order.
TASK_FIELDS = ["id", "repo", "language", "parent", "commit", "commit_time", "query", "message", "gold_files",
               "gold_existing", "gold_status", "n_changed_lines", "parent_n_files"]


def _load(name: str):
    """Import a benchmarks/devsets script as a module (they import each other by bare name)."""
    if str(DEVSETS) not in sys.path:
        sys.path.insert(0, str(DEVSETS))
    return importlib.import_module(name)


mining = _load("mining")
issues = _load("build_issue_tasks")
bigrepo = _load("mine_bigrepo")


def git(repo: Path, *args: str, date: int | None = None) -> str:
    env = dict(_ENV)
    if date is not None:
        env.update(GIT_AUTHOR_DATE=f"@{date} +0000", GIT_COMMITTER_DATE=f"@{date} +0000")
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def commit(repo: Path, files: dict[str, str | None], msg: str, date: int) -> str:
    for rel, text in files.items():
        p = repo / rel
        if text is None:
            p.unlink()
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", msg, date=date)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A small history laid out as `fetch` does (ROOT/OWNER+NAME/repo) with known commits."""
    repo = tmp_path / "mirrors" / "acme+widget" / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    shas = {}
    shas["root"] = commit(repo, {"src/widget/core.py": "def spin():\n    return 1\n",
                                 "src/widget/util.py": "X = 1\n", "README.md": "widget\n"}, "initial", 1_600_000_000)
    shas["fix"] = commit(repo, {
        "src/widget/core.py": "def spin():\n    return 2\n",
        "src/widget/util.py": "X = 2\nY = 3\n",
        "tests/test_core.py": "def test_spin():\n    assert True\n",
        "docs/conf.py": "project = 'w'\n",
        "README.md": "widget!\n",
    }, "Fix spin returning 1 (#12)\n\n* tweak util\n\n* add test\n\nFixes #7\n\nSigned-off-by: t <t@example.com>",
        1_600_000_600)
    git(repo, "mv", "src/widget/util.py", "src/widget/helpers.py")
    shas["rename"] = commit(repo, {"src/widget/new.py": "def new():\n    pass\n"},
                            "Move util to helpers and add new\n\nBody line.", 1_600_001_200)
    git(repo, "checkout", "-q", "-b", "feature")
    shas["branch"] = commit(repo, {"src/widget/core.py": "def spin():\n    return 3\n"}, "spin three",
                            1_600_001_800)
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "feature", "-m", "Merge pull request #30 from someone/feature",
        date=1_600_002_400)
    shas["merge"] = git(repo, "rev-parse", "HEAD")
    return tmp_path / "mirrors", shas


def _gitdir(root: Path) -> str:
    return str(root / "acme+widget" / "repo" / ".git")


def test_source_paths_exclude_tests_docs_and_non_code():
    assert mining.is_source_path("src/pkg/core.py")
    assert mining.is_source_path("packages/vite/src/node/config.ts")
    assert mining.is_source_path("tree.go")
    for p in ["tests/test_core.py", "src/pkg/tests/helpers.py", "pkg/test_x.py", "pkg/x_test.go", "conftest.py",
              "src/a.spec.ts", "src/a.test.js", "docs/conf.py", "README.md", "playground/app/main.ts"]:
        assert not mining.is_source_path(p), p


def test_issue_refs_reads_fix_keywords_urls_and_squash_pr():
    nums, pr = mining.issue_refs("Fix thing (#12)\n\nFixes #7, closes gh-8.\nResolves "
                                 "https://github.com/acme/widget/issues/9, fixes https://github.com/other/x/issues/5",
                                 "acme/widget")
    assert nums == [7, 8, 9]
    assert pr == 12
    assert mining.issue_refs("Refactor things", "acme/widget") == ([], None)


def test_clean_message_drops_refs_trailers_and_squashed_bullets():
    msg = ("Fix spin returning 1 (#12)\n\n* tweak util\n\n* add test\n\nFixes #7\n\n"
           "Signed-off-by: t <t@example.com>")
    assert mining.clean_message(msg) == "Fix spin returning 1"
    assert mining.clean_message(":sparkles: connection pooling works") == "connection pooling works"
    assert mining.clean_message("Make tojson safe (fix #709)\n\nKeep this.\nhttps://example.com/x") == \
        "Make tojson safe\n\nKeep this."
    assert mining.clean_message("Correct buffer for else frames. Fixes #669") == "Correct buffer for else frames."
    assert mining.clean_message("Fixes: 13363 Process ORM rows as tuples") == "Process ORM rows as tuples"
    assert len(mining.clean_message("word " * 1000)) == mining.QUERY_MAX_CHARS


@pytest.mark.skipif(not BENCH_TASKS.exists(), reason="needs ../shared/bench")
def test_clean_message_reproduces_most_bench_queries():
    tasks = [json.loads(line) for line in BENCH_TASKS.read_text().splitlines() if line.strip()]
    same = sum(mining.clean_message(t["message"]) == t["query"] for t in tasks)
    assert same / len(tasks) >= 0.9


def test_task_row_matches_recall_format(mirror):
    root, shas = mirror
    gitdir = _gitdir(root)
    commits = {c.sha: c for c in mining.list_commits(gitdir)}
    row = mining.task_row(gitdir, "acme/widget", "python", commits[shas["fix"]], mining.TaskFilter(min_gold=2))
    assert list(row) == TASK_FIELDS
    assert row["id"] == f"acme__widget-{shas['fix'][:10]}"
    assert row["parent"] == shas["root"]
    assert row["gold_files"] == ["src/widget/core.py", "src/widget/util.py"]  # test, docs and README left out
    assert row["gold_existing"] == row["gold_files"]
    assert row["gold_status"] == {"src/widget/core.py": "M", "src/widget/util.py": "M"}
    assert row["n_changed_lines"] == 2 + 3
    assert row["parent_n_files"] == 3
    assert row["query"] == "Fix spin returning 1"
    assert row["commit_time"] == 1_600_000_600


def test_task_row_renames_and_additions(mirror):
    root, shas = mirror
    gitdir = _gitdir(root)
    commits = {c.sha: c for c in mining.list_commits(gitdir)}
    row = mining.task_row(gitdir, "acme/widget", "python", commits[shas["rename"]], mining.TaskFilter())
    assert row["gold_status"] == {"src/widget/new.py": "A", "src/widget/util.py": "R"}
    assert row["gold_existing"] == ["src/widget/util.py"]  # the old path, as it is at the parent
    # The filter drops commits with too few existing source files.
    assert mining.task_row(gitdir, "acme/widget", "python", commits[shas["rename"]],
                           mining.TaskFilter(min_gold=2)) is None


def test_list_commits_skips_merges_and_roots(mirror):
    root, shas = mirror
    listed = [c.sha for c in mining.list_commits(_gitdir(root))]
    assert shas["merge"] not in listed and shas["root"] not in listed
    assert listed[0] == shas["branch"]  # newest first


def test_parse_texts_reads_records_in_order():
    text = ("@@@ISSUE acme/widget#7 | 2020-09-13 | abc1234\ntitle: Spin returns 1\nIt should return 2.\n\n"
            "```\ntrace\n```\n@@@ISSUE acme/widget#9 | 2020-09-13 | pr:30\ntitle: Spin\n")
    recs = issues.parse_texts(text, "t.txt")
    assert [(r.repo, r.number, r.fix) for r in recs] == [("acme/widget", 7, "abc1234"), ("acme/widget", 9, "pr:30")]
    assert recs[0].title == "Spin returns 1"
    assert recs[0].body == "It should return 2.\n\n```\ntrace\n```"
    with pytest.raises(ValueError, match="no title"):
        issues.parse_texts("@@@ISSUE acme/widget#1 | 2020-01-01 | abc\nno title here\n")


def test_resolve_fix_by_sha_squash_and_merge(mirror):
    root, shas = mirror
    gitdir = _gitdir(root)
    assert issues.resolve_fix(gitdir, shas["fix"][:8]).sha == shas["fix"]
    squash = issues.resolve_fix(gitdir, "pr:12")
    assert squash.sha == shas["fix"] and squash.parent == shas["root"]
    merge = issues.resolve_fix(gitdir, "pr:30")
    assert merge.sha == shas["merge"] and merge.parent == shas["rename"]  # first parent of the merge
    with pytest.raises(LookupError):
        issues.resolve_fix(gitdir, "pr:99")


def test_build_issue_tasks(mirror):
    root, shas = mirror
    recs = issues.parse_texts(
        "@@@ISSUE acme/widget#7 | 2020-09-13 | " + shas["fix"][:10] + "\ntitle: Spin returns 1\nExpected 2.\n"
        "@@@ISSUE acme/widget#8 | 2020-09-13 | pr:12\ntitle: Same fix again\nDuplicate.\n"
        "@@@ISSUE acme/widget#40 | 2030-01-01 | pr:30\ntitle: Opened after the fix\nToo late.\n"
        "@@@ISSUE acme/widget#41 | 2020-09-13 | pr:30\ntitle: Spin should be three\nIt is not.\n")
    notes: list[str] = []
    rows = issues.build(recs, str(root), log=notes.append)
    assert [r["issue"] for r in rows] == [7, 41]
    first, merged = rows
    assert list(first)[:len(TASK_FIELDS)] == TASK_FIELDS
    assert first["query"] == "Spin returns 1\n\nExpected 2."
    assert first["message"].startswith("Fix spin returning 1")
    assert first["issue_url"] == "https://github.com/acme/widget/issues/7"
    assert merged["commit"] == shas["merge"] and merged["parent"] == shas["rename"]
    assert merged["gold_existing"] == ["src/widget/core.py"]
    assert any("#8" in n and "already used" in n for n in notes)
    assert any("#40" in n and "after the fix" in n for n in notes)


def test_pick_spreads_over_time_in_time_order_and_is_deterministic():
    commits = [mining.Commit(f"{i:040x}", f"{i + 1:040x}", 1000 + i * 10, f"m{i}") for i in range(100)]

    def accept(c):
        return None if int(c.sha, 16) % 3 else {"commit": c.sha, "commit_time": c.time}

    a = bigrepo.pick(commits, 5, 1000, 1990, "acme/widget", accept)
    b = bigrepo.pick(commits, 5, 1000, 1990, "acme/widget", accept)
    assert a == b and len(a) == 5
    times = [r["commit_time"] for r in a]
    assert times == sorted(times)
    assert [min(int((t - 1000) / 198), 4) for t in times] == [0, 1, 2, 3, 4]  # one per bin


def test_mine_bigrepo_cli_writes_time_ordered_tasks(mirror, tmp_path):
    root, shas = mirror
    out = tmp_path / "big.jsonl"
    assert bigrepo.main(["acme/widget:python", "--mirrors", str(root), "--since", "2000-01-01", "--n", "3",
                         "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["commit"] for r in rows] == [shas["fix"]]  # the only commit with two existing source files
    assert list(rows[0]) == TASK_FIELDS
