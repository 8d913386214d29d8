"""--include/--exclude filter the ranking on one index instead of rebuilding it (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _ctxpack(*args: str) -> subprocess.CompletedProcess[str]:
    got = subprocess.run([sys.executable, "-m", "ctxpack", *args], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CTXPACK_EMBED": "0"}, stdin=subprocess.DEVNULL)
    assert got.returncode == 0, got.stderr
    return got


def _manifest(repo: Path) -> dict:
    return json.loads((repo / ".ctxpack" / "manifest.json").read_text(encoding="utf-8"))


def test_filters_do_not_rebuild_the_index(shop: Path) -> None:
    _ctxpack("index", str(shop))
    before = _manifest(shop)
    got = _ctxpack("pack", str(shop), "--query", "checkout cart total", "--budget", "50000", "--format", "json",
                   "--include", "shop/models/**", "--exclude", "shop/models/customer.py")
    doc = json.loads(got.stdout)
    paths = {f["path"] for f in doc["files"] if f["mode"] != "map"}
    assert paths and all(p.startswith("shop/models/") for p in paths)
    assert "shop/models/customer.py" not in paths and "shop/models/customer.py" not in doc["context"]
    assert "rebuilding" not in got.stderr
    after = _manifest(shop)
    assert (after["db"], after["versions"], after["settings"]) == (before["db"], before["versions"], before["settings"])
    # Without the filters, the same index answers with every file again.
    doc = json.loads(_ctxpack("pack", str(shop), "--query", "checkout cart total", "--budget", "50000",
                              "--format", "json").stdout)
    assert "shop/services/checkout.py" in {f["path"] for f in doc["files"]}
    assert _manifest(shop)["db"] == before["db"]


def test_an_include_matching_nothing_warns(shop: Path) -> None:
    got = _ctxpack("pack", str(shop), "--query", "checkout", "--budget", "3000", "--include", "nope/**",
                   "--include", "shop/app.py")
    assert [ln for ln in got.stderr.splitlines() if "include" in ln] == [
        "WARNING: include pattern matches no indexed file: 'nope/**'"]
    assert '<file path="shop/app.py"' in got.stdout


def test_search_honours_the_filters(shop: Path) -> None:
    got = _ctxpack("search", str(shop), "--query", "checkout", "--format", "json", "--exclude", "tests/")
    hits = json.loads(got.stdout)["hits"]
    assert hits and not any(h["path"].startswith("tests/") for h in hits)
