"""Shared fixtures: copies of the sample repositories, isolated ctxpack home."""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every token count the packer derives by adding up parts is checked against a full count.
os.environ["CTXPACK_CHECK_TOKENS"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_repos"
APPS = ("shop_api", "taskboard_web", "ratelimit_go")


@pytest.fixture(autouse=True)
def _gc_thresholds() -> Iterator[None]:
    """A CLI command run in this process raises the collector's thresholds (``cli.group.collect_less``): undo it."""
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.getbasetemp() / "ctxpack-home"
    monkeypatch.setenv("CTXPACK_HOME", str(home))
    monkeypatch.delenv("CTXPACK_INDEX_DIR", raising=False)
    # The dense lane runs the real model; tests that exercise it switch it on (tests/test_embed.py).
    monkeypatch.setenv("CTXPACK_EMBED", "0")


def copy_sample(name: str, dest: Path) -> Path:
    """A writable copy of a sample repository (without any index)."""
    target = dest / name
    shutil.copytree(SAMPLES / name, target, ignore=shutil.ignore_patterns(".ctxpack"))
    return target


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_sample("shop_api", tmp_path)


@pytest.fixture(scope="session")
def indexed_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each sample app copied and indexed once per session (read-only use)."""
    from ctxpack import build_index, load_config

    base = tmp_path_factory.mktemp("samples")
    out = {}
    for name in APPS:
        repo = copy_sample(name, base)
        build_index(repo, load_config(repo))
        out[name] = repo
    return out
