#!/usr/bin/env python3
"""ctxpack against the tools a user would pick instead (Repomix, Aider's repo map), in one run.

On each TREE (a git checkout), one command at a time, wall seconds of:
  repomix   pack the whole repository to /dev/null: first run, then a second (warm) run
  aider     `--show-repo-map` at --map-tokens 8192 and 131072: first run (tags cache deleted), warm (cache kept)
  ctxpack   cold `pack --no-embed` (fresh index dir), warm CLI `pack` (index exists), `pack --daemon`
            (second and third calls, the daemon started by the first), warm server POST /pack (p50 of --requests)
and prints a markdown table with ratios against ctxpack's warm server p50 (stdout; -o FILE writes it too).

The tools are installed outside the project, e.g.
  mkdir -p /work/scratch/tools && cd /work/scratch/tools && npm install repomix
  python3 -m venv /work/scratch/aider-venv && /work/scratch/aider-venv/bin/pip install aider-chat
A tool that cannot be found or fails is reported in one line and its rows are left empty.

Usage:
  python benchmarks/tool_compare.py TREE [TREE ...] [--repomix BIN] [--aider BIN] [--requests 20] [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ctxpack.serve.daemon_client import is_running
from ctxpack.store.tables import BEHIND_PID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_bench import _free_port, _queries, wait_warm  # noqa: E402  (benchmarks/ is not a package)

CTXPACK = [sys.executable, "-m", "ctxpack"]
NICE = ["nice", "-n", "5"]
AIDER_FLAGS = ["--show-repo-map", "--yes-always", "--no-check-update", "--no-show-model-warnings", "--no-analytics",
               "--no-gitignore", "--no-auto-commits", "--no-pretty", "--no-fancy-input", "--no-stream",
               "--chat-history-file", os.devnull, "--input-history-file", os.devnull, "--model", "gpt-4o"]
REPOMIX_FLAGS = ["--quiet", "--no-security-check", "-o", os.devnull]
# (tool, mode, ranked?) in table order
ROWS = [
    ("Repomix", "first run", "no (whole repository, git-change order)"),
    ("Repomix", "warm (second) run", "no (whole repository, git-change order)"),
    ("Aider repo map 8K", "first run (no tags cache)", "yes (graph rank, no query)"),
    ("Aider repo map 8K", "warm (tags cache kept)", "yes (graph rank, no query)"),
    ("Aider repo map 128K", "first run (no tags cache)", "yes (graph rank, no query)"),
    ("Aider repo map 128K", "warm (tags cache kept)", "yes (graph rank, no query)"),
    ("ctxpack 128K", "cold CLI `pack` (fresh index)", "yes (by the query)"),
    ("ctxpack 128K", "warm CLI `pack` (index exists)", "yes (by the query)"),
    ("ctxpack 128K", "`pack --daemon` (second call: the daemon's first request)", "yes (by the query)"),
    ("ctxpack 128K", "`pack --daemon` (third call, warm)", "yes (by the query)"),
    ("ctxpack 128K", "warm server POST /pack, p50", "yes (by the query)"),
]
SERVER_ROW = ROWS[-1][:2]


@dataclass
class TreeResult:
    name: str
    files: int
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _timed(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 1800) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(NICE + cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        raise RuntimeError(f"{Path(cmd[0]).name} exited {done.returncode}: {tail[0][:200]}")
    return wall


def _clear_aider(tree: Path) -> None:
    for p in tree.glob(".aider*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def _repomix(tree: Path, res: TreeResult, binary: str) -> None:
    try:
        for mode in ("first run", "warm (second) run"):
            res.seconds[("Repomix", mode)] = _timed([binary, *REPOMIX_FLAGS, str(tree)], tree, dict(os.environ))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        res.failures.append(f"Repomix on {res.name}: {exc}")


def _aider(tree: Path, res: TreeResult, binary: str) -> None:
    # No key is needed for --show-repo-map; the model only names the tokenizer. litellm's price-map download
    # fails at once offline and falls back to its bundled copy.
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIDER_ANALYTICS": "false"}
    try:
        for tokens, label in ((8192, "8K"), (131072, "128K")):
            _clear_aider(tree)
            cmd = [binary, *AIDER_FLAGS, "--map-tokens", str(tokens)]
            res.seconds[(f"Aider repo map {label}", "first run (no tags cache)")] = _timed(cmd, tree, env)
            res.seconds[(f"Aider repo map {label}", "warm (tags cache kept)")] = _timed(cmd, tree, env)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        res.failures.append(f"Aider on {res.name}: {exc}")
    finally:
        _clear_aider(tree)


def _ctxpack(tree: Path, res: TreeResult, query: str, requests: int) -> None:
    index = Path(tempfile.mkdtemp(prefix="ctxpack-compare-index-"))
    env = {**os.environ, "CTXPACK_EMBED": "0", "CTXPACK_INDEX_DIR": str(index)}
    pack = [*CTXPACK, "pack", str(tree), "--query", query, "--budget", "128000", "--no-embed",
            "--index-dir", str(index), "-o", os.devnull, "-q"]
    key = "ctxpack 128K"
    # Run from outside the tree: `python -m` puts the cwd on sys.path, and a numpy checkout would shadow numpy.
    cwd = index.parent
    try:
        res.seconds[(key, "cold CLI `pack` (fresh index)")] = _timed(pack, cwd, env)
        deadline = time.monotonic() + 300
        while (index / BEHIND_PID).exists() and time.monotonic() < deadline:  # the index written behind the answer
            time.sleep(0.1)
        res.seconds[(key, "warm CLI `pack` (index exists)")] = _timed(pack, cwd, env)
        _timed([*pack, "--daemon"], cwd, env)  # no daemon yet: packs in-process, then starts one
        deadline = time.monotonic() + 120
        while not is_running(index) and time.monotonic() < deadline:  # it loads the index before it listens
            time.sleep(0.5)
        # The daemon loads a repository on its first request, so the second call is not yet warm.
        res.seconds[(key, "`pack --daemon` (second call: the daemon's first request)")] = _timed(
            [*pack, "--daemon"], cwd, env)
        res.seconds[(key, "`pack --daemon` (third call, warm)")] = _timed([*pack, "--daemon"], cwd, env)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        res.failures.append(f"ctxpack CLI on {res.name}: {exc}")
    finally:
        subprocess.run([*CTXPACK, "daemon", str(index), "--stop"], env=env, capture_output=True)
    try:
        res.seconds[SERVER_ROW] = _server_p50(tree, index, env, requests)
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        res.failures.append(f"ctxpack server on {res.name}: {exc}")
    for f in res.failures:
        print(f, file=sys.stderr)
    shutil.rmtree(index, ignore_errors=True)


def _server_p50(tree: Path, index: Path, env: dict[str, str], requests: int) -> float:
    port = _free_port()
    proc = subprocess.Popen(NICE + [*CTXPACK, "serve", str(tree), "--port", str(port), "--no-embed",
                                    "--index-dir", str(index)],
                            env=env, cwd=index.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_warm(url, proc, 300):
            raise RuntimeError("server did not become ready")
        queries = _varied_queries(tree, index, requests + 3)
        lat = []
        with httpx.Client(timeout=60) as client:
            for i, q in enumerate(queries):
                t0 = time.perf_counter()
                r = client.post(f"{url}/pack", json={"query": q, "budget": 128000})
                r.raise_for_status()
                if i >= 3:  # the first three warm up
                    lat.append(time.perf_counter() - t0)
        return statistics.median(lat)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _varied_queries(tree: Path, index: Path, n: int) -> list[str]:
    """Distinct instructions naming real symbols of the tree (server_bench's), so no answer is a cached one."""
    os.environ["CTXPACK_INDEX_DIR"] = str(index)  # read by _queries
    deadline = time.monotonic() + 120
    while True:
        try:
            return _queries(tree, n)
        except Exception as exc:  # the index's tables may still be written behind the first pack
            if time.monotonic() > deadline:
                raise RuntimeError(f"no queries from the index: {exc}") from exc
            time.sleep(1.0)


def _versions(repomix: str | None, aider: str | None) -> list[str]:
    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout.strip().splitlines()[-1]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unavailable"

    here = Path(__file__).resolve().parents[1]
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU")
    commit = out(["git", "-C", str(here), "rev-parse", "--short", "HEAD"])
    return [
        f"- ctxpack: commit {commit}, Python {sys.version.split()[0]}",
        f"- Repomix: {out([repomix, '--version']) if repomix else 'not found'} (node {out(['node', '--version'])})",
        f"- Aider: {out([aider, '--version']) if aider else 'not found'}",
        f"- machine: {os.cpu_count()} cores ({cpu}), shared with other work; every command under `nice -n 5`, "
        "one at a time",
    ]


def render(results: list[TreeResult]) -> str:
    head = "| tool | mode | ranked? | " + " | ".join(f"{r.name} ({r.files} files), s | × server"
                                                      for r in results) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(results))]
    for tool, mode, ranked in ROWS:
        cells = []
        for r in results:
            s, base = r.seconds.get((tool, mode)), r.seconds.get(SERVER_ROW)
            cells.append(f"{s:.3f}" if s is not None else "—")
            cells.append(f"{s / base:.0f}×" if s is not None and base else "—")
        lines.append(f"| {tool} | {mode} | {ranked} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+")
    ap.add_argument("--repomix", default="/work/scratch/tools/node_modules/.bin/repomix")
    ap.add_argument("--aider", default="/work/scratch/aider-venv/bin/aider")
    ap.add_argument("--query", action="append", default=[], help="ctxpack query per tree (in order)")
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--tools", default="repomix,aider,ctxpack", help="comma-separated subset to run")
    ap.add_argument("-o", "--output", help="also write the table (markdown) here")
    args = ap.parse_args()
    repomix = args.repomix if Path(args.repomix).exists() else shutil.which("repomix")
    aider = args.aider if Path(args.aider).exists() else shutil.which("aider")
    results = []
    for i, t in enumerate(args.trees):
        tree = Path(t).resolve()
        files = len(subprocess.run(["git", "-C", str(tree), "ls-files"], capture_output=True,
                                   text=True).stdout.splitlines())
        res = TreeResult(tree.name, files)
        query = args.query[i] if i < len(args.query) else "fix the bug in the command line option parsing"
        print(f"{tree.name}: {files} files", file=sys.stderr)
        tools = set(args.tools.split(","))
        for name, binary, run in (("Repomix", repomix, _repomix), ("Aider", aider, _aider)):
            if name.lower() not in tools:
                continue
            if binary:
                run(tree, res, binary)
            else:
                res.failures.append(f"{name}: not installed (no {name.lower()} binary found)")
        if "ctxpack" in tools:
            _ctxpack(tree, res, query, args.requests)
        print(json.dumps({f"{k[0]} / {k[1]}": round(v, 4) for k, v in res.seconds.items()}), file=sys.stderr)
        results.append(res)
    table = render(results)
    notes = [f"- {f}" for r in results for f in r.failures]
    text = table + "\n\n" + "\n".join(_versions(repomix, aider) + notes) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)


if __name__ == "__main__":
    main()
