"""History features of a query: files changed with the best direct matches, and by commits like this edit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from ..index.history import HistoryIndex
from .bm25 import bm25_idf, bm25_weight
from .query import QueryInfo

__all__ = ["cochange", "past_edits"]

_COCHANGE_SEEDS = 10  # best direct matches whose past co-changes count


_COCHANGE_REASON = 0.1  # hand-set: co-change feature from which the reason is listed
_PAST_EDIT_REASON = 0.3  # hand-set: past-edit feature (of the best file's) from which the reason is listed
_PAST_EDITS = 10  # past commits whose message matches the query best lend their files a feature


def cochange(hist: HistoryIndex, paths: list[str], seeds: dict[int, float],
              add: Callable[[int, str, float, str], None]) -> list[int]:
    """Files that changed together with the best direct matches in past commits.

    The feature is the largest, over the top seeds, of the seed's relative score times the
    smoothed share of the seed's commits that also changed the file. Returns the files given it.
    """
    top = max(seeds.values(), default=0.0)
    if top <= 0:
        return []
    best: dict[int, tuple[float, int, int]] = {}
    for s, sv in list(seeds.items())[:_COCHANGE_SEEDS]:
        mine = hist.commits_of.get(s)
        if not mine or sv <= 0:
            continue
        together: dict[int, int] = defaultdict(int)
        for k in mine:
            for j in hist.commits[k]:
                if j != s:
                    together[j] += 1
        for j, c in together.items():
            v = (sv / top) * c / (len(mine) + 2)
            if v > best.get(j, (0.0, 0, 0))[0]:
                best[j] = (v, s, c)
    for j, (v, s, c) in best.items():
        why = f"changed with {paths[s]} in {c} past commit{'s' if c > 1 else ''}"
        add(j, "cochange", v, why if v >= _COCHANGE_REASON else "")
    return list(best)


def past_edits(hist: HistoryIndex, q: QueryInfo, add: Callable[[int, str, float, str], None]) -> list[int]:
    """Files changed by the past commits whose messages are most like the query (BM25 over messages).

    A file's feature is the summed relative score of the best matching commits that changed
    it, scaled so the best file has 1. Returns the files given it.
    """
    n = len(hist.commits)
    scores: dict[int, float] = defaultdict(float)
    for t in set(q.terms):
        plist = hist.postings.get(t)
        if not plist:
            continue
        idf = bm25_idf(n, len(plist) // 2)
        pairs = iter(plist)
        for k, tf in zip(pairs, pairs, strict=True):
            scores[k] += bm25_weight(tf, hist.msg_len[k], hist.avg_len, idf)
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:_PAST_EDITS]
    if not best:
        return []
    top = best[0][1]
    per_file: dict[int, float] = defaultdict(float)
    why: dict[int, str] = {}
    for k, v in best:
        for i in hist.commits[k]:
            per_file[i] += v / top
            why.setdefault(i, f"changed by a past commit like this edit: \"{hist.subjects[k]}\"")
    peak = max(per_file.values())
    for i, v in per_file.items():
        add(i, "pastedit", v / peak, why[i] if v / peak >= _PAST_EDIT_REASON else "")
    return list(per_file)
