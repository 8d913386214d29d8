"""The in-memory update path (``refresh_repo``) used by the server and ``watch``.

Whatever an edit is, the Repo it produces must rank and pack exactly as a Repo loaded
from an index rebuilt on disk, and the Repo it started from must stay as it was.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import wait_for

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.pipeline import Repo, refresh_repo
from ctxpack.rank.graph import walk_arrays
from ctxpack.rank.index import RankIndex, build_rank_index
from ctxpack.rank.static import static_part

QUERY = "apply a discount code at checkout and email the receipt"
FIELDS = ("paths", "postings", "doc_len", "avg_len", "defs_by_name", "defs_by_lower", "def_symbols", "stems", "edges",
          "edge_names", "indegree", "path_terms", "kind", "uses", "users", "links", "user_count")


def _same_index(a: RankIndex, b: RankIndex) -> None:
    for name in FIELDS:
        if name == "postings":  # arrays
            assert a.postings.keys() == b.postings.keys()
            assert all(np.array_equal(v, b.postings[t]) for t, v in a.postings.items())
        else:
            assert getattr(a, name) == getattr(b, name), name
    assert a.records == b.records
    # Derived caches a patch carries over (graph walk arrays, query-free scores) equal fresh ones.
    for x, y in zip(walk_arrays(a), walk_arrays(b), strict=True):
        assert np.array_equal(x, y)
    for key, st in a.static_cache.items():
        w, priors = key
        b.static_cache.clear()
        fresh = static_part(b, w, dict(priors))
        assert (st.scores, st.values, st.files) == (fresh.scores, fresh.values, fresh.files)
        assert np.array_equal(st.inputs, fresh.inputs) and np.array_equal(st.prior, fresh.prior)


def _as_on_disk(repo: Repo) -> None:
    """``repo`` ranks and packs like the index that ``build_index`` writes for the same tree."""
    build_index(repo.root, repo.cfg)
    disk = open_repo(repo.root, repo.cfg, refresh=False)
    assert {p: r.sha1 for p, r in repo.snapshot.files.items()} == {p: r.sha1 for p, r in disk.snapshot.files.items()}
    assert repo.snapshot.chunks == disk.snapshot.chunks
    assert repo.snapshot.symbols.keys() == disk.snapshot.symbols.keys()
    for path, syms in repo.snapshot.symbols.items():
        assert sorted(map(repr, syms)) == sorted(map(repr, disk.snapshot.symbols[path]))
    assert repo.snapshot.uses == disk.snapshot.uses  # each file's references, counted, in first-use order
    _same_index(repo.rank_index, disk.rank_index)
    for budget in (2000, 8000):
        assert pack_for(repo, QUERY, budget=budget).context == pack_for(disk, QUERY, budget=budget).context


@pytest.fixture
def live(shop: Path) -> Repo:
    cfg = load_config(shop)
    build_index(shop, cfg)
    repo = open_repo(shop, cfg)
    pack_for(repo, QUERY, budget=4000)  # fills the derived caches a patch must carry over correctly
    assert repo.rank_index.walk_cache is not None and repo.rank_index.static_cache
    return repo


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_body_edit_is_patched_and_matches_a_rebuild(live: Repo) -> None:
    s = live.snapshot
    before = build_rank_index(s.files, s.file_terms, s.symbols, s.uses)
    target = live.root / "shop/services/checkout.py"
    _edit(target, "def cancel_order(", "def apply_discount_code(order, code):\n    return order\n\n\ndef cancel_order(")
    new = refresh_repo(live, ["shop/services/checkout.py"])
    assert new is not live
    assert new.rank_index.paths is live.rank_index.paths  # same files: patched, not rebuilt
    ri = new.rank_index
    assert [ri.paths[i] for i in ri.defs_by_name["apply_discount_code"]] == ["shop/services/checkout.py"]
    _same_index(live.rank_index, before)  # the old Repo, still serving requests, is untouched
    assert "apply_discount_code" not in live.rank_index.defs_by_name
    _as_on_disk(new)


def test_dropping_a_used_definition_relinks_its_users(live: Repo) -> None:
    users = live.rank_index.users.get("get_gateway", set())
    assert users  # routes or tests call it
    _edit(live.root / "shop/services/checkout.py", "def get_gateway(", "def fetch_gateway(")
    new = refresh_repo(live, ["shop/services/checkout.py"])
    assert "get_gateway" not in new.rank_index.defs_by_name
    _as_on_disk(new)


def test_new_and_deleted_files_rebuild_the_index(live: Repo) -> None:
    (live.root / "shop/services/loyalty.py").write_text("def award_points(order):\n    return order.total // 100\n")
    (live.root / "shop/db.py").unlink()
    new = refresh_repo(live, ["shop/services/loyalty.py", "shop/db.py"])
    assert "shop/services/loyalty.py" in new.snapshot.files and "shop/db.py" not in new.snapshot.files
    assert "shop/db.py" in live.snapshot.files
    _as_on_disk(new)


def test_whole_tree_compare_finds_unreported_changes(live: Repo) -> None:
    _edit(live.root / "shop/services/pricing.py", "def ", "def loyalty_multiplier():\n    return 2\n\n\ndef ")
    new = refresh_repo(live)  # no paths: compare every file's stat
    assert "loyalty_multiplier" in new.rank_index.defs_by_name
    _as_on_disk(new)


def test_touch_and_unknown_paths(live: Repo) -> None:
    target = live.root / "shop/app.py"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    new = refresh_repo(live, ["shop/app.py"])
    assert new.snapshot.files["shop/app.py"].mtime_ns == st.st_mtime_ns + 10**9
    assert new.snapshot.files["shop/app.py"].sha1 == live.snapshot.files["shop/app.py"].sha1
    assert refresh_repo(new, ["shop/app.py", "gone.swp"]) is new  # nothing changed since
    _as_on_disk(new)


def test_a_file_turned_binary_leaves_the_index(live: Repo) -> None:
    (live.root / "shop/config.py").write_bytes(b"\x00\x01binary now" * 100)
    new = refresh_repo(live, ["shop/config.py"])
    assert "shop/config.py" not in new.snapshot.files
    _as_on_disk(new)


def test_a_withdrawn_pack_stops(live: Repo) -> None:
    from ctxpack.errors import Cancelled

    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 1  # let ranking finish, stop at the first file

    with pytest.raises(Cancelled):
        pack_for(live, QUERY, budget=8000, should_stop=stop)
    assert len(calls) == 2


def test_service_update_is_immediate_and_reaches_the_disk(shop: Path) -> None:
    from ctxpack.serve.service import Service

    svc = Service([str(shop)])
    svc.load()
    try:
        rs = svc.get(None)
        _edit(shop / "shop/services/checkout.py", "def cancel_order(",
              "def refund_gift_card(order):\n    return order\n\n\ndef cancel_order(")
        assert rs.update(["shop/services/checkout.py"])  # in memory, before any write
        ri = rs.repo.rank_index
        assert [ri.paths[i] for i in ri.defs_by_name["refund_gift_card"]] == ["shop/services/checkout.py"]
        assert not rs.update(["shop/services/checkout.py"])  # nothing new since
        assert rs.wait_persisted(timeout=120) and rs.status()["persisted"] == "current"
        disk = open_repo(shop, rs.cfg, refresh=False)  # what another process sees
        assert "refund_gift_card" in {s.name for s in disk.symbols_by_path["shop/services/checkout.py"]}
        assert rs.repo.snapshot.manifest == disk.snapshot.manifest  # memory adopted the written manifest
    finally:
        svc.close()


def test_a_pack_reflects_its_focus_files_as_saved(shop: Path) -> None:
    from ctxpack.serve.service import Service

    svc = Service([str(shop)])  # no watcher: only the request itself can notice the edit
    svc.load()
    try:
        rs = svc.get(None)
        before = rs.updates
        _edit(shop / "shop/services/checkout.py", "def cancel_order(",
              "def refund_gift_card(order):\n    return order\n\n\ndef cancel_order(")
        p = svc.pack(None, "change refund_gift_card", budget=4000, focus=("shop/services/checkout.py",))
        top = p.files[0]
        assert top.path == "shop/services/checkout.py" and "def refund_gift_card" in top.text
        assert any("refund_gift_card" in r for r in top.reasons) and rs.updates == before + 1
        svc.pack(None, "change refund_gift_card", budget=4000, focus=("shop/services/checkout.py",))
        assert rs.updates == before + 1  # unchanged since: no update
        assert rs.wait_persisted(timeout=120)
    finally:
        svc.close()


def test_worker_process_exits_when_the_server_dies() -> None:
    import os
    import subprocess
    import sys

    code = ("import os; from ctxpack.serve.worker import Worker; w = Worker(); "
            "print(w.run(os.getpid), flush=True); os._exit(1)")  # dies without closing anything
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    worker = int(out.stdout.strip())
    def gone() -> bool:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return True
        return False

    if not wait_for(gone, 10, 0.2):
        os.kill(worker, 9)
        raise AssertionError("the worker outlived its server")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident size from /proc")
def test_steady_heap_hands_big_freed_blocks_back() -> None:
    import subprocess
    import sys

    code = """
import sys
from pathlib import Path
def rss():
    return int(next(l.split()[1] for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS")))
if sys.argv[1] == "1":
    from ctxpack.serve.worker import steady_heap
    steady_heap()
before = rss()
for _ in range(3):
    big = b"x" * (8 << 20)
    del big  # glibc raises its mapping threshold past 8 MiB here, unless told not to
    big = b"y" * (8 << 20)
    small = [bytes(100) for _ in range(1000)]  # allocated after it
    del big
print(rss() - before)
"""
    kept = {a: int(subprocess.run([sys.executable, "-c", code, a], capture_output=True, text=True, timeout=60,
                                  check=True).stdout) for a in ("0", "1")}
    if kept["0"] < 4096:
        pytest.skip("this C library hands freed blocks back by itself")
    assert kept["1"] < 2048, kept  # KiB still resident after the big blocks were freed


def test_a_ranking_index_built_with_its_paths_part_ahead_is_the_same(live: Repo) -> None:
    from ctxpack.index.history import History
    from ctxpack.rank.index import path_parts

    snap = live.snapshot
    history = History("head", (tuple(sorted(snap.files))[:2],), ("checkout: apply the discount code",))
    ahead = path_parts(sorted(snap.files), history)
    built = build_rank_index(snap.files, snap.file_terms, snap.symbols, snap.uses, history, ahead)
    assert built.stems is ahead.stems and built.hist is ahead.hist  # taken, not computed again
    _same_index(built, build_rank_index(snap.files, snap.file_terms, snap.symbols, snap.uses, history))
    other = path_parts(sorted(snap.files)[1:], history)  # not these paths: computed afresh
    _same_index(build_rank_index(snap.files, snap.file_terms, snap.symbols, snap.uses, history, other),
                build_rank_index(snap.files, snap.file_terms, snap.symbols, snap.uses, history))
