"""``--focus`` accepts absolute, cwd-relative and repo-relative paths; the rest is a warning (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_FOCUS_REASON = "focus file (being edited)"


def _pack(repo: Path, *focus: str, cwd: Path | None = None) -> tuple[dict, str]:
    args = [a for f in focus for a in ("--focus", f)]
    got = subprocess.run([sys.executable, "-m", "ctxpack", "pack", str(repo), "--query", "send a receipt email",
                          "--budget", "3000", "--format", "json", *args], capture_output=True, text=True,
                         timeout=300, cwd=cwd, env={**os.environ, "CTXPACK_EMBED": "0"}, stdin=subprocess.DEVNULL)
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout), got.stderr


def _focused(doc: dict) -> set[str]:
    return {f["path"] for f in doc["files"] if _FOCUS_REASON in f["reasons"]}


@pytest.mark.parametrize("form", ["repo-relative", "absolute", "cwd-relative", "dot-relative"])
def test_each_form_names_the_same_file(shop: Path, form: str) -> None:
    target = "shop/models/product.py"
    if form == "repo-relative":
        doc, err = _pack(shop, target)
    elif form == "absolute":
        doc, err = _pack(shop, str(shop / target))
    elif form == "cwd-relative":
        doc, err = _pack(shop, "product.py", cwd=shop / "shop" / "models")
    else:
        doc, err = _pack(shop, "./models/product.py", cwd=shop / "shop")
    assert _focused(doc) == {target}
    assert "focus" not in err


def test_missing_and_outside_focus_files_are_warnings(shop: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text("x = 1\n", encoding="utf-8")
    doc, err = _pack(shop, "shop/nope.py", str(outside), "../etc/passwd", "shop/app.py")
    assert _focused(doc) == {"shop/app.py"}
    lines = [ln for ln in err.splitlines() if "focus" in ln]
    assert lines == [
        "WARNING: focus file not found: shop/nope.py (pass a path relative to the repository or the current "
        "directory, or an absolute one)",
        f"WARNING: focus file outside the repository: {outside}",
        "WARNING: focus file outside the repository: ../etc/passwd",
    ]
