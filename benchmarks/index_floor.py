#!/usr/bin/env python3
"""Where a cold lexical index spends its CPU: the required libraries' own work, in the same run.

Each step runs in a fresh interpreter and is measured in CPU seconds (user + system of the
child), so the figures add up like the index's own:

  interpreter   python -c pass
  lancedb       import lancedb (what any LanceDB write needs first)
  tiktoken      load the encoding and count every chunk text exactly (encode_ordinary)
  tree-sitter   parse every file with a grammar and run its tag query (C work only)
  lance write   create the three tables and the full-text index from rows already in memory
  index         the real thing: ``ctxpack index --no-embed`` into a fresh directory

The first five are the floor any index with this design pays (the design card names
tiktoken, tree-sitter and LanceDB); the last line shows what ctxpack adds on top.

Usage: python benchmarks/index_floor.py REPO [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Each step: code run in a child with REPO as argv[1] (setup outside the timed part is not
# possible across processes, so the setup a step needs is measured as its own baseline).
_SETUP = """
import sys, time
from pathlib import Path
from ctxpack.config import load_config
from ctxpack.index.discover import list_candidates, read_source
from ctxpack.models import Skipped
root = Path(sys.argv[1]); cfg = load_config(root)
srcs = [s for c in list_candidates(root, cfg)[0] if not isinstance(s := read_source(root, c), Skipped)]
"""
_PARSED = _SETUP + """
from ctxpack.index.process import process_local
parsed = process_local(srcs, cfg)
"""
STEPS: dict[str, str] = {
    "interpreter": "pass",
    "lancedb": "import lancedb",
    "read (setup of the next steps)": _SETUP,
    "tiktoken": _SETUP + """
from ctxpack.index.process import process_local
texts = [c.text for p in process_local(srcs, cfg) for c, _ in p.chunks]
t0 = time.process_time()
from ctxpack.tokens import get_counter
enc = get_counter(cfg.encoding)._enc
for t in texts:
    enc.encode_ordinary(t)
print(time.process_time() - t0)
""",
    "tree-sitter": _SETUP + """
from ctxpack.languages import get_language, get_query
from tree_sitter import Parser, QueryCursor
jobs = [(get_language(s.language), get_query(s.language), s.text.encode()) for s in srcs if get_query(s.language)]
t0 = time.process_time()
for lang, query, data in jobs:
    tree = Parser(lang).parse(data)
    QueryCursor(query, match_limit=1 << 16).matches(tree.root_node)
print(time.process_time() - t0)
""",
    "lance write": _PARSED + """
import tempfile
import lancedb, pyarrow as pa
from ctxpack.store.columns import TABLES, chunk_columns, create_fts_index, file_columns, symbol_columns, table_schemas
cols = {"files": file_columns([p.row for p in parsed]), "symbols": symbol_columns([s for p in parsed for s in p.symbols]),
        "chunks": chunk_columns([c for p in parsed for c in p.chunks])}
schemas = table_schemas()
t0 = time.process_time()
db = lancedb.connect(tempfile.mkdtemp())
for name in TABLES:
    tbl = db.create_table(name, data=pa.Table.from_pydict(cols[name], schema=schemas[name]), schema=schemas[name])
    if name == "chunks":
        create_fts_index(tbl)
print(time.process_time() - t0)
""",
}


def _cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed: {done.stderr.strip()[-400:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    repo = str(Path(args.repo).resolve())
    env = {**os.environ, "CTXPACK_EMBED": "0", "LANCEDB_LOG": "error"}
    rows: list[tuple[str, float]] = []
    for name, code in STEPS.items():
        # A step that prints a number times its own part in-process (its setup excluded).
        got = [_cpu([sys.executable, "-c", code, repo], env) for _ in range(args.runs)]
        rows.append((name, statistics.median(float(out) if out else cpu for cpu, out in got)))
        print(f"{name}: {rows[-1][1]:.2f} s", file=sys.stderr)
    index = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            index.append(_cpu([sys.executable, "-m", "ctxpack", "index", "-q", repo, "--index-dir", d], env)[0])
    t_index = statistics.median(index)
    floor = sum(v for n, v in rows if not n.startswith("read"))
    print(f"\n{Path(repo).name}: CPU seconds, median of {args.runs} (each step in a fresh interpreter)\n")
    print("| step | CPU s | share of the cold index |")
    print("|---|---|---|")
    for name, v in rows:
        print(f"| {name} | {v:.2f} | {v / t_index:.0%} |")
    print(f"| **floor** (interpreter + lancedb + tiktoken + tree-sitter + lance write) | **{floor:.2f}** | {floor / t_index:.0%} |")
    print(f"| **`ctxpack index --no-embed`** (cold) | **{t_index:.2f}** | 100% |")


if __name__ == "__main__":
    main()
