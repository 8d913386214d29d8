"""The ranking index saved beside the snapshot cache (``rank.pkl``): a cold pack loads it instead of building it,
and what it loads is what a build gives."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from ctxpack import build_index, load_config, open_repo, pack_for, pipeline
from ctxpack.rank.index import RankIndex, build_rank_index
from ctxpack.store.cache import RANK_CACHE

QUERY = "apply a discount code at checkout"
_DERIVED = {"hist", "static_cache", "walk_cache", "term_arrays", "doc_len_array", "path_index"}  # per process


def _same(a: RankIndex, b: RankIndex) -> None:
    for f in fields(RankIndex):
        if f.name in _DERIVED:
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "postings":
            assert x.keys() == y.keys() and list(x) == list(y)
            assert all((x[t] == y[t]).all() for t in x)
        else:
            assert x == y, f.name


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the ranking indexes ``open_repo`` builds."""
    calls: list[int] = []
    real = pipeline.build_rank_index
    monkeypatch.setattr(pipeline, "build_rank_index", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    return calls


def _commit_all(root: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_cold_pack_loads_the_saved_ranking_index(shop: Path, builds: list[int]) -> None:
    _commit_all(shop)  # with a history: the history part is read afresh, not saved
    cfg = load_config(shop)
    build_index(shop, cfg)
    first = open_repo(shop, cfg)
    assert builds == [1] and (shop / ".ctxpack" / RANK_CACHE).is_file()
    second = open_repo(shop, cfg)
    assert builds == [1]  # loaded, not built
    s = second.snapshot
    _same(second.rank_index, build_rank_index(s.files, s.file_terms, s.symbols, s.uses))
    assert second.rank_index.hist is not None and second.rank_index.hist.history == first.rank_index.hist.history
    assert pack_for(second, QUERY, budget=3000) == pack_for(first, QUERY, budget=3000)


def test_an_edit_or_other_code_builds_it_again(shop: Path, builds: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    open_repo(shop, cfg)
    checkout = shop / "shop" / "services" / "checkout.py"
    checkout.write_text(checkout.read_text() + "\n\ndef apply_discount_code(order, code):\n    return order\n")
    edited = open_repo(shop, cfg)  # the edit goes to the journal: another snapshot
    assert builds == [1, 1]
    s = edited.snapshot
    _same(edited.rank_index, build_rank_index(s.files, s.file_terms, s.symbols, s.uses))
    assert "apply_discount_code" in edited.rank_index.defs_by_name
    monkeypatch.setattr(pipeline, "rank_state_key", lambda: "other code")
    open_repo(shop, cfg)
    assert len(builds) == 3


def test_a_damaged_saved_ranking_index_is_built_again(shop: Path, builds: list[int],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    good = pack_for(open_repo(shop, cfg), QUERY, budget=3000)
    saved = shop / ".ctxpack" / RANK_CACHE
    saved.write_bytes(saved.read_bytes()[:200])
    assert pack_for(open_repo(shop, cfg), QUERY, budget=3000) == good
    assert len(builds) == 2 and "rank.pkl unreadable" in caplog.text
    assert pack_for(open_repo(shop, cfg), QUERY, budget=3000) == good and len(builds) == 2  # saved again


def test_ctxpack_index_leaves_the_ranking_index_saved(shop: Path, builds: list[int]) -> None:
    import sys

    done = subprocess.run([sys.executable, "-m", "ctxpack", "index", str(shop), "--no-embed", "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (shop / ".ctxpack" / RANK_CACHE).is_file()
    repo = open_repo(shop, load_config(shop))
    assert builds == []  # the first pack after `ctxpack index` loads it
    s = repo.snapshot
    _same(repo.rank_index, build_rank_index(s.files, s.file_terms, s.symbols, s.uses))
