"""Fault injection: kill -9 mid-index, concurrent writers, damaged index files.

Each case asserts that the index still answers and, after the next run, matches a clean
rebuild of the same tree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import wait_for

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.errors import IndexCorrupt
from ctxpack.store.tables import IndexStore

pytestmark = pytest.mark.slow


def _make_repo(root: Path, n: int = 150, tag: str = "a") -> Path:
    for i in range(n):
        p = root / f"pkg{i % 7}" / f"mod_{i}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"def handler_{i}_{j}_{tag}(request, retries={j}):\n    \"\"\"Handle case {j}.\"\"\"\n"
            f"    return helper_{(i + 1) % n}_{j}(request) + {j}\n\n" for j in range(12)
        )
        p.write_text(f"from pkg{(i + 1) % 7} import mod_{(i + 1) % n}\n\n{body}")
    return root


def _state(index_dir: Path) -> tuple[dict[str, str], int, int]:
    snap = IndexStore(index_dir).load()
    n_chunks = sum(len(v) for v in snap.chunks.values())
    return {p: r.sha1 for p, r in snap.files.items()}, sum(map(len, snap.symbols.values())), n_chunks


def _index_cmd(repo: Path, index_dir: Path) -> list[str]:
    return [sys.executable, "-m", "ctxpack", "index", str(repo), "--index-dir", str(index_dir), "-q"]


def test_kill_9_during_index_keeps_previous_index(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "repo")
    idx = tmp_path / "idx"
    cfg = load_config(repo, index_dir=str(idx))
    build_index(repo, cfg)
    before = _state(idx)
    # change every file, so the next run rewrites most of every table
    _make_repo(repo, tag="b")
    t0 = time.monotonic()
    subprocess.run(_index_cmd(repo, tmp_path / "probe"), check=True)
    duration = time.monotonic() - t0
    survived = 0
    for frac in (0.15, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97):
        proc = subprocess.Popen(_index_cmd(repo, idx))
        time.sleep(duration * frac)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = _state(idx)  # must load, and be the old or the new tree, never a mix
        new_state = _state(tmp_path / "probe")
        assert state in (before, new_state), f"mixed index after kill at {frac:.0%}"
        survived += 1
        pack = pack_for(open_repo(repo, cfg, refresh=False), "handler retries", budget=2000)
        assert pack.tokens <= 2000
    assert survived == 7
    build_index(repo, cfg)
    assert _state(idx) == _state(tmp_path / "probe")


def test_concurrent_writers_are_serialized(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "repo", n=60)
    idx = tmp_path / "idx"
    procs = [subprocess.Popen(_index_cmd(repo, idx), stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in results:
        assert code == 0 or "being written by another process" in err, err
    assert any(code == 0 for code, _ in results)
    clean = tmp_path / "clean"
    build_index(repo, load_config(repo, index_dir=str(clean)))
    assert _state(idx) == _state(clean)


def test_damaged_table_data_is_detected_and_rebuilt(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "repo", n=30)
    idx = tmp_path / "idx"
    cfg = load_config(repo, index_dir=str(idx))
    build_index(repo, cfg)
    expected = _state(idx)
    store = IndexStore(idx)
    (idx / "snapshot.pkl").unlink()  # force reads from the tables
    for f in (idx / store.manifest().db).rglob("*.lance"):
        if f.is_file():
            f.write_bytes(b"\0garbage")
    with pytest.raises(IndexCorrupt, match="Run: ctxpack index --rebuild"):
        store.load()
    r = subprocess.run(_index_cmd(repo, idx), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _state(idx) == expected


def test_garbage_snapshot_cache_falls_back_to_tables(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "repo", n=20)
    idx = tmp_path / "idx"
    build_index(repo, load_config(repo, index_dir=str(idx)))
    expected = _state(idx)
    (idx / "snapshot.pkl").write_bytes(b"not a pickle")
    assert _state(idx) == expected


def test_vanishing_files_during_index(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "repo", n=200)
    idx = tmp_path / "idx"
    proc = subprocess.Popen(_index_cmd(repo, idx), stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (idx / "write.lock").exists(), 30, 0.01, "the index run to take its lock")  # it is indexing
    victims = sorted(repo.rglob("*.py"))[::3]
    for v in victims:
        v.unlink()
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    build_index(repo, load_config(repo, index_dir=str(idx)))
    files, _, _ = _state(idx)
    assert not any(str(v.relative_to(repo)) in files for v in victims)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything: permission faults cannot be made")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:  # pragma: no cover - non-root only
    repo = _make_repo(tmp_path / "repo", n=5)
    bad = repo / "pkg0" / "mod_0.py"
    bad.chmod(0)
    stats = build_index(repo, load_config(repo, index_dir=str(tmp_path / "idx")))
    assert any(s.path == "pkg0/mod_0.py" and s.reason.startswith("unreadable") for s in stats.skipped)


def test_foreign_or_file_index_dir_is_refused(tmp_path: Path) -> None:
    repo = _make_repo(tmp_path / "repo", n=3)
    foreign = tmp_path / "Documents"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    (foreign / "db-backup").mkdir()
    r = subprocess.run(_index_cmd(repo, foreign), capture_output=True, text=True)
    assert r.returncode == 1 and "is not a ctxpack index" in r.stderr
    assert (foreign / "thesis.docx").read_text() == "precious" and (foreign / "db-backup").is_dir()
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = subprocess.run(_index_cmd(repo, afile), capture_output=True, text=True)
    assert r.returncode == 2 and "is a file" in r.stderr and "Traceback" not in r.stderr


def test_write_failure_leaves_previous_index(tmp_path: Path) -> None:
    """A full disk, simulated with a 1 MiB tmpfs-like limit: RLIMIT_FSIZE on the writer."""
    repo = _make_repo(tmp_path / "repo", n=40)
    idx = tmp_path / "idx"
    build_index(repo, load_config(repo, index_dir=str(idx)))
    before = _state(idx)
    _make_repo(repo, n=40, tag="big" * 200)  # every file changes and grows
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))\n"
        "from ctxpack.cli import main\n"
        f"sys.argv = ['ctxpack', 'index', {str(repo)!r}, '--index-dir', {str(idx)!r}, '-q']\n"
        "main()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and r.stderr.startswith("Error: ")
    assert _state(idx) == before
