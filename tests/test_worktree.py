"""The working tree as a ranking input: what git says is uncommitted, on real repositories."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from ctxpack.index.worktree import changes, diff_text

from ctxpack import load_config, open_repo
from ctxpack.pipeline import rank_for


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True,
                   capture_output=True)


def _repo(root: Path) -> Path:
    root.mkdir()
    for i in range(8):
        (root / f"mod_{i}.py").write_text("".join(f"def order_step_{i}_{j}(order):\n    return order + {j}\n\n"
                                                  for j in range(6)))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return root


def test_changes_lists_modified_staged_and_untracked_with_hunks(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r")
    assert not changes(root)
    text = (root / "mod_1.py").read_text().splitlines(keepends=True)
    text[4] = "def order_step_1_2(order):  # edited\n"
    (root / "mod_1.py").write_text("".join(text))
    (root / "mod_2.py").write_text((root / "mod_2.py").read_text() + "def extra(order):\n    return 1\n")
    _git(root, "add", "mod_2.py")
    (root / "new.py").write_text("x = 1\n")
    (root / "mod_3.py").unlink()
    found = changes(root)
    assert set(found.files) == {"mod_1.py", "mod_2.py", "new.py"}
    assert found.files["mod_1.py"] == ((5, 5),)
    assert found.files["mod_2.py"] == ((19, 20),)
    assert found.files["new.py"] == ()
    assert "+def extra(order):" in diff_text(root) and "-def order_step_3_0" in diff_text(root)


def test_changes_outside_git_is_empty(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    assert not changes(tmp_path) and diff_text(tmp_path) == ""


def test_repository_config_runs_no_program(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r")
    marker = tmp_path / "ran"
    for key in ("core.fsmonitor", "diff.external", "core.pager"):
        _git(root, "config", key, f"touch {marker}")
    _git(root, "config", "diff.py.textconv", f"touch {marker}; cat")
    (root / ".gitattributes").write_text("*.py diff=py\n")
    (root / "mod_0.py").write_text("def changed():\n    return 2\n")
    assert "mod_0.py" in changes(root).files
    assert "+def changed():" in diff_text(root)
    assert not marker.exists()


def test_changed_file_is_favoured_with_a_reason_and_clean_tree_ranks_as_before(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r")
    cfg = load_config(root, index_dir=str(tmp_path / "idx"), embed=False)
    query = "order step totals"
    clean = rank_for(open_repo(root, cfg), query)
    off = dataclasses.replace(cfg, weights=dataclasses.replace(cfg.weights, worktree=0.0, worktree_link=0.0))
    assert rank_for(open_repo(root, off), query) == clean  # no signal on a clean tree
    last = clean[-1].path
    with open(root / last, "a") as fh:
        fh.write("# wip\n")
    ranked = rank_for(open_repo(root, cfg), query)
    pos = {r.path: i for i, r in enumerate(ranked)}
    assert pos[last] < len(ranked) - 1 and pos[last] == 0
    assert "changed in the working tree" in ranked[0].reasons
    unboosted = rank_for(open_repo(root, off), query)
    assert all("changed in the working tree" not in r.reasons for r in unboosted)


def test_pack_diff_in_every_format_redacted_and_counted(tmp_path: Path) -> None:
    import json
    import os
    import sys

    from ctxpack.tokens import get_counter

    root = _repo(tmp_path / "r")
    (root / ".env").write_text("A=1\n")
    _git(root, "add", "-f", ".env")
    _git(root, "commit", "-qm", "env")
    with open(root / "mod_4.py", "a") as fh:
        fh.write("def refund(order):\n    key = 'AKIAIOSFODNN7EXAMPLE'\n    return order\n")
    (root / ".env").write_text("PASSWORD=hunter2hunter2hunter2\n")
    env = {**os.environ, "CTXPACK_EMBED": "0"}

    def pack(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ctxpack", "pack", str(root), "--query", "refund an order",
                               "--index-dir", str(tmp_path / "idx"), *extra], capture_output=True, text=True, env=env)

    openers = {"xml": "<diff>\n", "markdown": "## Uncommitted changes", "plain": "==> uncommitted changes (diff) <=="}
    for fmt, opener in openers.items():
        r = pack("--diff", "--format", fmt, "--budget", "4000")
        assert r.returncode == 0, r.stderr
        assert opener in r.stdout and "+def refund(order):" in r.stdout
        assert "AKIAIOSFODNN7EXAMPLE" not in r.stdout and "hunter2" not in r.stdout
        assert "1 more changed file left out" in r.stdout
        assert "uncommitted diff" in r.stderr
    doc = json.loads(pack("--diff", "--format", "json", "--budget", "4000").stdout)
    assert doc["diff_tokens"] > 0 and doc["context"].startswith("<context>\n<diff>\n")
    assert get_counter("o200k_base").count(doc["context"]) == doc["tokens"] <= 4000
    assert {"path": "mod_4.py", "line": 0, "type": "AWS Access Key"} in doc["redacted"]
    assert all(f["mode"] != "diff" for f in doc["files"])
    plain = json.loads(pack("--format", "json", "--budget", "4000").stdout)
    assert plain["diff_tokens"] == 0 and "<diff>" not in plain["context"]
    assert plain["files"][0]["path"] == "mod_4.py" and "changed in the working tree" in plain["files"][0]["reasons"]


def test_changed_lines_link_to_users_and_definitions(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "pricing.py").write_text("def compute_total(cart):\n    return sum(cart)\n")
    (root / "fees.py").write_text("def shipping_fee(order):\n    return 5\n")
    (root / "checkout.py").write_text("from pricing import compute_total\n\n\ndef place(cart):\n"
                                      "    return compute_total(cart)\n")
    for i in range(6):
        (root / f"other_{i}.py").write_text(f"def unrelated_{i}(cart):\n    return {i}\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    (root / "pricing.py").write_text("def compute_total(cart):\n    return sum(cart) + shipping_fee(cart)\n")
    found = changes(root)
    assert found.files == {"pricing.py": ((2, 2),)} and "shipping_fee" in found.names
    cfg = load_config(root, index_dir=str(tmp_path / "idx"), embed=False)
    ranked = {r.path: r for r in rank_for(open_repo(root, cfg), "cart totals")}
    assert "uses `compute_total`, changed in the working tree" in ranked["checkout.py"].reasons
    assert "defines `shipping_fee`, used in a working-tree change" in ranked["fees.py"].reasons
    assert all("working tree" not in " ".join(ranked[f"other_{i}.py"].reasons) for i in range(6))


def test_a_big_changed_file_keeps_the_chunks_around_its_hunks(tmp_path: Path) -> None:
    from ctxpack import pack_for

    root = _repo(tmp_path / "r")
    big = "".join(f"def ledger_entry_{j}(book, amount):\n    \"\"\"Entry {j}.\"\"\"\n    total = book + amount * {j}\n"
                  f"    return total - {j}\n\n\n" for j in range(400))
    (root / "ledger.py").write_text(big)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "ledger")
    text = (root / "ledger.py").read_text().replace("return total - 377\n", "return total - 377 + fee_of(book)\n")
    (root / "ledger.py").write_text(text)
    cfg = load_config(root, index_dir=str(tmp_path / "idx"), embed=False)
    pack = pack_for(open_repo(root, cfg), "order step totals", budget=6000)
    ledger = next(f for f in pack.files if f.path == "ledger.py")
    assert ledger.mode == "chunks" and "fee_of(book)" in ledger.text
    off = dataclasses.replace(cfg, weights=dataclasses.replace(cfg.weights, worktree=0.0, worktree_link=0.0))
    before = pack_for(open_repo(root, off), "order step totals", budget=6000)
    assert all("fee_of(book)" not in f.text for f in before.files)


def test_a_warm_repository_runs_git_for_its_changes_only_when_something_moved(tmp_path: Path,
                                                                              monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ctxpack.index.worktree as worktree
    from ctxpack.repo import refresh_repo

    root = _repo(tmp_path / "r")
    (root / "mod_1.py").write_text((root / "mod_1.py").read_text() + "def extra_step(order):\n    return 0\n")
    repo = open_repo(root, load_config(root, history=False))
    calls: list[tuple[str, ...]] = []

    def counting(real):  # type: ignore[no-untyped-def]
        def call(where, *args, **kw):  # type: ignore[no-untyped-def]
            calls.append(args)
            return real(where, *args, **kw)
        return call

    monkeypatch.setattr(worktree, "run_git", counting(worktree.run_git))
    monkeypatch.setattr(worktree, "start_git", counting(worktree.start_git))
    first = repo.working_changes()
    assert set(first.files) == {"mod_1.py"} and calls
    calls.clear()
    assert repo.working_changes() is first and rank_for(repo, "extra step") and not calls  # memoized
    _git(root, "add", "mod_1.py")  # staging moves git's index: asked again
    assert set(repo.working_changes().files) == {"mod_1.py"} and calls
    calls.clear()
    (root / "mod_2.py").write_text((root / "mod_2.py").read_text() + "# note\n")
    repo = refresh_repo(repo)  # a file changed: a new snapshot, asked again
    assert set(repo.working_changes().files) == {"mod_1.py", "mod_2.py"} and calls
    _git(root, "commit", "-qam", "both")  # HEAD moved: nothing left
    assert not repo.working_changes()
    assert worktree.git_state(tmp_path) is None  # outside a work tree: no fingerprint, no memo


def test_git_state_follows_a_linked_work_tree(tmp_path: Path) -> None:
    from ctxpack.index.worktree import git_state

    root = _repo(tmp_path / "r")
    _git(root, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "side")
    before = git_state(tmp_path / "wt")
    assert before is not None and before != git_state(root)
    (tmp_path / "wt" / "mod_1.py").write_text("x = 1\n")
    _git(tmp_path / "wt", "commit", "-qam", "side work")  # the branch ref and the work tree's index move
    assert git_state(tmp_path / "wt") != before


def test_the_work_tree_prefix_is_asked_once_per_git_state(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import ctxpack.index.worktree as worktree

    root = _repo(tmp_path / "r")
    (root / "mod_1.py").write_text((root / "mod_1.py").read_text() + "def extra_step(order):\n    return 0\n")
    asked: list[tuple[str, ...]] = []
    real = worktree.run_git
    monkeypatch.setattr(worktree, "run_git", lambda where, *a, **kw: asked.append(a) or real(where, *a, **kw))
    first = worktree.changes(root)
    assert worktree.changes(root) == first and set(first.files) == {"mod_1.py"}
    assert [a[0] for a in asked] == ["rev-parse"]  # once: the second call knew where root sits
    _git(root, "add", "mod_1.py")  # git's index moved: asked again
    assert set(worktree.changes(root).files) == {"mod_1.py"}
    assert [a[0] for a in asked] == ["rev-parse", "rev-parse"]
