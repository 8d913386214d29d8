"""A repository's git config names programs; ctxpack must never run them (issue 18, item 1).

Every case sets a program-valued key in ``.git/config`` to a script that appends a line to a
marker file. A control runs plain git to prove each setting is live (the marker appears);
then ctxpack's commands run on the same repository and the marker must stay absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_sample

from ctxpack import load_config, open_repo
from ctxpack.pipeline import refresh_history

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

_PLAIN = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com",
          "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com", "GIT_TERMINAL_PROMPT": "0"}


def _git(repo: Path, *args: str, check: bool = True) -> str:
    p = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                       env={**os.environ, **_PLAIN}, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def _signed_commit(repo: Path, message: str) -> None:
    """Commit the index as a commit carrying a (fake) PGP signature, so ``log.showSignature`` calls gpg."""
    # The test's own git must not run the repository's programs either: a racily clean index
    # entry makes even ``write-tree`` re-hash the file through its clean filter.
    tree = _git(repo, "-c", "core.fsmonitor=false", "-c", "filter.evil.clean=", "-c", "filter.evil.process=",
                "-c", "filter.evil.required=false", "write-tree").strip()
    parent = _git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False).strip()
    body = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "")
    body += ("author a <a@example.com> 1700000000 +0000\ncommitter a <a@example.com> 1700000000 +0000\n"
             "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n"
             f"\n{message}\n")
    sha = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo, input=body, text=True,
                         capture_output=True, check=True).stdout.strip()
    _git(repo, "update-ref", "HEAD", sha)


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    """shop_api as a git repository whose config names a marker-writing script everywhere it can."""
    repo = copy_sample("shop_api", tmp_path)
    marker = tmp_path / "programs-run.txt"
    script = tmp_path / "evil.sh"
    script.write_text(f'#!/bin/sh\necho "$0 $*" >> "{marker}"\ncat\n', encoding="utf-8")
    script.chmod(0o755)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "post-commit", "post-checkout", "pre-auto-gc", "reference-transaction",
                 "post-index-change", "fsmonitor-watchman"):
        shutil.copy(script, hooks / hook)
    _git(repo, "init", "-q", "-b", "main")
    (repo / ".gitattributes").write_text("*.py filter=evil diff=evil\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _signed_commit(repo, "Add the shop API")
    (repo / "shop" / "pricing.py").write_text("def price(cents):\n    return cents\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _signed_commit(repo, "Add pricing")
    s = str(script)
    for key, value in (("core.fsmonitor", s), ("log.showSignature", "true"), ("gpg.program", s),
                       ("gpg.openpgp.program", s), ("diff.external", s), ("diff.evil.textconv", s),
                       ("diff.evil.command", s), ("filter.evil.clean", s), ("filter.evil.smudge", s),
                       ("filter.evil.process", s), ("filter.evil.required", "true"), ("core.pager", s),
                       ("pager.log", s), ("core.hooksPath", str(hooks)), ("core.sshCommand", s),
                       ("credential.helper", s), ("core.editor", s), ("core.askPass", s)):
        _git(repo, "config", key, value)
    # An uncommitted edit, so anything comparing the work tree with the index has work to do.
    with open(repo / "shop" / "pricing.py", "a", encoding="utf-8") as fh:
        fh.write("\n\ndef discount(cents, pct):\n    return cents * (100 - pct) // 100\n")
    return repo, marker


def _runs(marker: Path) -> list[str]:
    return marker.read_text(encoding="utf-8").splitlines() if marker.exists() else []


def test_the_hostile_settings_are_live(hostile: tuple[Path, Path]) -> None:
    """Control: plain git runs the repository's programs (else the tests below prove nothing)."""
    repo, marker = hostile
    _git(repo, "ls-files")
    assert _runs(marker), "core.fsmonitor did not run"
    marker.unlink()
    _git(repo, "log", "-1")
    assert _runs(marker), "gpg.program (log.showSignature) did not run"
    marker.unlink()
    _git(repo, "-c", "core.fsmonitor=false", "diff", "--quiet", check=False)
    assert _runs(marker), "the filter/diff drivers did not run"


def _ctxpack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctxpack", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CTXPACK_EMBED": "0"}, stdin=subprocess.DEVNULL)


def test_index_and_pack_run_no_program_the_repository_names(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    repo, marker = hostile
    got = _ctxpack("index", str(repo))
    assert got.returncode == 0, got.stderr
    got = _ctxpack("pack", str(repo), "--query", "add a discount to pricing", "--budget", "4000", "--format", "json")
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert doc["lanes"]["history"] == 2  # git ls-files and git log did run, through the safe helper
    assert "shop/pricing.py" in {f["path"] for f in doc["files"]}
    got = _ctxpack("search", str(repo), "--query", "discount")
    assert got.returncode == 0, got.stderr
    assert _runs(marker) == []


def test_a_server_refresh_after_a_commit_runs_no_program(hostile: tuple[Path, Path]) -> None:
    """The path a server and the daemon take when HEAD moves: read HEAD and the new history."""
    repo, marker = hostile
    r = open_repo(repo, load_config(repo))
    assert r.rank_index.hist is not None and len(r.rank_index.hist.commits) == 2
    _git(repo, "-c", "core.fsmonitor=false", "-c", "filter.evil.clean=", "-c", "filter.evil.process=",
         "-c", "filter.evil.required=false", "add", "-A")
    _signed_commit(repo, "Discounts")
    marker.unlink(missing_ok=True)
    r2 = refresh_history(r)
    assert r2 is not r and r2.rank_index.hist is not None and len(r2.rank_index.hist.commits) == 3
    assert _runs(marker) == []


@pytest.mark.parametrize("args", [("diff",), ("diff", "HEAD~1"), ("log", "-p", "-2"), ("show", "HEAD"),
                                  ("status", "--porcelain"), ("ls-files", "-m")])
def test_run_git_neutralizes_every_program_setting(hostile: tuple[Path, Path], args: tuple[str, ...]) -> None:
    """Commands ctxpack may use later (the working-tree diff) are safe through the helper too."""
    from ctxpack.gitcmd import run_git

    repo, marker = hostile
    out = run_git(repo, *args)
    assert out is not None
    if args[0] in ("diff", "show"):
        assert b"shop/pricing.py" in out or b"shop/" in out
    assert _runs(marker) == []


def test_core_worktree_pointing_elsewhere_does_not_replace_the_tree(tmp_path: Path) -> None:
    """``core.worktree`` makes git list another folder's files: discovery walks the tree instead."""
    repo = tmp_path / "repo"
    other = tmp_path / "other"
    (repo / "src").mkdir(parents=True)
    other.mkdir()
    (repo / "src" / "billing.py").write_text("def invoice_total(lines):\n    return sum(lines)\n", encoding="utf-8")
    (other / "private.txt").write_text("not this repository's\n", encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "config", "core.worktree", str(other))
    got = _ctxpack("pack", str(repo), "--query", "invoice total", "--budget", "2000", "--format", "json")
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert "src/billing.py" in {f["path"] for f in doc["files"]}
    assert "private.txt" not in got.stdout
