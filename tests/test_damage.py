"""A damaged LanceDB index on disk: detected, one warning, rebuilt from the files; packing never stops.

Each kind of damage is what real life does to files (a disk filling mid-copy truncates, a
sync tool or a clean-up deletes, a bad sector or a stray write leaves garbage), done to a
real index on disk, and checked through the real CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ctxpack import build_index, load_config
from ctxpack.store.tables import IndexStore

pytestmark = pytest.mark.slow


def _make_repo(root: Path) -> Path:
    for i in range(12):
        p = root / f"pkg{i % 3}" / f"mod_{i}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(f"def invoice_total_{i}_{j}(order, discount={j}):\n    return order.amount - {j}\n\n"
                             for j in range(8)))
    return root


def _files(db: Path, table: str, sub: str) -> list[Path]:
    return sorted(f for f in (db / f"{table}.lance" / sub).rglob("*") if f.is_file())


def _truncate(db: Path) -> None:
    f = _files(db, "files", "data")[0]
    f.write_bytes(f.read_bytes()[:100])


def _delete_fragment(db: Path) -> None:
    for f in _files(db, "symbols", "data"):
        f.unlink()


def _garbage(db: Path) -> None:  # same size, bytes overwritten in place
    f = _files(db, "chunks", "data")[0]
    data = bytearray(f.read_bytes())
    data[8:len(data) - 8] = os.urandom(len(data) - 16)
    f.write_bytes(bytes(data))


def _missing_version(db: Path) -> None:
    for f in _files(db, "symbols", "_versions"):
        if f.suffix == ".manifest":
            f.unlink()


def _garbage_version(db: Path) -> None:
    for f in _files(db, "files", "_versions"):
        if f.suffix == ".manifest":
            f.write_bytes(os.urandom(300))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate, "deleted-fragment": _delete_fragment, "garbage-bytes": _garbage,
    "missing-version": _missing_version, "garbage-version": _garbage_version,
}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CTXPACK_EMBED": "0"}
    return subprocess.run([sys.executable, "-m", "ctxpack", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def _state(idx: Path) -> tuple[dict[str, str], int, int]:
    snap = IndexStore(idx).load()
    return ({p: r.sha1 for p, r in snap.files.items()}, sum(map(len, snap.symbols.values())),
            sum(len(v) for v in snap.chunks.values()))


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "index damaged" in line or "unreadable in" in line]


@pytest.fixture()
def damaged_index(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, Path]:
    repo = _make_repo(tmp_path / "repo")
    idx = tmp_path / "idx"
    build_index(repo, load_config(repo, index_dir=str(idx), embed=False))
    DAMAGE[request.param](idx / IndexStore(idx).manifest().db)
    return repo, idx


@pytest.mark.parametrize("damaged_index", sorted(DAMAGE), indirect=True)
def test_pack_on_damaged_index_warns_once_answers_and_heals(damaged_index: tuple[Path, Path]) -> None:
    repo, idx = damaged_index
    r = _run("pack", str(repo), "--index-dir", str(idx), "--query", "invoice total discount", "--budget", "3000",
             "--format", "json", cwd=repo)
    assert r.returncode == 0, r.stderr
    assert "def invoice_total_" in r.stdout
    lines = _warnings(r.stderr)
    assert len(lines) == 1 and "rebuilding" in lines[0], r.stderr
    again = _run("index", str(repo), "--index-dir", str(idx), cwd=repo)
    assert again.returncode == 0 and not _warnings(again.stderr), again.stderr
    clean = idx.parent / "clean"
    build_index(repo, load_config(repo, index_dir=str(clean), embed=False))
    assert _state(idx) == _state(clean)


@pytest.mark.parametrize("damaged_index", sorted(DAMAGE), indirect=True)
def test_index_after_an_edit_on_damaged_index_rebuilds(damaged_index: tuple[Path, Path]) -> None:
    repo, idx = damaged_index
    with open(repo / "pkg0" / "mod_0.py", "a") as fh:
        fh.write("def refund_total(order):\n    return 0\n")
    for _ in range(2):  # every run works, not only the first
        r = _run("index", str(repo), "--index-dir", str(idx), cwd=repo)
        assert r.returncode == 0, r.stderr
        assert "internal error" not in r.stderr
    assert "refund_total" in {s.name for ss in IndexStore(idx).load().symbols.values() for s in ss}


@pytest.mark.parametrize("damaged_index", ["truncated", "missing-version"], indirect=True)
def test_index_without_a_record_still_heals(damaged_index: tuple[Path, Path]) -> None:
    """An index written before the record existed: the damage shows when the tables are written."""
    repo, idx = damaged_index
    (idx / "tables.sum").unlink()
    (repo / "pkg1" / "mod_1.py").write_text("def refund_total(order):\n    return 0\n")
    r = _run("index", str(repo), "--index-dir", str(idx), cwd=repo)
    assert r.returncode == 0, r.stderr
    lines = _warnings(r.stderr)
    assert len(lines) == 1 and "rebuilding" in lines[0], r.stderr
    assert "refund_total" in {s.name for ss in IndexStore(idx).load().symbols.values() for s in ss}


def test_copied_index_is_not_damage(tmp_path: Path) -> None:
    """``cp -r`` gives every file a new mtime: confirmed by reading, no warning, no rebuild."""
    repo = _make_repo(tmp_path / "repo")
    idx = tmp_path / "idx"
    build_index(repo, load_config(repo, index_dir=str(idx), embed=False))
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(idx), str(copy)], check=True)
    db_before = IndexStore(copy).manifest().db
    r = _run("pack", str(repo), "--index-dir", str(copy), "--query", "invoice", "--budget", "2000", cwd=repo)
    assert r.returncode == 0 and not _warnings(r.stderr), r.stderr
    assert IndexStore(copy).manifest().db == db_before
    assert IndexStore(copy).damage(IndexStore(copy).manifest()) is None
