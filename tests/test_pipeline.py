"""Index build, incremental update and integrity on a real LanceDB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.errors import IndexCorrupt, IndexLocked, IndexOutdated
from ctxpack.pipeline import refresh_repo
from ctxpack.store.cache import read_cached_columns
from ctxpack.store.tables import IndexStore


def test_index_then_incremental(shop: Path) -> None:
    cfg = load_config(shop)
    first = build_index(shop, cfg)
    assert first.parsed == first.files > 20 and first.chunks > 0 and first.symbols > 0
    assert (shop / ".ctxpack" / ".gitignore").read_text() == "*\n"
    again = build_index(shop, cfg)
    assert again.parsed == 0 and again.unchanged == first.files

    target = shop / "shop" / "services" / "pricing.py"
    target.write_text(target.read_text() + "\n\ndef loyalty_bonus(points):\n    return points // 100\n")
    (shop / "shop" / "services" / "notifications.py").unlink()
    third = build_index(shop, cfg)
    assert third.parsed == 1 and third.removed == 1

    repo = open_repo(shop, cfg, refresh=False)
    assert "shop/services/notifications.py" not in repo.snapshot.files
    defs = {s.name for s in repo.snapshot.symbols["shop/services/pricing.py"]}
    assert "loyalty_bonus" in defs


def test_index_dir_override_for_read_only_repo(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = tmp_path / "elsewhere"
    monkeypatch.setenv("CTXPACK_INDEX_DIR", str(idx))
    stats = build_index(shop, load_config(shop))
    assert Path(stats.index_dir) == idx.resolve() and (idx / "manifest.json").is_file()
    assert not (shop / ".ctxpack").exists()


def test_schema_mismatch_rebuilds_with_message(shop: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    man = shop / ".ctxpack" / "manifest.json"
    d = json.loads(man.read_text())
    d["schema"] = 999
    man.write_text(json.dumps(d))
    with pytest.raises(IndexOutdated, match="rebuild"):
        IndexStore(shop / ".ctxpack").manifest()
    stats = build_index(shop, cfg)
    # every file written again; their contents come from the parse cache (it does not depend on the schema)
    assert stats.unchanged == 0 and stats.parsed + stats.reused == stats.files and stats.reused > 0
    assert "rebuilding" in caplog.text


def test_corrupt_manifest_and_missing_db(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    store = IndexStore(shop / ".ctxpack")
    store.manifest_path.write_text("{not json")
    with pytest.raises(IndexCorrupt):
        store.load()
    assert build_index(shop, cfg).reused > 0  # rebuilt (from the parse cache)
    man = store.manifest()
    shutil.rmtree(store.dir / man.db)
    with pytest.raises(IndexCorrupt):
        store.load()
    assert build_index(shop, cfg).reused > 0
    assert store.load().files


def test_crash_between_table_writes_keeps_previous_index(shop: Path) -> None:
    """Tables written but manifest not replaced (a kill mid-update): readers see the old index."""
    cfg = load_config(shop)
    build_index(shop, cfg)
    store = IndexStore(shop / ".ctxpack")
    before = store.load()
    import lancedb

    man = store.manifest()
    db = lancedb.connect(str(store.dir / man.db))
    db.open_table("files").delete("true")  # a half-applied update
    db.open_table("chunks").delete("path = 'shop/db.py'")
    after = store.load()
    assert after.files == before.files
    assert store.chunks_for(["shop/db.py"])
    # the next writer restores the tables to the manifest's versions before applying changes
    (shop / "shop" / "db.py").write_text((shop / "shop" / "db.py").read_text() + "\n# touched\n")
    stats = build_index(shop, cfg)
    assert stats.parsed == 1
    assert set(store.load().files) == set(before.files)


def test_second_writer_is_refused_clearly(shop: Path) -> None:
    store = IndexStore(shop / ".ctxpack")
    with store.lock():
        with pytest.raises(IndexLocked, match="another process"):
            with IndexStore(shop / ".ctxpack").lock(wait_s=0.2):
                pass


def test_pack_refreshes_index_after_edit(shop: Path) -> None:
    cfg = load_config(shop)
    repo = open_repo(shop, cfg)
    p1 = pack_for(repo, "add gift wrapping fee", budget=4000)
    (shop / "shop" / "services" / "gift_wrap.py").write_text(
        "def gift_wrapping_fee(order):\n    \"\"\"Fee for gift wrapping an order.\"\"\"\n    return 5\n"
    )
    repo = open_repo(shop, cfg)
    p2 = pack_for(repo, "add gift wrapping fee", budget=4000)
    assert p2.files[0].path == "shop/services/gift_wrap.py"
    assert "shop/services/gift_wrap.py" not in {f.path for f in p1.files}


def test_checkout_that_only_moves_mtimes_rewrites_no_table(shop: Path) -> None:
    import os
    import subprocess
    import sys

    cfg = load_config(shop)
    build_index(shop, cfg)
    man_before = IndexStore(shop / ".ctxpack").manifest()
    for p in shop.rglob("*.py"):
        os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10_000_000_000))
    code = (
        "import sys\nfrom ctxpack import load_config, open_repo\n"
        f"r = open_repo({str(shop)!r}, load_config({str(shop)!r}))\n"
        "print(len(r.snapshot.files), 'lancedb' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(IndexStore(shop / ".ctxpack").load().files)), "False"]
    assert IndexStore(shop / ".ctxpack").manifest().versions == man_before.versions
    again = build_index(shop, cfg)  # and the stats were recorded: nothing to re-read now
    assert again.parsed == 0 and again.unchanged == again.files


def _read_back(store: IndexStore) -> dict:
    """The snapshot columns as LanceDB holds them (what the cache must equal)."""
    return store._read_columns(store.manifest())


def test_snapshot_cache_written_from_memory_equals_the_tables(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctxpack.store.tables as store_mod

    monkeypatch.setattr(store_mod, "_OPTIMIZE_EVERY", 2)  # a compaction within the edits below
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    reads: list[int] = []
    real = IndexStore._read_columns
    monkeypatch.setattr(IndexStore, "_read_columns", lambda self, man: reads.append(1) or real(self, man))
    build_index(shop, cfg)
    assert reads == []  # neither the build nor its cache refresh read the tables back
    cached = read_cached_columns(store.dir, store.manifest())
    assert cached == _read_back(store)

    pricing = shop / "shop" / "services" / "pricing.py"
    for i in range(3):
        reads.clear()
        pricing.write_text(pricing.read_text() + f"\n\ndef bonus_{i}(points):\n    return points // {i + 2}\n")
        (shop / "shop" / f"extra_{i}.py").write_text(f"class Extra{i}:\n    pass\n")
        if i == 1:
            (shop / "shop" / "services" / "notifications.py").unlink()
        stats = build_index(shop, cfg)
        assert stats.parsed == 2 and reads == []
        cached = read_cached_columns(store.dir, store.manifest())
        assert cached == _read_back(store), f"cache differs from the tables after update {i}"
    assert store.manifest().updates == 3
    repo = open_repo(shop, cfg, refresh=False)
    assert "shop/services/notifications.py" not in repo.snapshot.files
    assert {"bonus_0", "bonus_2"} <= {s.name for s in repo.snapshot.symbols["shop/services/pricing.py"]}


def test_full_text_search_follows_updates_without_a_reindex(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctxpack.store.tables as store_mod

    monkeypatch.setattr(store_mod, "_OPTIMIZE_EVERY", 2)
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    build_index(shop, cfg)
    assert [c.path for c, _ in store.search_chunks("send_low_stock_alert")][:1] == ["shop/services/notifications.py"]
    (shop / "shop" / "services" / "loyalty.py").write_text(
        "def award_loyalty_stamps(customer, order):\n    return customer.stamps + len(order.lines)\n")
    (shop / "shop" / "services" / "notifications.py").unlink()
    build_index(shop, cfg)  # update 1: new rows are searched next to the index
    hits = store.search_chunks("loyalty stamps")
    assert hits and hits[0][0].path == "shop/services/loyalty.py"
    assert "shop/services/notifications.py" not in {c.path for c, _ in store.search_chunks("send_low_stock_alert")}
    (shop / "shop" / "services" / "loyalty.py").write_text(
        "def award_loyalty_points(customer, order):\n    return customer.points + order.total\n")
    build_index(shop, cfg)  # update 2: compacted, the index folds the new rows in
    assert all("stamps" not in c.text for c, _ in store.search_chunks("loyalty stamps"))
    assert store.search_chunks("award loyalty points")[0][0].path == "shop/services/loyalty.py"


def _pack_in_subprocess(root: Path, query: str) -> list[str]:
    """``open_repo`` + ``pack_for`` in a fresh process: [top file, whether lancedb was imported]."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom ctxpack import load_config, open_repo, pack_for\n"
        f"r = open_repo({str(root)!r}, load_config({str(root)!r}))\n"
        f"p = pack_for(r, {query!r}, budget=3000)\n"
        "print(p.files[0].path, 'lancedb' in sys.modules)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_pack_after_an_edit_journals_the_update_without_lancedb(shop: Path) -> None:
    import os
    import time

    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    build_index(shop, cfg)
    before = store.manifest()
    (shop / "shop" / "services" / "gift_wrap.py").write_text(
        "def gift_wrapping_fee(order):\n    \"\"\"Fee for gift wrapping an order.\"\"\"\n    return 5\n")
    (shop / "shop" / "services" / "notifications.py").unlink()

    assert _pack_in_subprocess(shop, "add gift wrapping fee") == ["shop/services/gift_wrap.py", "False"]
    man = store.manifest()
    assert man.pending and (store.dir / man.pending).is_file()
    assert man.versions == before.versions  # the tables were not touched
    # What a reader sees is the tables with the journal over them, whichever way it reads.
    cached = read_cached_columns(store.dir, man)
    assert cached == store._read_columns(man)
    snap = store.load()
    assert "shop/services/gift_wrap.py" in snap.files and "shop/services/notifications.py" not in snap.files
    assert [c.path for c in store.chunks_for(["shop/services/gift_wrap.py", "shop/services/notifications.py"])] \
        == ["shop/services/gift_wrap.py"]
    h = snap.chunks["shop/services/gift_wrap.py"][0].content_hash
    assert "gift_wrapping_fee" in store.chunk_texts({h})[h]

    # A second edit joins the journal; the next ordinary write empties it into the tables.
    (shop / "shop" / "services" / "gift_wrap.py").write_text("def gift_box_price(order):\n    return 7\n")
    assert _pack_in_subprocess(shop, "gift box price") == ["shop/services/gift_wrap.py", "False"]
    assert store.manifest().pending != man.pending
    old_journal = store.dir / man.pending  # kept a while for readers still on the old manifest
    assert store._read_columns(man) == cached
    os.utime(old_journal, (time.time() - 3600, time.time() - 3600))
    stats = build_index(shop, cfg)
    assert stats.parsed == 0  # the journal already held every change
    after = store.manifest()
    assert not after.pending and after.versions != before.versions
    assert not old_journal.exists()
    assert read_cached_columns(store.dir, after) == store._read_columns(after)
    assert {s.name for s in store.load().symbols["shop/services/gift_wrap.py"]} >= {"gift_box_price"}


def test_full_text_search_writes_the_journal_first(shop: Path) -> None:
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    build_index(shop, cfg)
    (shop / "shop" / "services" / "loyalty.py").write_text(
        "def award_loyalty_stamps(customer, order):\n    return customer.stamps + len(order.lines)\n")
    open_repo(shop, cfg)
    assert store.manifest().pending
    hits = store.search_chunks("loyalty stamps")
    assert hits and hits[0][0].path == "shop/services/loyalty.py"
    assert not store.manifest().pending


def test_damaged_journal_is_reported_or_rebuilt_never_misread(shop: Path) -> None:
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    build_index(shop, cfg)
    (shop / "shop" / "services" / "loyalty.py").write_text("def award_loyalty_stamps(c):\n    return 1\n")
    open_repo(shop, cfg)
    man = store.manifest()
    (store.dir / man.pending).write_bytes(b"not a pickle")
    (store.dir / "snapshot.pkl").unlink()  # readers must now go through the journal
    with pytest.raises(IndexCorrupt, match="journal unreadable"):
        store.load()
    repo = open_repo(shop, cfg)  # the updating path rebuilds from the files on disk
    assert "shop/services/loyalty.py" in repo.snapshot.files and not store.manifest().pending


def test_damaged_journal_behind_a_good_cache_is_rebuilt_by_the_next_update(shop: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    build_index(shop, cfg)
    (shop / "shop" / "services" / "loyalty.py").write_text("def award_loyalty_stamps(c):\n    return 1\n")
    open_repo(shop, cfg)
    (store.dir / store.manifest().pending).write_bytes(b"\x00damaged")
    assert "shop/services/loyalty.py" in open_repo(shop, cfg).snapshot.files  # the cache still serves reads
    (shop / "shop" / "services" / "gift.py").write_text("def gift_fee(order):\n    return 2\n")
    with caplog.at_level("WARNING"):
        stats = build_index(shop, cfg)  # would build on the journal: rebuilds from the files instead
    assert "journal unreadable" in caplog.text and "rebuilding" in caplog.text
    assert stats.parsed + stats.reused == stats.files and stats.unchanged == 0 and not store.manifest().pending
    assert {"shop/services/loyalty.py", "shop/services/gift.py"} <= set(store.load().files)


def test_large_update_is_written_through(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ctxpack.store.tables as store_mod

    monkeypatch.setattr(store_mod, "_JOURNAL_MAX_PATHS", 1)
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    build_index(shop, cfg)
    (shop / "shop" / "a.py").write_text("A = 1\n")
    open_repo(shop, cfg)
    first = store.manifest()
    assert first.pending  # one path: journaled
    (shop / "shop" / "b.py").write_text("B = 2\n")
    (shop / "shop" / "c.py").write_text("C = 3\n")
    open_repo(shop, cfg)
    second = store.manifest()
    assert second.pending and second.updates == first.updates  # a big update is journaled too (the pack answers)
    assert store.journal_paths() == 3 and store.fold_due()
    (shop / "shop" / "d.py").write_text("D = 4\n")
    repo = open_repo(shop, cfg)
    man = store.manifest()
    assert not man.pending and man.updates == first.updates + 1  # nobody folded that journal: written with it
    assert {"shop/a.py", "shop/b.py", "shop/c.py", "shop/d.py"} <= set(repo.snapshot.files)
    assert read_cached_columns(store.dir, man) == store._read_columns(man)


def test_a_live_refresh_reports_skipped_files_as_an_index_update_does(shop: Path, tmp_path: Path) -> None:
    cfg = load_config(shop, index_dir=str(tmp_path / "idx"))
    repo = open_repo(shop, cfg)
    (shop / "shop" / "blob.py").write_bytes(b"\x00binary\x01" * 64)
    live = refresh_repo(repo)  # nothing indexed changed, but the pack must report the new skip
    assert "shop/blob.py" in {s.path for s in live.snapshot.manifest.skipped}
    (shop / "shop" / "blob.py").unlink()
    (shop / "shop" / "coupons.py").write_text("def redeem(code):\n    return code\n")
    (shop / "shop" / "min.js").write_text("var a=1;" * 20_000)
    live = refresh_repo(live, ["shop/coupons.py"])  # a new file: the whole tree is listed
    stats = build_index(shop, cfg)
    assert live.snapshot.manifest.skipped == stats.skipped
    assert "shop/blob.py" not in {s.path for s in live.snapshot.manifest.skipped}
