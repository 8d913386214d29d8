"""The first pack after a big change answers before the LanceDB tables are written (issue 17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.render import pack_to_dict, to_json
from ctxpack.store import tables as store_mod
from ctxpack.store.cache import read_cached_columns
from ctxpack.store.tables import IndexStore

QUERY = "apply a discount code at checkout and charge the card"


def _big_change(root: Path, n: int) -> None:
    """What a checkout does: files edited, added and removed."""
    for i, f in enumerate(sorted((root / "shop").rglob("*.py"))[:5]):
        f.write_text(f.read_text() + f"\n\ndef checkout_step_{i}(cart):\n    return cart\n")
    (root / "shop" / "services" / "notifications.py").unlink()
    gen = root / "shop" / "generated"
    gen.mkdir()
    for i in range(n):
        (gen / f"coupon_{i}.py").write_text(f"def coupon_{i}(code):\n    return code == 'C{i}'\n")


def _pack(root: Path, cfg: object, refresh: bool = True) -> str:
    repo = open_repo(root, cfg, refresh=refresh)  # type: ignore[arg-type]
    return to_json(pack_to_dict(pack_for(repo, QUERY, budget=6000, fmt="xml")))


def test_a_pack_before_the_tables_are_written_equals_one_after(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    store = IndexStore(shop / ".ctxpack")
    before = store.manifest()
    _big_change(shop, 40)
    answered = _pack(shop, cfg)
    man = store.manifest()
    assert man.pending and man.versions == before.versions and man.db == before.db  # the tables did not move
    assert store.journal_paths() == 46
    with store.lock():
        folded = store.fold(drop=True)
    assert not folded.pending and folded.versions != before.versions
    after = IndexStore(shop / ".ctxpack")
    assert read_cached_columns(after.dir, folded) == after._read_columns(folded)  # the tables hold what was served
    assert _pack(shop, cfg, refresh=False) == answered
    assert "shop/generated/coupon_7.py" in after._read_columns(folded)["files"]["path"]


def _wait_behind(store: IndexStore, timeout_s: float = 120) -> None:
    """Until the pack's detached child has written the index (its marker is gone)."""
    deadline = time.monotonic() + timeout_s
    while (store.dir / store_mod.BEHIND_PID).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (store.dir / store_mod.BEHIND_PID).exists()


def test_the_cli_answers_a_big_change_first_and_writes_the_index_behind(shop: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CTXPACK_EMBED": "0", "CTXPACK_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "ctxpack", "pack", str(shop), "--query", QUERY, "--budget", "6000", "--format",
           "json", "-q"]
    subprocess.run([sys.executable, "-m", "ctxpack", "index", str(shop), "--no-embed", "-q"], env=env, check=True)
    store = IndexStore(shop / ".ctxpack")
    before = store.manifest()
    _big_change(shop, store_mod._JOURNAL_MAX_PATHS + 10)
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(first.stdout)["tokens"] <= 6000  # a complete answer, from memory
    _wait_behind(store)
    man = store.manifest()
    assert not man.pending and man.versions != before.versions  # written to the tables, no journal
    written = IndexStore(shop / ".ctxpack")._read_columns(man)["files"]["path"]
    assert sorted(written) == sorted(store.load().files) and "shop/generated/coupon_509.py" in written
    assert "shop/services/notifications.py" not in written
    fresh = tmp_path / "fresh-index"  # what a from-scratch index of the tree holds
    subprocess.run([sys.executable, "-m", "ctxpack", "index", str(shop), "--no-embed", "-q", "--index-dir", str(fresh)],
                   env=env, check=True)
    assert IndexStore(fresh).load().files == store.load().files
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, timeout=300)

    def shown(out: str) -> list[tuple[str, str]]:  # the project's files (the 510 generated ones tie with each other)
        return [(f["path"], f["mode"]) for f in json.loads(out)["files"] if not f["path"].startswith("shop/generated/")]

    assert shown(second.stdout) == shown(first.stdout)  # the files the answer needed were parsed for it


def test_the_journal_is_written_to_the_tables_behind_the_answer(shop: Path, tmp_path: Path) -> None:
    """A big journal (left by library packs) is folded behind the CLI's answer."""
    env = {**os.environ, "CTXPACK_EMBED": "0", "CTXPACK_HOME": str(tmp_path / "home")}
    cfg = load_config(shop)
    build_index(shop, cfg)
    store = IndexStore(shop / ".ctxpack")
    _big_change(shop, store_mod._JOURNAL_MAX_PATHS + 10)
    _pack(shop, cfg)  # the library's open_repo journals the update
    assert store.manifest().pending and store.fold_due()
    subprocess.run([sys.executable, "-m", "ctxpack", "pack", str(shop), "--query", QUERY, "--budget", "6000", "-q",
                    "-o", os.devnull], env=env, check=True, timeout=300)
    _wait_behind(store)
    assert not store.manifest().pending


def test_preview_writes_the_index_behind_its_answer_too(shop: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CTXPACK_EMBED": "0", "CTXPACK_HOME": str(tmp_path / "home")}
    subprocess.run([sys.executable, "-m", "ctxpack", "index", str(shop), "--no-embed", "-q"], env=env, check=True)
    store = IndexStore(shop / ".ctxpack")
    before = store.manifest()
    _big_change(shop, 100)
    out = subprocess.run([sys.executable, "-m", "ctxpack", "preview", str(shop), "--query", QUERY, "--budget", "6000",
                          "--format", "json", "-q"], env=env, capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout)["files"]
    _wait_behind(store)
    assert store.manifest().versions != before.versions
    assert "shop/generated/coupon_99.py" in store.load().files
