"""Patch a ``RankIndex`` for a few changed files, equal to a rebuild, sharing what did not change."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

import numpy as np

from ..models import FileRecord, Symbol, Uses
from .graph import patched_walk
from .index import POSTING_SHIFT, RankIndex, edge_weight, indegree_scale, out_links, posting
from .static import StaticScores, set_static

__all__ = ["patch_rank_index"]


def patch_rank_index(ri: RankIndex, old_terms: dict[str, tuple[list[str], list[int]]],
                     records: dict[str, FileRecord], file_terms: dict[str, tuple[list[str], list[int]]],
                     changed: dict[str, tuple[Sequence[Symbol], Uses]]) -> RankIndex | None:
    """``ri`` with the files in ``changed`` (path -> its new definitions and references) re-read; ``ri`` is
    left as it was.

    ``old_terms`` are the term counts ``ri`` was built from; ``records`` and ``file_terms``
    the new snapshot's.

    Equal to ``build_rank_index`` on the new snapshot, at a cost that grows with the
    changed files and the files that use names they add or drop, not with the repository.

    Returns:
        None when the set of files changed (added, removed, renamed): build afresh then.
    """
    if len(records) != len(ri.paths) or any(p not in ri.records for p in records):
        return None
    idx = {p: i for i, p in enumerate(ri.paths)} if len(changed) > 8 else None

    def index_of(p: str) -> int:
        return idx[p] if idx is not None else ri.paths.index(p)

    postings = dict(ri.postings)
    doc_len = list(ri.doc_len)
    names, lowers = dict(ri.defs_by_name), dict(ri.defs_by_lower)
    def_symbols, file_uses, users = dict(ri.def_symbols), dict(ri.uses), dict(ri.users)
    copied: set[tuple[int, object]] = set()  # (dict, key) whose value this patch already copied

    def own(d: dict, key: object, empty: Callable[[], object]) -> object:  # type: ignore[type-arg]
        """``d[key]``, copied on first write so the old index keeps its value."""
        v = d.get(key)
        if v is None:
            v = empty()
        elif (id(d), key) not in copied:
            v = v.copy()
        copied.add((id(d), key))
        d[key] = v
        return v

    def move(d: dict[str, list[int]], key: str, i: int, add: bool) -> None:
        lst = own(d, key, list)
        assert isinstance(lst, list)
        pos = bisect.bisect_left(lst, i)
        present = pos < len(lst) and lst[pos] == i
        if add and not present:
            lst.insert(pos, i)
        elif not add and present:
            del lst[pos]
            if not lst:
                del d[key]

    touched_names: set[str] = set()
    changed_idx: list[int] = []
    for path, (defs, used) in changed.items():
        i = index_of(path)
        changed_idx.append(i)
        before = dict(zip(*old_terms.get(path, ([], [])), strict=True))
        ts, cs = file_terms.get(path, ([], []))
        after = dict(zip(ts, cs, strict=True))
        for t in before.keys() | after.keys():
            if before.get(t) == after.get(t):
                continue  # unchanged posting
            arr = postings.get(t)  # replaced, never modified: the old index keeps its arrays
            if arr is None:
                arr = np.zeros(0, np.int64)
            pos = int(np.searchsorted(arr, i << POSTING_SHIFT))
            if pos < len(arr) and int(arr[pos]) >> POSTING_SHIFT == i:
                arr = np.delete(arr, pos)
            if t in after:
                arr = np.insert(arr, pos, posting(i, after[t]))
            if arr.size:
                postings[t] = arr
            else:
                postings.pop(t, None)
        doc_len[i] = sum(cs)

        old_defs = {s.name for s in ri.def_symbols.get(i, ())}
        old_lower = {n.lower() for n in old_defs}
        new_defs = {s.name for s in defs}
        new_lower = {n.lower() for n in new_defs}
        for n in old_defs ^ new_defs:
            move(names, n, i, n in new_defs)
        for n in old_lower ^ new_lower:
            move(lowers, n, i, n in new_lower)
        touched_names |= old_defs ^ new_defs
        def_symbols.pop(i, None)
        if defs:
            def_symbols[i] = defs
        old_users = {name for name, is_import, _ in ri.uses.get(i, ()) if not is_import}
        new_users = {name for name, is_import, _ in used if not is_import}
        for n in old_users - new_users:
            got = own(users, n, set)
            assert isinstance(got, set)
            got.discard(i)
            if not got:
                del users[n]
        for n in new_users - old_users:
            got = own(users, n, set)
            assert isinstance(got, set)
            got.add(i)
        file_uses.pop(i, None)
        if used:
            file_uses[i] = used

    # Files whose outgoing links may differ: the changed ones, and users of names they added or dropped.
    affected = set(changed_idx)
    for n in touched_names:
        affected |= users.get(n, set())
    links = dict(ri.links)
    edge_names = dict(ri.edge_names)
    user_count = list(ri.user_count)
    pairs: set[tuple[int, int]] = set()
    for a in sorted(affected):
        old = ri.links.get(a, {})
        for b in old:
            edge_names.pop((a, b), None)
            user_count[b] -= 1
        out, why = out_links(a, file_uses.get(a, ()), names, ri.modules)
        links.pop(a, None)
        if out:
            links[a] = out
        for b in out:
            edge_names[(a, b)] = why[b]
            user_count[b] += 1
        pairs.update((a, b) for b in (*old, *out))
    edges = dict(ri.edges)
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            w = edge_weight(links, x, y)
            row = own(edges, x, dict)
            assert isinstance(row, dict)
            if w:
                row[y] = w
            else:
                row.pop(y, None)
                if not row:
                    del edges[x]
    avg = (sum(doc_len) / len(doc_len)) if doc_len else 1.0
    indegree = indegree_scale(user_count)
    out = RankIndex(ri.paths, records, postings, doc_len, avg, names, lowers, def_symbols, ri.stems, edges,
                    edge_names, indegree, ri.path_terms, ri.kind, file_uses, users, ri.modules, links, user_count,
                    ri.hist)  # the same files: the same history
    # Derived caches: recompute only what the change touched.
    out.walk_cache = patched_walk(ri.walk_cache, edges, {x for pair in pairs for x in pair})
    stale = {i for i, (a, b) in enumerate(zip(indegree, ri.indegree, strict=True)) if a != b} | set(changed_idx)
    for key, st in list(ri.static_cache.items()):
        w, priors = key
        fresh = StaticScores(list(st.scores), list(st.values), list(st.files), st.inputs.copy(), st.prior)
        for i in stale:
            set_static(fresh, out, w, dict(priors), i)  # type: ignore[arg-type]
        out.static_cache[key] = fresh
    out.path_index = ri.path_index  # the same paths
    return out
