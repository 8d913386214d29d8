"""An explicit ``ctxpack index`` leaves no journal (``pending-*.pkl``) behind (issue 18)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ctxpack import build_index, load_config
from ctxpack.store.tables import IndexStore


def _pack(repo: Path) -> None:
    subprocess.run([sys.executable, "-m", "ctxpack", "pack", str(repo), "--query", "gift wrapping", "--budget", "2000"],
                   check=True, capture_output=True, timeout=300, env={**os.environ, "CTXPACK_EMBED": "0"})


def test_index_after_a_pack_leaves_no_journal(shop: Path) -> None:
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    build_index(shop, cfg)
    (shop / "shop" / "services" / "gift_wrap.py").write_text("def gift_wrapping_fee(order):\n    return 5\n")
    _pack(shop)  # a pack on a changed tree writes the change to a journal, not the tables
    assert list(store.dir.glob("pending-*.pkl"))
    stats = build_index(shop, cfg)
    assert stats.parsed == 0
    assert list(store.dir.glob("pending-*.pkl")) == []
    assert not store.manifest().pending
    (store.dir / "snapshot.pkl").unlink(missing_ok=True)  # read the tables themselves
    assert "gift_wrapping_fee" in {s.name for s in IndexStore(store.dir).load().symbols["shop/services/gift_wrap.py"]}
