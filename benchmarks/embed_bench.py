#!/usr/bin/env python3
"""Embedding throughput and the cold-index cost of the dense lane.

Part 1, backends (baseline: sentence-transformers on torch, same model, same run):
a sample of the repository's chunks is embedded by each backend and batching policy;
prints chunks/s, the ratio to the torch baseline and the cosine agreement with it.

Part 2, cold index of the whole repository: the lexical index (discover, parse, chunk,
count, write) and then the embedding of every chunk with the default backend, each
timed, with the embedding's share of the total.

Usage:
  python benchmarks/embed_bench.py REPO_TREE [--sample 512] [--skip-torch]
Example (the largest dev repository by files, rich, at its typical parent, as materialized
by the recall bench):
  python benchmarks/embed_bench.py /work/bench-scratch/trees/Textualize+rich/c8007488104ee0a36403b1ff7566ac784413b054
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from ctxpack import build_index, embed_index, load_config
from ctxpack.embed.backends import load_embedder
from ctxpack.store.tables import IndexStore


def _rate(emb, texts: list[str], batch: int, sort: bool) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else list(range(len(texts)))
    out = np.zeros((len(texts), emb.dim), np.float32)
    emb.embed(texts[:2])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(order), batch):
        idx = order[i: i + batch]
        out[idx] = emb.embed([texts[j] for j in idx])
    return len(texts) / (time.perf_counter() - t0), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--sample", type=int, default=512, help="chunks embedded per backend configuration")
    ap.add_argument("--skip-torch", action="store_true")
    args = ap.parse_args()
    repo = Path(args.repo).resolve()
    work = Path(tempfile.mkdtemp(prefix="ctxpack-embed-bench-"))
    cfg = load_config(repo, index_dir=str(work / "index"), embed=True)
    print(f"repository: {repo} ({os.cpu_count()} cores)")

    t0 = time.perf_counter()
    stats = build_index(repo, cfg)
    t_lex = time.perf_counter() - t0
    store = IndexStore(work / "index")
    snap = store.load()
    hashes = sorted({sp.content_hash for spans in snap.chunks.values() for sp in spans})
    texts_by_hash = store.chunk_texts(set(hashes))
    rng = random.Random(0)
    sample = [texts_by_hash[h] for h in rng.sample(hashes, min(args.sample, len(hashes)))]

    print("\n## Cold index, default backend\n")
    t0 = time.perf_counter()
    est = embed_index(repo, cfg)
    t_emb = time.perf_counter() - t0
    total = t_lex + t_emb
    print("| step | seconds | share |\n|---|---|---|")
    print(f"| lexical index ({stats.files} files, {stats.chunks} chunks) | {t_lex:.1f} | {t_lex / total:.0%} |")
    print(f"| embeddings ({est.embedded} chunks, {est.embedded / t_emb:.1f} chunks/s) | {t_emb:.1f} | {t_emb / total:.0%} |")
    print(f"| total | {total:.1f} | 100% |")
    t0 = time.perf_counter()
    again = embed_index(repo, cfg)
    print(f"\nre-index with nothing changed: {again.embedded} chunks embedded, {time.perf_counter() - t0:.2f} s")

    print(f"\n## Backends ({len(sample)} chunks sampled from {len(hashes)})\n")
    print("| backend | batch | length-sorted | chunks/s | vs torch | cosine to torch (min / mean) |")
    print("|---|---|---|---|---|---|")
    ref = None
    base_rate = None
    # onnx first, torch last: once torch has run, its OpenMP worker threads keep spinning
    # and slow onnxruntime down on a 2-core machine.
    configs = [("onnx", 32, False), ("onnx", 16, True), ("onnx", 32, True), ("onnx", 64, True)]
    configs += [("torch", 32, True)] if not args.skip_torch else []
    results = []
    for backend, batch, sort in configs:
        emb = load_embedder(backend=backend, max_tokens=cfg.embed_max_tokens)
        rate, vecs = _rate(emb, sample, batch, sort)
        if backend == "torch":
            ref, base_rate = vecs, rate
        results.append((emb.model_id.split("#")[1], batch, sort, rate, vecs))
    for name, batch, sort, rate, vecs in results:
        cos = "" if ref is None or name == "torch" else f"{(vecs * ref).sum(1).min():.4f} / {(vecs * ref).sum(1).mean():.4f}"
        ratio = f"{rate / base_rate:.2f}x" if base_rate else "n/a"
        print(f"| {name} | {batch} | {'yes' if sort else 'no'} | {rate:.1f} | {ratio} | {cos} |")



if __name__ == "__main__":
    main()
