"""Scale-out benchmark (issue 7): index N repositories cold with the local engine, then Ray with 1 and 2 workers.

Each run builds a fresh multi-repository index (parse + chunk + token count, then the
embeddings with the bundled model: the cost that matters) and is timed in two phases:
``index`` (embeddings off) then ``embed`` (nothing left to parse). Ray is started before
each Ray run (its start-up is reported, not counted in throughput) and shut down after.

    git --git-dir=<mirror> archive HEAD | tar -x -C /work/bench-trees/NAME   # per repository
    .venv/bin/python benchmarks/ray_scale.py /work/bench-trees/{requests,flask,click,cobra}

It prints a Markdown report (stdout), including a labelled estimate for 1,000 repositories
from the measured per-chunk costs. Fetched code is never committed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _run(roots: list[Path], idx: Path, engine: Any) -> dict[str, float]:
    from ctxpack.engines.run import index_targets
    from ctxpack.index.catalog import targets_for

    t0 = time.perf_counter()
    a = index_targets(targets_for(idx, roots, embed=False), engine)
    t1 = time.perf_counter()
    b = index_targets(targets_for(idx, roots, embed=True), engine)
    t2 = time.perf_counter()
    assert b.files_sent == 0 and b.embeddings is not None and b.embeddings.complete
    return {"files": sum(s.files for s in a.repos.values()), "chunks": sum(s.chunks for s in a.repos.values()),
            "embedded": b.embeddings.embedded, "index_s": t1 - t0, "embed_s": t2 - t1, "total_s": t2 - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", nargs="+", type=Path, help="repository trees")
    ap.add_argument("--workers", default="1,2", help="Ray worker counts to run [1,2]")
    ap.add_argument("--fleet", type=int, default=1000, help="repositories in the estimate [1000]")
    args = ap.parse_args()
    roots = [r.resolve() for r in args.roots]
    os.environ.setdefault("CTXPACK_HOME", str(Path(tempfile.gettempdir()) / "ctxpack-bench-home"))
    from ctxpack.engines.ray import loopback_only

    loopback_only()  # before `import ray`: a private Ray on 127.0.0.1 only
    import ray

    from ctxpack.embed.backends import load_embedder
    from ctxpack.engines.local import LocalEngine
    from ctxpack.engines.ray import RayEngine, local_init_args, loopback_only

    load_embedder()  # export the ONNX model once, outside the timings
    work = Path(tempfile.mkdtemp(prefix="ray-scale-"))
    rows: list[tuple[str, dict[str, float], float]] = []
    print(f"local engine ({os.cpu_count()} cores)...", file=sys.stderr)
    rows.append(("local (1 process, onnxruntime on all cores)", _run(roots, work / "local", LocalEngine()), 0.0))
    for w in [int(x) for x in args.workers.split(",")]:
        print(f"ray, {w} worker(s)...", file=sys.stderr)
        t = time.perf_counter()
        loopback_only()
        ray.init(**local_init_args(w))
        start = time.perf_counter() - t
        label = f"ray, {w} worker{'s' if w > 1 else ''}"
        rows.append((label, _run(roots, work / f"ray{w}", RayEngine(workers=w)), start))
        ray.shutdown()
    base = rows[0][1]
    ray_rows = [r for r in rows if r[0].startswith("ray")]
    print(f"## Ray scale-out: {len(roots)} repositories, {base['files']:.0f} files, {base['chunks']:.0f} chunks\n")
    print(f"Machine: {os.cpu_count()} cores. Model: bundled all-MiniLM-L6-v2, ONNX int8. Cold indexes.\n")
    print("| engine | Ray start (s) | index (s) | embed (s) | total (s) | files/s | chunks/s | vs local |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r, start in rows:
        print(f"| {name} | {start:.1f} | {r['index_s']:.1f} | {r['embed_s']:.1f} | {r['total_s']:.1f} | "
              f"{r['files'] / r['total_s']:.1f} | {r['chunks'] / r['total_s']:.1f} | "
              f"{base['total_s'] / r['total_s']:.2f}x |")
    if len(ray_rows) >= 2:
        one, two = ray_rows[0][1], ray_rows[1][1]
        print(f"\nScaling 2 vs 1 Ray worker: total {one['total_s'] / two['total_s']:.2f}x, "
              f"index {one['index_s'] / two['index_s']:.2f}x, embed {one['embed_s'] / two['embed_s']:.2f}x.")
    one = ray_rows[0][1]
    parse_c = one["index_s"] / one["chunks"]
    embed_c = one["embed_s"] / one["chunks"]
    per_repo = base["chunks"] / len(roots)
    print(f"\nMeasured per-chunk cost on 1 Ray worker (1 CPU): index (discover, parse, chunk, count, write) "
          f"{parse_c * 1000:.2f} ms, embed {embed_c * 1000:.2f} ms.")
    eff = min(1.0, (one["total_s"] / ray_rows[1][1]["total_s"]) / 2) if len(ray_rows) >= 2 else 1.0
    cpu_h = args.fleet * per_repo * (parse_c + embed_c) / 3600
    write_h = args.fleet * per_repo * parse_c / 3600
    print(f"\n**Estimate, not a measurement.** {args.fleet:,} repositories of the fetched set's mean size "
          f"({per_repo:.0f} chunks each, {args.fleet * per_repo / 1e6:.2f} M chunks in all) need about {cpu_h:.1f} "
          f"worker-hours on CPU workers like this machine's cores ({embed_c / (parse_c + embed_c):.0%} of it "
          f"embedding). Spread with the 2-vs-1 scaling efficiency measured here ({eff:.0%}; on 2 cores the driver, "
          f"Ray's own processes and both workers share the CPUs, so dedicated nodes should do better), that is "
          + ", ".join(f"{cpu_h / (w * eff):.1f} h on {w} workers" for w in (8, 32, 128))
          + f". Assumptions: repositories as large as the fetched ones (a monorepo counts as many), CPU-only "
          f"workers, and the single writer (the driver) keeping up: it also does discovery and the writes, "
          f"at most {write_h:.2f} h in all if the whole index phase ran there.")


if __name__ == "__main__":
    main()
