#!/usr/bin/env python3
"""Warm-server latency against cold baselines, on a real repository.

Measures, in one run, on REPO (lexical lane; the embedding model is not loaded):
  baselines  read + exactly count every file once (tiktoken); a cold `ctxpack pack` process
  index      cold lexical index (`ctxpack index --no-embed`), wall and CPU seconds
  server     `ctxpack serve` (subprocess): RSS; warm POST /pack at 128K (p50/p99);
             first streamed file over the WebSocket; one-file edit -> next pack reflects it;
             N concurrent clients for D seconds (errors, latencies, throughput)
and prints every figure with its ratio to the baselines.

Usage:
  python benchmarks/server_bench.py REPO [--requests 100] [--clients 16] [--duration 60]
Example (trees materialized from `fetch`ed mirrors, never committed):
  python benchmarks/server_bench.py /work/bench-trees/sqlalchemy+sqlalchemy
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

from ctxpack import load_config
from ctxpack.index.discover import list_candidates, read_source
from ctxpack.models import Skipped
from ctxpack.tokens import get_counter

CTXPACK = [sys.executable, "-m", "ctxpack"]


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_warm(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:  # type: ignore[type-arg]
    """Wait until the server at ``url`` is warm: its repository loaded, and the worker's start-up
    scan (secrets, token counts) merged. False when it exits or ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            st = httpx.get(f"{url}/status", timeout=2).json()["repos"][0]
            if st["state"] == "ready" and st.get("prepared") != "pending":
                return True
        except (httpx.HTTPError, KeyError, IndexError, ValueError):
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            return False
        time.sleep(0.2)


def read_and_count(repo: Path) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    cfg = load_config(repo)
    counter = get_counter(cfg.encoding)
    cands, _ = list_candidates(repo, cfg)
    files = tokens = 0
    for c in cands:
        src = read_source(repo, c)
        if not isinstance(src, Skipped):
            tokens += counter.count(src.text)
            files += 1
    return time.perf_counter() - t0, files, tokens


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:4])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _queries(repo: Path, n: int) -> list[str]:
    """Edit instructions naming real symbols and files of the repository (seeded)."""
    from ctxpack.store.tables import IndexStore

    snap = IndexStore(Path(os.environ["CTXPACK_INDEX_DIR"])).load()
    defs = sorted({s.name for ss in snap.symbols.values() for s in ss if s.kind == "def" and len(s.name) > 4})
    paths = sorted(snap.files)
    rng = random.Random(7)
    forms = ["fix the bug in {s} when the input is empty", "add an option to {s} and document it",
             "refactor {s} to handle errors from {p}", "make {s} faster for large inputs"]
    return [rng.choice(forms).format(s=rng.choice(defs), p=Path(rng.choice(paths)).stem) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--edits", type=int, default=10)
    args = ap.parse_args()
    src = Path(args.repo).resolve()
    work = Path(tempfile.mkdtemp(prefix="ctxpack-server-bench-"))
    repo = work / src.name
    shutil.copytree(src, repo, symlinks=True)  # edits happen on a copy
    env = {**os.environ, "CTXPACK_INDEX_DIR": str(work / "index"), "CTXPACK_EMBED": "0"}
    os.environ.update({"CTXPACK_INDEX_DIR": env["CTXPACK_INDEX_DIR"]})
    rows: list[tuple[str, str, str]] = []

    t_read, n_files, n_tokens = read_and_count(repo)
    print(f"repository {src.name}: {n_files} files, {n_tokens} tokens; {os.cpu_count()} cores", file=sys.stderr)
    rows.append(("read + count every file (baseline)", f"{t_read * 1000:.0f} ms", "1.00x"))

    wall, cpu = _run([*CTXPACK, "index", str(repo), "-q"], env)
    rows.append(("cold lexical index (`ctxpack index --no-embed`)", f"{wall:.2f} s wall, {cpu:.2f} s CPU",
                 f"{wall / t_read:.1f}x read+count"))
    queries = _queries(repo, max(args.requests, 20))
    cold = []
    for q in queries[:5]:
        w, _ = _run([*CTXPACK, "pack", str(repo), "--query", q, "--budget", "128000", "-q"], env)
        cold.append(w)
    t_cold = statistics.median(cold)
    rows.append(("cold `ctxpack pack` process @128K (baseline, p50 of 5)", f"{t_cold * 1000:.0f} ms", "1.00x"))

    port = _free_port()
    proc = subprocess.Popen([*CTXPACK, "serve", str(repo), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_warm(url, proc, 120):
            raise SystemExit(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")
        client = httpx.Client(timeout=30)
        for q in queries[:3]:
            client.post(f"{url}/pack", json={"query": q, "budget": 128000})  # warm-up
        lat = []
        for q in queries[: args.requests]:
            t0 = time.perf_counter()
            r = client.post(f"{url}/pack", json={"query": q, "budget": 128000})
            lat.append(time.perf_counter() - t0)
            assert r.status_code == 200 and r.json()["tokens"] <= 128000
        p50, p99 = _pct(lat, 0.5), _pct(lat, 0.99)
        rows.append((f"warm POST /pack @128K, p50 / p99 ({len(lat)} requests)", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} ms",
                     f"{t_cold / p50:.0f}x faster than cold pack; {t_read / p50:.1f}x faster than read+count"))

        first, header = [], []
        with connect(f"ws://127.0.0.1:{port}/ws/pack", max_size=None) as ws:
            for q in queries[:20]:
                t0 = time.perf_counter()
                ws.send(json.dumps({"query": q, "budget": 128000}))
                got_first = None
                while True:
                    m = json.loads(ws.recv(timeout=30))
                    if m["type"] == "header":
                        header.append(time.perf_counter() - t0)
                    elif m["type"] == "file" and got_first is None:
                        got_first = time.perf_counter() - t0
                    elif m["type"] in ("summary", "error"):
                        break
                first.append(got_first or float("nan"))
        rows.append(("WebSocket: header / first file, p50 (20 requests)",
                     f"{_pct(header, 0.5) * 1000:.0f} / {_pct(first, 0.5) * 1000:.0f} ms", ""))

        st = json.loads(httpx.get(f"{url}/status").text)["repos"][0]
        paths = sorted(p for p in (f["path"] for f in client.get(f"{url}/files").json()["files"]) if p.endswith(".py"))
        rng = random.Random(3)
        reflect = []
        for i in range(args.edits):
            target = repo / rng.choice(paths)
            name = f"ctxpack_probe_{i}_{rng.randrange(10**6)}"
            original = target.read_bytes()
            t0 = time.perf_counter()
            target.write_bytes(original + f"\n\ndef {name}():\n    return {i}\n".encode())
            rel = target.relative_to(repo).as_posix()
            while True:  # the edited file, named as an editor would (focus), must carry the new definition
                d = client.post(f"{url}/pack", json={"query": f"change {name}", "budget": 8000,
                                                      "focus": [rel]}).json()
                if any(f["path"] == rel and any(name in r for r in f["reasons"]) for f in d["files"]):
                    break
                if time.perf_counter() - t0 > 30:
                    break
            reflect.append(time.perf_counter() - t0)
            target.write_bytes(original)
            time.sleep(0.3)
        rows.append((f"edit -> next pack reflects it, p50 / max ({args.edits} edits)",
                     f"{_pct(reflect, 0.5) * 1000:.0f} / {max(reflect) * 1000:.0f} ms",
                     f"{t_cold / _pct(reflect, 0.5):.1f}x faster than a cold pack"))

        rss = int(next(line.split()[1] for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                       if line.startswith("VmHWM")))
        rows.append(("server peak RSS (no embedding model)", f"{rss / 1024:.0f} MiB", ""))

        errors = 0
        lat_c: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.duration

        def worker(seed: int) -> None:
            nonlocal errors
            c = httpx.Client(timeout=60)
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                q = rng.choice(queries)
                t0 = time.perf_counter()
                try:
                    ok = c.post(f"{url}/pack", json={"query": q, "budget": 128000}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    lat_c.append(time.perf_counter() - t0)
                    errors += not ok

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows.append((f"{args.clients} concurrent clients x {args.duration:.0f} s @128K",
                     f"{len(lat_c)} requests, {errors} errors, p50 {_pct(lat_c, 0.5) * 1000:.0f} ms, "
                     f"p99 {_pct(lat_c, 0.99) * 1000:.0f} ms, {len(lat_c) / args.duration:.1f} req/s", ""))
        print(f"\n## {src.name}: {st['files']} files indexed, {st['chunks']} chunks, {n_tokens} tokens\n")
        print("| measure | value | vs baseline |\n|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} |")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
