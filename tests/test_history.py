"""The git-history signals: reading the history at HEAD, recency and co-change in the ranking."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import wait_for

from ctxpack import load_config, open_repo
from ctxpack.index.history import MAX_FILES_PER_COMMIT, head_commit, read_history
from ctxpack.pipeline import rank_for, refresh_history, refresh_repo

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=_ENV).stdout


_clock = [1_700_000_000]


def commit(repo: Path, files: dict[str, str], msg: str = "change") -> None:
    """Commit ``files`` a minute after the previous commit (git log orders by date)."""
    _clock[0] += 60
    date = f"@{_clock[0]} +0000"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", msg], check=True, capture_output=True,
                   env={**_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, {"pkg/a.py": "def alpha():\n    return 1\n", "pkg/b.py": "def beta():\n    return 2\n",
                  "pkg/c.py": "def gamma():\n    return 3\n"}, "start")
    return root


def test_history_is_newest_first_relative_to_the_root_and_skips_merges_and_mass_changes(repo: Path) -> None:
    commit(repo, {"pkg/a.py": "def alpha():\n    return 10\n", "pkg/b.py": "def beta():\n    return 20\n"})
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, {"pkg/c.py": "def gamma():\n    return 30\n"}, "side")
    git(repo, "checkout", "-q", "main")
    _clock[0] += 60
    subprocess.run(["git", "-C", str(repo), "merge", "-q", "--no-ff", "-m", "merge side", "side"], check=True,
                   capture_output=True, env={**_ENV, "GIT_COMMITTER_DATE": f"@{_clock[0]} +0000"})
    commit(repo, {f"gen/f{i}.py": f"X = {i}\n" for i in range(MAX_FILES_PER_COMMIT + 1)}, "vendor")

    hist = read_history(repo)
    assert hist is not None and hist.head == head_commit(repo)
    # The vendoring commit is too big and the merge is not a commit of its own: both left out.
    assert hist.commits == (("pkg/c.py",), ("pkg/a.py", "pkg/b.py"), ("pkg/a.py", "pkg/b.py", "pkg/c.py"))
    # Indexed from a subdirectory: paths are relative to it, other folders' changes are left out.
    sub = read_history(repo / "pkg")
    assert sub is not None and sub.commits == (("c.py",), ("a.py", "b.py"), ("a.py", "b.py", "c.py"))


def test_history_is_cached_per_head_commit(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "idx"
    cache.mkdir()
    first = read_history(repo, cache)
    stored = json.loads((cache / "history.json").read_text())
    assert first is not None and stored["head"] == first.head
    stored["commits"] = [["marker.py"]]  # served from the cache while HEAD stays put
    (cache / "history.json").write_text(json.dumps(stored))
    again = read_history(repo, cache)
    assert again is not None and again.commits == (("marker.py",),)
    for damaged in ("not json", json.dumps([1, 2]), json.dumps({**stored, "messages": []})):
        (cache / "history.json").write_text(damaged)
        assert read_history(repo, cache) == first  # read from git again, and the cache rewritten
    commit(repo, {"pkg/a.py": "def alpha():\n    return 5\n"})
    moved = read_history(repo, cache)
    assert moved is not None and moved.head != first.head and moved.commits[0] == ("pkg/a.py",)


def test_no_history_outside_git_or_without_git(tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert read_history(plain) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert read_history(empty) is None  # a repository without commits
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert read_history(repo) is None


def _features(ranked: list, path: str) -> dict[str, float]:  # type: ignore[type-arg]
    return dict(next(r for r in ranked if r.path == path).features)


def test_cochange_and_recency_reach_the_ranking_with_reasons(repo: Path, tmp_path: Path) -> None:
    # a.py and b.py keep changing together; c.py changes alone, most recently.
    for n in range(4):
        commit(repo, {"pkg/a.py": f"def alpha():\n    return {n}\n", "pkg/b.py": f"def beta():\n    return {n}\n"})
    commit(repo, {"pkg/c.py": "def gamma():\n    return 99\n"})
    cfg = load_config(repo, index_dir=str(tmp_path / "idx"))
    r = open_repo(repo, cfg)
    ranked = rank_for(r, "make alpha return a configurable value")
    assert ranked[0].path == "pkg/a.py"
    b = next(x for x in ranked if x.path == "pkg/b.py")
    assert dict(b.features)["cochange"] > dict(ranked[0].features).get("cochange", 0.0)
    assert any(why.startswith("changed with pkg/a.py in 5 past commits") for why in b.reasons)
    assert _features(ranked, "pkg/c.py")["cochange"] < dict(b.features)["cochange"] / 4  # only the first commit
    assert _features(ranked, "pkg/c.py")["recent"] == 1.0  # changed by the newest commit
    assert _features(ranked, "pkg/b.py")["recent"] < 1.0
    assert ranked.index(b) < [x.path for x in ranked].index("pkg/c.py")

    off = open_repo(repo, dataclasses.replace(cfg, history=False))
    assert off.rank_index.hist is None
    plain = rank_for(off, "make alpha return a configurable value")
    assert all("cochange" not in dict(x.features) and "recent" not in dict(x.features) for x in plain)


def test_files_of_past_commits_like_the_query_get_a_feature_and_a_reason(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"pkg/b.py": "def beta():\n    return 21\n"}, "Retry with exponential backoff\n\nSleep between tries.")
    commit(repo, {"pkg/c.py": "def gamma():\n    return 31\n"}, "Rename the logger")
    r = open_repo(repo, load_config(repo, index_dir=str(tmp_path / "idx")))
    ranked = rank_for(r, "Cap the backoff between retries")
    assert ranked[0].path == "pkg/b.py"  # nothing in the code matches: only the past commit does
    assert dict(ranked[0].features)["pastedit"] == 1.0
    assert 'changed by a past commit like this edit: "Retry with exponential backoff"' in ranked[0].reasons
    assert "pastedit" not in _features(ranked, "pkg/c.py")


def test_live_refresh_keeps_the_history_and_rereads_it_when_files_come_and_go(repo: Path, tmp_path: Path) -> None:
    r = open_repo(repo, load_config(repo, index_dir=str(tmp_path / "idx")))
    assert r.rank_index.hist is not None
    (repo / "pkg/a.py").write_text("def alpha():\n    return 7\n")
    edited = refresh_repo(r, ["pkg/a.py"])
    assert edited.rank_index.hist is r.rank_index.hist
    commit(repo, {"pkg/d.py": "def delta():\n    return 4\n"})
    added = refresh_repo(edited)
    hist = added.rank_index.hist
    assert hist is not None and hist.history.head == head_commit(repo)
    assert hist.recent[added.rank_index.paths.index("pkg/d.py")] == 1.0


def test_git_log_started_early_answers_what_reading_it_now_does(repo: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A first pack starts ``git log`` before it reads the files; a refresh where files came starts it
    before reading them. Either way the history is the one read the plain way, and a failing git is no history."""
    from ctxpack import repo as repo_mod
    from ctxpack.gitcmd import run_git, start_git
    from ctxpack.index import history

    commit(repo, {"pkg/a.py": "def alpha():\n    return 10\n"}, "second")
    pending = start_git(repo, "log", "--format=%s")
    assert pending() == run_git(repo, "log", "--format=%s") == b"second\nstart\n"
    assert start_git(repo, "log", "no-such-revision")() is None
    early = history.start_history(repo)
    assert early() == early() == read_history(repo)

    r = open_repo(repo, load_config(repo, index_dir=str(tmp_path / "idx")))
    started: list[Path] = []
    real = history.start_history
    monkeypatch.setattr(repo_mod, "start_history", lambda root, d=None: started.append(root) or real(root, d))
    commit(repo, {"pkg/d.py": "def delta():\n    return 4\n"}, "third")
    added = refresh_repo(r)
    assert started == [repo]
    assert added.rank_index.hist is not None and added.rank_index.hist.history == read_history(repo)
    (repo / "pkg/a.py").write_text("def alpha():\n    return 7\n")
    refresh_repo(added)  # an edit: the set of files is the same, the history is kept, git is not run
    assert started == [repo]


def test_a_commit_refreshes_the_history_of_a_live_repo(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"pkg/a.py": "def alpha():\n    return 10\n"}, "alpha work")
    r = open_repo(repo, load_config(repo, index_dir=str(tmp_path / "idx")))
    assert refresh_history(r) is r  # HEAD has not moved
    (repo / "pkg/c.py").write_text("def gamma():\n    return 30\n")
    edited = refresh_repo(r, ["pkg/c.py"])  # the edit is reflected; the history is still the old one
    c = edited.rank_index.paths.index("pkg/c.py")
    assert edited.rank_index.hist is r.rank_index.hist and edited.rank_index.hist.recent[c] < 1.0
    commit(repo, {}, "tune gamma")
    moved = refresh_history(edited)
    hist = moved.rank_index.hist
    assert hist is not None and hist.history.head == head_commit(repo) and hist.subjects[0] == "tune gamma"
    assert hist.recent[c] == 1.0 and moved.snapshot is edited.snapshot
    assert rank_for(moved, "gamma")[0].path == "pkg/c.py"
    # Only the history part of the ranking index was replaced: it ranks as one built from scratch.
    from dataclasses import replace

    from ctxpack.index.history import read_history
    from ctxpack.rank.index import build_rank_index

    s = moved.snapshot
    rebuilt = replace(moved, rank_index=build_rank_index(s.files, s.file_terms, s.symbols, s.uses,
                                                         read_history(repo)))
    for q in ("gamma", "alpha work", "tune beta"):
        assert [(f.path, f.score) for f in rank_for(moved, q)] == [(f.path, f.score) for f in rank_for(rebuilt, q)]


def test_the_watcher_follows_head_to_a_new_commit(repo: Path, tmp_path: Path) -> None:
    import threading

    from ctxpack.serve.service import RepoService
    from ctxpack.serve.watch import watch_repos

    rs = RepoService(repo, load_config(repo, index_dir=str(tmp_path / "idx"), embed=False))
    rs.load()
    stop = threading.Event()
    try:
        watch_repos([rs], stop)
        probe = repo / "pkg" / "probe.py"
        n = iter(range(10_000))

        def watching() -> bool:  # the watcher is up once a new file reaches the live repo
            probe.write_text(f"PROBE = {next(n)}\n")
            return "pkg/probe.py" in rs.repo.snapshot.files

        wait_for(watching, 20, 0.1, "the watcher to start")
        commit(repo, {"pkg/b.py": "def beta():\n    return 20\n"}, "beta returns twenty")
        wait_for(lambda: rs.repo.rank_index.hist.history.head == head_commit(repo),  # type: ignore[union-attr]
                 20, what="the history to follow HEAD")
        assert rs.repo.rank_index.hist.subjects[0] == "beta returns twenty"  # type: ignore[union-attr]
    finally:
        stop.set()
        rs.close()
