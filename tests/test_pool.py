"""Parsing on every core (issue 17): the pool gives the index the serial run gives; small updates start no pool."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES

from ctxpack import build_index, load_config, open_repo
from ctxpack.errors import ConfigError
from ctxpack.index import pool
from ctxpack.models import SourceFile
from ctxpack.store.tables import IndexStore


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """The four sample repositories side by side: every language the samples have, and more than a pool's minimum."""
    root = tmp_path / "many"
    for sample in sorted(SAMPLES.iterdir()):
        if sample.is_dir():
            shutil.copytree(sample, root / sample.name, ignore=shutil.ignore_patterns(".ctxpack"))
    return root


class _Counting:
    """``ProcessPoolExecutor`` that counts the pools started (and their workers)."""

    started: list[int] = []

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        cls.started.append(kwargs.get("max_workers", 0))
        return ProcessPoolExecutor(*args, **kwargs)


def _tables(index_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    store = IndexStore(index_dir)
    man = store.manifest()
    out = {}
    for name, table in store._tables(man).items():
        rows = table.to_arrow().to_pylist()
        out[name] = sorted(tuple((k, repr(v)) for k, v in sorted(r.items()) if k != "vector") for r in rows)
    return out


def test_the_pool_builds_the_serial_index(many: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "ProcessPoolExecutor", _Counting)
    _Counting.started = []
    serial_dir, pooled_dir = tmp_path / "serial", tmp_path / "pooled"
    monkeypatch.setenv(pool.WORKERS_ENV, "1")
    serial = build_index(many, load_config(many, index_dir=str(serial_dir)))
    assert _Counting.started == []
    assert serial.files >= pool.POOL_MIN_FILES  # the pool's own threshold, not a forced one
    monkeypatch.setenv(pool.WORKERS_ENV, "2")
    pooled = build_index(many, load_config(many, index_dir=str(pooled_dir)))
    assert _Counting.started == [2]
    assert (pooled.files, pooled.parsed, pooled.chunks, pooled.symbols) == (
        serial.files, serial.parsed, serial.chunks, serial.symbols)
    a = open_repo(many, load_config(many, index_dir=str(serial_dir)), refresh=False).snapshot
    b = open_repo(many, load_config(many, index_dir=str(pooled_dir)), refresh=False).snapshot
    assert a.files.keys() == b.files.keys()
    assert {p: (r.sha1, r.tokens, r.lines) for p, r in a.files.items()} == {
        p: (r.sha1, r.tokens, r.lines) for p, r in b.files.items()}
    assert (a.file_terms, a.symbols, a.chunks) == (b.file_terms, b.symbols, b.chunks)
    ta, tb = _tables(serial_dir), _tables(pooled_dir)
    assert ta.keys() == tb.keys() >= {"files", "symbols", "chunks"}
    def strip(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:  # every column but the file times
        return [tuple(c for c in r if c[0] != "mtime_ns") for r in rows]

    for name in ta:
        assert strip(ta[name]) == strip(tb[name]), name


def test_a_small_update_starts_no_pool(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pool.WORKERS_ENV, "2")
    cfg = load_config(many)
    build_index(many, cfg)
    monkeypatch.setattr(pool, "ProcessPoolExecutor", _Counting)
    _Counting.started = []
    for i, f in enumerate(sorted(many.rglob("*.py"))[:5]):
        f.write_text(f.read_text() + f"\n\ndef added_{i}():\n    return {i}\n")
    stats = build_index(many, cfg)
    assert stats.parsed == 5 and _Counting.started == []
    (many / "shop_api" / "extra.py").write_text("def extra():\n    return 1\n")
    open_repo(many, cfg)  # a pack's update
    assert _Counting.started == []


def test_workers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pool.WORKERS_ENV, "3")
    assert pool.worker_count() == 3
    monkeypatch.delenv(pool.WORKERS_ENV)
    assert pool.worker_count() >= 1
    monkeypatch.setattr(pool.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3}, raising=False)
    for busy, workers in ((0.0, 4), (0.4, 4), (1.2, 3), (2.0, 2), (3.6, 1), (39.0, 1)):  # idle cores only
        monkeypatch.setattr(pool, "busy_cores", lambda busy=busy: busy)
        assert pool.worker_count() == workers, busy
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv(pool.WORKERS_ENV, bad)
        with pytest.raises(ConfigError, match=pool.WORKERS_ENV):
            pool.worker_count()


def test_busy_cores_are_the_other_tasks_runnable_now(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    if os.path.exists("/proc/loadavg"):  # this test's own process is runnable: it is not counted
        assert 0 <= pool.busy_cores() < 64 and pool.busy_cores() == int(pool.busy_cores())
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: (_ for _ in ()).throw(OSError("no proc"))
                        if f == "/proc/loadavg" else real_open(f, *a, **k))
    monkeypatch.setattr(pool.os, "getloadavg", lambda: (3.5, 1.0, 1.0))
    assert pool.busy_cores() == 2.5  # elsewhere: the load average, this process left out


def test_a_task_that_runs_for_a_moment_is_not_other_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """busy_cores takes the least of a few looks: a kernel worker runnable at one instant does not
    halve the pool of the next second's work."""
    import io

    looks = iter(["0.5 0.5 0.5 3/90 1\n", "0.5 0.5 0.5 1/90 1\n", "0.5 0.5 0.5 4/90 1\n"])
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: io.StringIO(next(looks)) if f == "/proc/loadavg"
                        else real_open(f, *a, **k))
    monkeypatch.setattr(pool, "_own_runnable", lambda: 1)
    assert pool.busy_cores() == 0.0
    looks = iter(["0.5 0.5 0.5 3/90 1\n", "0.5 0.5 0.5 2/90 1\n", "0.5 0.5 0.5 4/90 1\n"])
    assert pool.busy_cores() == 1.0  # busy at every look: busy


def test_a_child_of_this_process_is_not_other_work(tmp_path: Path) -> None:
    """A git command this process started to run meanwhile is its own work, runnable or waiting: the pool
    still uses its cores."""
    import os
    import subprocess
    import sys
    import time

    if not os.path.exists("/proc/self/task"):
        pytest.skip("Linux's /proc is what is read")
    base = pool._own_runnable()
    spin = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])  # runnable or not
    try:
        deadline = time.monotonic() + 10
        while pool._own_runnable() < base + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool._own_runnable() >= base + 1
    finally:
        spin.kill()
        spin.wait()


def test_a_bad_worker_count_is_one_clear_line(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    env = {**__import__("os").environ, pool.WORKERS_ENV: "lots", "CTXPACK_EMBED": "0"}
    out = subprocess.run([sys.executable, "-m", "ctxpack", "index", str(many), "--no-embed", "-q"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0 and pool.WORKERS_ENV in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_workers_are_forked_only_from_asingle_threaded_process() -> None:
    import threading

    assert pool.single_threaded() == (threading.active_count() == 1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not pool.single_threaded()
    finally:
        stop.set()
        t.join()


def test_a_threaded_process_parses_in_clean_workers(many: Path) -> None:
    """A warm server has threads: its pool starts by forkserver, and gives the same values."""
    import threading

    from ctxpack.index.discover import list_candidates, read_source
    from ctxpack.models import SourceFile

    cfg = load_config(many)
    cands, _ = list_candidates(many, cfg, ())
    items = [(s.text, s.language) for c in sorted(cands, key=lambda c: c.path)
             if isinstance(s := read_source(many, c), SourceFile)][: pool.POOL_MIN_FILES]
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert pool.parse_contents(items, cfg, workers=2) == pool.parse_contents(items, cfg, workers=1)
    finally:
        stop.set()
        t.join()


def test_a_threaded_script_without_a_main_guard_is_not_run_again(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "host.py"
    script.write_text(
        "import sys, threading\n"
        "print('main ran', file=sys.stderr)\n"
        "from ctxpack.config import Config\n"
        "from ctxpack.index import pool\n"
        "ev = threading.Event()\n"
        "threading.Thread(target=ev.wait, daemon=True).start()\n"
        "items = [(f'def f{i}(x):\\n    return x\\n', 'python') for i in range(64)]\n"
        "print(len(pool.parse_contents(items, Config(), workers=2)))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, pool.WORKERS_ENV: "2"})
    assert out.returncode == 0 and out.stdout.strip() == "64"
    assert out.stderr.count("main ran") == 1 and "failed" not in out.stderr


def test_killing_an_index_run_leaves_no_worker_holding_the_index(many: Path, tmp_path: Path) -> None:
    """kill -9 of ``ctxpack index`` while its workers parse: the workers go too, and the lock is free."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from ctxpack.store.tables import IndexStore

    for i in range(400):  # enough parsing to be killed in the middle of it
        (many / "gen" / f"m{i}.py").parent.mkdir(exist_ok=True)
        (many / "gen" / f"m{i}.py").write_text("".join(f"def f{i}_{k}(x):\n    return x + {k}\n\n" for k in range(60)))
    env = {**os.environ, pool.WORKERS_ENV: "2", "CTXPACK_EMBED": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "ctxpack", "--debug", "index", str(many), "--no-embed",
                             "--index-dir", str(tmp_path / "idx")], env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # the pool is up
        if "workers" in line:
            break
    time.sleep(0.3)
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "no worker to check"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{c}") and "zombie" not in open(f"/proc/{c}/status").read().lower()
              for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [c for c in children if os.path.exists(f"/proc/{c}") and
                "zombie" not in open(f"/proc/{c}/status").read().lower()]
    with IndexStore(tmp_path / "idx").lock(wait_s=2):  # free
        pass


def test_the_pool_gives_the_serial_provisional_files(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big change answered first (terms and a token estimate, no parse) uses every core too, with the same result."""
    from ctxpack.index.discover import list_candidates, read_source
    from ctxpack.index.process import provisional_content, with_path

    cfg = load_config(many)
    sources = [s for c in list_candidates(many, cfg)[0] if isinstance(s := read_source(many, c), SourceFile)]
    assert len(sources) >= pool.POOL_MIN_FILES
    _Counting.started = []
    monkeypatch.setattr(pool, "ProcessPoolExecutor", _Counting)
    got = pool.provisional_files(sources, cfg, workers=2)
    assert _Counting.started == [2]
    assert got == [with_path(provisional_content(s.text, s.language), s) for s in sources]
    assert [p.row.record.path for p in got] == [s.path for s in sources]
    assert all(not p.chunks and p.row.counts for p in got if p.row.record.tokens > 10)
    assert any(s.kind == "def" for p in got for s in p.symbols)
    assert any(s.category == "import" for p in got for s in p.symbols)


def test_a_few_big_files_are_parsed_on_every_core(many: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The best ranked files of a big change, parsed for one pack, are few but big: the pool pays for them."""
    from ctxpack.index.process import process_content

    body = "".join(f"def handler_{i}(request):\n    return request.get('value_{i}', {i})\n\n\n" for i in range(2500))
    items = [(f"import os\n\n\n{body}class Last{k}:\n    pass\n", "python") for k in range(4)]
    assert len(items) < pool.POOL_MIN_FILES and sum(len(t) for t, _ in items) >= pool.POOL_MIN_CHARS
    _Counting.started = []
    monkeypatch.setattr(pool, "ProcessPoolExecutor", _Counting)
    cfg = load_config(many)
    got = pool.parse_contents(items, cfg, workers=2)
    assert _Counting.started == [2]
    assert got == [process_content(text, lang, cfg) for text, lang in items]
    small = [("def f():\n    return 1\n", "python")] * 4
    pool.parse_contents(small, cfg, workers=2)
    assert _Counting.started == [2]  # a few small files: no pool
