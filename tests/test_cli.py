"""End-to-end CLI: exit codes, stdout vs stderr, formats, golden outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import check_golden

from ctxpack.cli import main
from ctxpack.tokens import get_counter

QUERY = "add a discount code to checkout"


def _run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_index_reports_on_stderr_only(shop: Path) -> None:
    r = _run("index", str(shop))
    assert r.exit_code == 0
    assert r.stdout == ""
    assert "Indexed" in r.stderr and "files" in r.stderr


def test_a_command_runs_the_garbage_collector_less_often(shop: Path) -> None:
    import gc

    from ctxpack.cli.group import GC_THRESHOLDS

    gc.set_threshold(700, 10, 10)  # Python's defaults (conftest restores what was set)
    assert _run("pack", str(shop), "--query", QUERY, "--budget", "3000").exit_code == 0
    assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] >= 10_000 and GC_THRESHOLDS[2] > 0


def _ranking(doc: dict) -> str:
    """What the ranking golden keeps of a pack: each file's path, mode and tokens (not scores or text,
    so a refitted coefficient that changes no choice changes no golden)."""
    lines = [f"{f['path']}\t{f['mode']}\t{f['tokens']}\n" for f in doc["files"]]
    return f"# {doc['query']!r} budget {doc['budget']}: {doc['tokens']} tokens, map {doc['repo_map_tokens']}\n" + \
        "".join(lines)


@pytest.mark.parametrize("fmt", ["xml", "markdown", "plain", "json"])
def test_pack_golden(shop: Path, fmt: str) -> None:
    """One ranking golden for the sample repo; how each format renders is tests/test_render.py's."""
    r = _run("pack", str(shop), "--query", QUERY, "--budget", "6000", "--format", fmt)
    assert r.exit_code == 0, r.stderr
    assert "Packed" in r.stderr
    doc = json.loads(_run("pack", str(shop), "--query", QUERY, "--budget", "6000", "--format", "json").stdout)
    if fmt == "json":
        check_golden("shop_api/pack-6000.ranking", _ranking(doc))
        assert r.stdout == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        assert list(doc)[:5] == ["schema", "query", "budget", "tokens", "encoding"]
        assert doc["schema"] == 1 and doc["budget"] == 6000
        assert get_counter("o200k_base").count(doc["context"]) == doc["tokens"] <= 6000
        assert doc["files"][0]["path"] == "shop/services/checkout.py"
        for f in doc["files"]:
            assert set(f) == {"path", "mode", "tokens", "score", "reasons", "ranges"}
            assert f["mode"] in {"full", "chunks", "skeleton"} and not f["path"].startswith("/")
    elif fmt == "xml":
        assert r.stdout == doc["context"]  # --format json carries the xml context
    else:  # the same files, rendered in another format, within the budget
        assert get_counter("o200k_base").count(r.stdout) <= 6000
        assert all(f["path"] in r.stdout for f in doc["files"])


def test_query_sources_agree(shop: Path, tmp_path: Path) -> None:
    qf = tmp_path / "q.txt"
    qf.write_text(QUERY)
    a = _run("pack", str(shop), "--query", QUERY, "--budget", "3000").stdout
    b = _run("pack", str(shop), "--query-file", str(qf), "--budget", "3000").stdout
    c = _run("pack", str(shop), "--query-file", "-", "--budget", "3000", input=QUERY).stdout
    d = _run("pack", str(shop), "--query", "-", "--budget", "3000", input=QUERY).stdout
    assert a == b == c == d and a.startswith("<context>")


def test_output_file_leaves_stdout_empty(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "prompt.xml"
    r = _run("pack", str(shop), "--query", QUERY, "-o", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    assert out.read_text().startswith("<context>")


def test_preview_shows_modes_and_reasons(shop: Path) -> None:
    r = _run("preview", str(shop), "--query", QUERY, "--budget", "3000")
    assert r.exit_code == 0
    assert "Budget" in r.stdout and "checkout.py" in r.stdout and "full" in r.stdout
    assert "defines" in r.stdout or "matches" in r.stdout


def test_config_file_defaults(shop: Path) -> None:
    (shop / ".ctxpack.toml").write_text('budget = 1500\nformat = "markdown"\n')
    r = _run("pack", str(shop), "--query", QUERY)
    assert r.exit_code == 0 and r.stdout.startswith("## ")
    assert get_counter("o200k_base").count(r.stdout) <= 1500


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["pack", "/no/such/dir", "--query", "x"], 2, "Error: no such directory: /no/such/dir"),
        (["pack", "{shop}", "--query", "x", "--budget", "0"], 2, "Error: budget must be a positive integer"),
        (["pack", "{shop}", "--query", "x", "--budget", "-5"], 2, "Error: budget must be a positive integer"),
        (["pack", "{shop}", "--query", "   "], 2, "Error: empty query"),
        (["pack", "{shop}", "--query", "x", "--budget", "2", "--format", "xml"], 2, "Error: budget 2 is below"),
        (["pack", "{shop}", "--query", "x", "--encoding", "gpt2"], 2, "Invalid value for '--encoding'"),
        (["pack", "{shop}", "--query-file", "/no/such/file"], 2, "Error: cannot read query file"),
        (["index", "{shop}/README.md"], 2, "Error: not a directory"),
    ],
)
def test_errors_are_one_line(shop: Path, args: list[str], code: int, message: str) -> None:
    r = _run(*[a.replace("{shop}", str(shop)) for a in args])
    assert r.exit_code == code
    assert r.stdout == ""
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    if message.startswith("Error:"):
        assert len(r.stderr.strip().splitlines()) == 1


def test_bad_config_file_is_usage_error(shop: Path) -> None:
    (shop / ".ctxpack.toml").write_text("budget = [\n")
    r = _run("pack", str(shop), "--query", "x")
    assert r.exit_code == 2 and r.stderr.startswith("Error: cannot read config .ctxpack.toml")


def test_search_json(shop: Path) -> None:
    r = _run("search", str(shop), "--query", "retry backoff payment gateway", "--format", "json")
    assert r.exit_code == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert hits and hits[0]["path"] == "shop/services/payment.py"


def test_pyproject_tool_table_defaults(shop: Path) -> None:
    py = shop / "pyproject.toml"
    py.write_text(py.read_text() + '\n[tool.ctxpack]\nbudget = 1200\nformat = "plain"\n')
    r = _run("pack", str(shop), "--query", QUERY)
    assert r.exit_code == 0 and r.stdout.startswith("==> ")
    assert get_counter("o200k_base").count(r.stdout) <= 1200
    r = _run("pack", str(shop), "--query", QUERY, "--budget", "3000", "--format", "xml")  # options win
    assert r.stdout.startswith("<context>") and 1200 < get_counter("o200k_base").count(r.stdout) <= 3000
