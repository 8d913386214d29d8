"""Broad roots are refused, big trees stop with a clear message, long walks show progress (issue 18, item 7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ctxpack.index.discover import list_candidates

from ctxpack import load_config
from ctxpack.errors import ConfigError


def _ctxpack(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctxpack", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CTXPACK_EMBED": "0", **(env or {})}, stdin=subprocess.DEVNULL)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home" / "me"
    (h / "notes").mkdir(parents=True)
    (h / "notes" / "todo.py").write_text("def todo():\n    return 1\n", encoding="utf-8")
    return h


def test_the_home_directory_is_refused(home: Path) -> None:
    for cmd in (("index", str(home)), ("pack", str(home), "--query", "todo", "--budget", "1000")):
        got = _ctxpack(*cmd, env={"HOME": str(home)})
        assert got.returncode == 2, got.stderr
        assert got.stderr == (f"Error: refusing to index {home}: the home directory. Pass a repository root, "
                              "or --allow-broad to index it\n")
        assert got.stdout == ""
        assert not (home / ".ctxpack").exists()
    got = _ctxpack("index", str(home.parent), env={"HOME": str(home)})
    assert got.returncode == 2 and "a folder holding the home directory" in got.stderr


def test_allow_broad_indexes_it(home: Path) -> None:
    got = _ctxpack("pack", str(home), "--query", "todo", "--budget", "1000", "--allow-broad", env={"HOME": str(home)})
    assert got.returncode == 0, got.stderr
    assert "notes/todo.py" in got.stdout


def test_the_filesystem_root_is_refused_at_once() -> None:
    existed = Path("/.ctxpack").exists()
    got = _ctxpack("pack", "/", "--query", "x", "--budget", "1000", timeout=60)
    assert got.returncode == 2
    assert got.stderr == ("Error: refusing to index /: a filesystem root. Pass a repository root, or --allow-broad "
                          "to index it\n")
    assert Path("/.ctxpack").exists() == existed


@pytest.mark.parametrize("git", [False, True])
def test_discovery_stops_past_max_files(tmp_path: Path, git: bool) -> None:
    repo = tmp_path / "many"
    repo.mkdir()
    for i in range(30):
        (repo / f"m{i:02d}.py").write_text(f"X{i} = {i}\n", encoding="utf-8")
    if git:
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    got = _ctxpack("index", str(repo), "--max-files", "10")
    assert got.returncode == 2
    assert got.stderr == (f"Error: too many files under {repo}: more than 10. Narrow it (a subfolder, "
                          ".ctxpackignore) or raise the limit with --max-files N\n")
    assert _ctxpack("index", str(repo), "--max-files", "30").returncode == 0


def test_the_walk_reports_progress_and_stops_early(tmp_path: Path) -> None:
    repo = tmp_path / "walk"
    repo.mkdir()
    for d in range(5):
        (repo / f"d{d}").mkdir()
        for i in range(900):
            (repo / f"d{d}" / f"f{i}.txt").touch()
    seen: list[tuple[str, int, int]] = []
    cands, _ = list_candidates(repo, load_config(repo), progress=lambda *a: seen.append(a))
    assert len(cands) == 4500
    assert seen == [("discover", 2000, 0), ("discover", 4000, 0)]
    with pytest.raises(ConfigError, match="more than 1,999"):
        list_candidates(repo, load_config(repo, max_files=1999), progress=lambda *a: seen.append(a))
