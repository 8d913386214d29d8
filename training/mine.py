"""Mine (commit message -> touched regions) pairs with hard negatives from git mirrors.

Usage:
    python training/mine.py --mirrors /work/.mirror --repos training/repos.txt \
        --exclude /work/data/devsets/EXCLUDE.txt --out /work/data/model/pairs --cap 250 --jobs 2

One JSONL file per repository (``OWNER+NAME.jsonl``), one line per commit:
query, flags, positives (chunks at the parent overlapping the diff's parent-side hunks),
``file_negs`` (other chunks of the touched files), ``bm25_negs`` (chunks of other files a
BM25 over ctxpack's chunk terms ranks high for the message) and ``rand_negs`` (random
chunks of other files, for evaluation). Regions are ctxpack's own chunks (regions.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gitmine import GitRepo, bug_style, clean_message, is_test_path, keep_commit  # noqa: E402
from regions import Bm25, Region, chunk_blob, overlaps, spread, usable_path  # noqa: E402

from ctxpack.config import Config  # noqa: E402
from ctxpack.terms import terms  # noqa: E402

log = logging.getLogger("mine")

MAX_POOL_FILES = 1500
MAX_CHANGED_LINES = 2000
MAX_POSITIVES = 12
N_BM25_NEGS = 10
N_FILE_NEGS = 8
N_RAND_NEGS = 100


def _region(r: Region) -> dict:
    return {"path": r.path, "start": r.start, "end": r.end, "text": r.text}


class Miner:
    def __init__(self, gitdir: str, cfg: Config) -> None:
        self.git = GitRepo(gitdir)
        self.cfg = cfg
        self._cache: dict[str, list[Region]] = {}

    def regions(self, path: str, blob: str) -> list[Region]:
        key = f"{blob}\0{path}"
        if key not in self._cache:
            data = self.git.blob(blob)
            self._cache[key] = chunk_blob(path, data, self.cfg) if data is not None else []
        return self._cache[key]

    def pool(self, sha: str) -> tuple[list[Region], Bm25]:
        files = [(p, b) for p, b, size in self.git.tree(sha) if usable_path(p, size) and not is_test_path(p)]
        files = spread(sorted(files), MAX_POOL_FILES)
        regions = [r for p, b in files for r in self.regions(p, b)]
        return regions, Bm25([r.terms for r in regions])


def candidates(git: GitRepo) -> tuple[list[dict], dict[str, int]]:
    drops: dict[str, int] = {}
    out = []
    for c in git.commits(max_files=30):
        query = clean_message(c.message)
        why = keep_commit(c, query)
        if why is None:
            touched = [old for st, old, _ in c.changes if st in "MR" and usable_path(old, 0) and not is_test_path(old)]
            if not touched:
                why = "no source file modified"
        if why is not None:
            drops[why] = drops.get(why, 0) + 1
            continue
        out.append({"commit": c, "query": query, "touched": touched,
                    "all_paths": {p for _, old, new in c.changes for p in (old, new)}})
    out.sort(key=lambda d: d["commit"].time)
    return out, drops


def mine_repo(repo: str, gitdir: str, out_path: Path, cap: int, seed: int) -> dict:
    t0 = time.time()
    cfg = Config()
    miner = Miner(gitdir, cfg)
    rng = random.Random(f"{seed}:{repo}")
    cands, drops = candidates(miner.git)
    picked = spread(cands, int(cap * 1.5))
    snaps = [picked[len(picked) // 3]["commit"], picked[(2 * len(picked)) // 3]["commit"]] if picked else []
    rng.shuffle(picked)  # stopping at ``cap`` keeps the spread over the years
    pools = [(s.time, *miner.pool(s.parent)) for s in snaps]
    stats = {"repo": repo, "commits_seen": len(cands) + sum(drops.values()), "candidates": len(cands),
             "dropped": drops, "pairs": 0, "skipped": {}, "pool_regions": [len(p[1]) for p in pools]}
    times = []
    with out_path.open("w") as fh:
        for cand in picked:
            if stats["pairs"] >= cap:
                break
            c = cand["commit"]
            try:
                rec = _pair(miner, c, cand, pools, rng)
            except Exception as exc:  # a broken object or odd diff: skip the commit, say why
                rec = f"error {type(exc).__name__}"
            if isinstance(rec, str):
                stats["skipped"][rec] = stats["skipped"].get(rec, 0) + 1
                continue
            rec["repo"] = repo
            fh.write(json.dumps(rec) + "\n")
            stats["pairs"] += 1
            times.append(c.time)
    miner.git.close()
    stats["first_time"] = min(times) if times else None
    stats["last_time"] = max(times) if times else None
    stats["seconds"] = round(time.time() - t0, 1)
    return stats


def _pair(miner: Miner, c, cand: dict, pools: list, rng: random.Random) -> dict | str:
    hunks = miner.git.diff_hunks(c.parent, c.sha, cand["touched"])
    if not hunks:
        return "no hunks"
    changed = sum(e - s + 1 for hs in hunks.values() for s, e in hs)
    if changed > MAX_CHANGED_LINES:
        return "too many changed lines"
    parent_tree = {p: b for p, b, _ in miner.git.tree(c.parent, tuple(hunks)) if p in hunks}
    pos: list[Region] = []
    file_negs: list[Region] = []
    for path, hs in hunks.items():
        if path not in parent_tree:
            continue
        for r in miner.regions(path, parent_tree[path]):
            (pos if overlaps(r, hs) else file_negs).append(r)
    if not pos:
        return "no positive region"
    if len(pos) > MAX_POSITIVES:
        return "too many positive regions"
    pool_regions, bm25 = min(pools, key=lambda p: abs(p[0] - c.time))[1:]
    avoid = cand["all_paths"]
    pos_texts = {r.text for r in pos}
    scores = bm25.scores(terms(cand["query"]))
    order = scores.argsort()[::-1]
    bm25_negs = []
    for i in order[: 400].tolist():
        r = pool_regions[i]
        if r.path in avoid or r.text in pos_texts or scores[i] <= 0:
            continue
        bm25_negs.append(r)
        if len(bm25_negs) >= N_BM25_NEGS:
            break
    others = [r for r in pool_regions if r.path not in avoid and r.text not in pos_texts]
    rand_negs = rng.sample(others, min(N_RAND_NEGS, len(others)))
    return {"commit": c.sha, "parent": c.parent, "time": c.time, "query": cand["query"],
            "bug_style": list(bug_style(cand["query"])), "changed_lines": changed,
            "positives": [_region(r) for r in pos],
            "file_negs": [_region(r) for r in file_negs],
            "bm25_negs": [_region(r) for r in bm25_negs],
            "rand_negs": [_region(r) for r in rand_negs]}


def _job(args: tuple) -> dict:
    repo, gitdir, out, cap, seed = args
    try:
        return mine_repo(repo, gitdir, Path(out), cap, seed)
    except Exception as exc:
        return {"repo": repo, "error": f"{type(exc).__name__}: {exc}"[:300]}


def read_list(path: str | None) -> list[str]:
    if not path or not Path(path).exists():
        return []
    return [ln.split("#")[0].strip() for ln in Path(path).read_text().splitlines() if ln.split("#")[0].strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirrors", default="/work/.mirror")
    ap.add_argument("--repos", required=True, help="file: one OWNER/NAME a line")
    ap.add_argument("--exclude", action="append", default=[], help="file(s) of OWNER/NAME to leave out")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cap", type=int, default=250, help="pairs per repository")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--only", action="append", default=[], help="mine just these repositories")
    ap.add_argument("--skip-done", action="store_true", help="keep repositories already mined")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    excluded = {r.lower() for f in args.exclude for r in read_list(f)}
    repos = [r for r in read_list(args.repos) if r.lower() not in excluded]
    if args.only:
        repos = [r for r in repos if r in args.only]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for repo in repos:
        gitdir = Path(args.mirrors) / repo.replace("/", "+") / "repo"
        target = out / f"{repo.replace('/', '+')}.jsonl"
        if args.skip_done and (out / f"{repo.replace('/', '+')}.stats.json").exists():
            continue
        if not gitdir.exists():
            log.warning("no mirror for %s at %s", repo, gitdir)
            continue
        jobs.append((repo, str(gitdir), str(target), args.cap, args.seed))
    with Pool(args.jobs) as pool:
        for st in pool.imap_unordered(_job, jobs):
            (out / f"{st['repo'].replace('/', '+')}.stats.json").write_text(json.dumps(st, indent=1))
            log.info("%s: %s", st["repo"], {k: st.get(k) for k in ("pairs", "candidates", "seconds", "error")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
