"""Small CLI stumbles from issue 18: preview's --format json and -o, skip labels, plural wording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ctxpack.models import Pack, Redaction
from ctxpack.render import summary_line


def _ctxpack(*args: str) -> subprocess.CompletedProcess[str]:
    got = subprocess.run([sys.executable, "-m", "ctxpack", *args], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "CTXPACK_EMBED": "0"}, stdin=subprocess.DEVNULL)
    assert got.returncode == 0, got.stderr
    return got


def test_preview_json_is_the_preview_not_a_table(shop: Path) -> None:
    got = _ctxpack("preview", str(shop), "--query", "add a discount code to checkout", "--budget", "4000",
                   "--format", "json")
    doc = json.loads(got.stdout)
    assert "context" not in doc
    assert doc["files"] and {"path", "mode", "tokens", "score", "reasons"} <= set(doc["files"][0])
    assert doc["tokens"] <= doc["budget"] == 4000


def test_preview_output_file_holds_the_preview(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "preview.txt"
    got = _ctxpack("preview", str(shop), "--query", "add a discount code to checkout", "--budget", "4000",
                   "-o", str(out))
    assert got.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert text.startswith("Budget ") and "shop/services/checkout.py" in text
    assert "<context>" not in text and "\x1b[" not in text
    out_json = tmp_path / "preview.json"
    _ctxpack("preview", str(shop), "--query", "checkout", "--budget", "4000", "--format", "json", "-o", str(out_json))
    assert "context" not in json.loads(out_json.read_text(encoding="utf-8"))


def test_routine_skips_are_not_warnings(shop: Path) -> None:
    (shop / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    got = _ctxpack("index", str(shop), "-v")
    assert "Skipped logo.png: binary file (by extension)" in got.stderr.splitlines()
    assert "Warning: skipped" not in got.stderr


def test_one_secret_is_singular() -> None:
    p = Pack(query="q", budget=100, tokens=10, encoding="o200k_base", format="xml", files=(), omitted=(),
             skipped=(), redactions=(Redaction("a.py", 1, "AWS Access Key"),), context="", lanes={"dense": False})
    assert summary_line(p).endswith("; 1 secret redacted")


def test_a_served_repository_shows_its_first_index(shop: Path) -> None:
    """serve/watch/mcp build a missing index before serving: the CLI draws these stages as a bar."""
    from ctxpack.serve.service import Service

    stages: list[str] = []
    svc = Service([str(shop)], embed=False)
    try:
        svc.load(lambda stage, _done, _total: stages.append(stage))
    finally:
        svc.close()
    assert {"discover", "parse", "write"} <= set(stages)
