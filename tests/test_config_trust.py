"""A repository's own config tunes ranking and packing only (issue 18, item 5).

Safety (``redact``) and locations (``index_dir``, ``vectors_dir``, ``model`` ...) come from
the user: options, environment, the user config file. Bad values are one-line errors.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctxpack import load_config
from ctxpack.errors import ConfigError

_PASSWORD = "hunter2-Very-Secret-Passw0rd"


def _ctxpack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctxpack", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CTXPACK_EMBED": "0", **(env or {})}, stdin=subprocess.DEVNULL)


def _pack_json(repo: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    got = _ctxpack("pack", str(repo), "--query", "database password settings", "--budget", "20000",
                   "--format", "json", *extra, env=env)
    assert got.returncode == 0, got.stderr
    return json.loads(got.stdout), got.stderr


def test_repository_cannot_switch_redaction_off(shop: Path) -> None:
    (shop / ".env.local").write_text(f"DB_PASSWORD={_PASSWORD}\n", encoding="utf-8")
    py = shop / "pyproject.toml"
    py.write_text((py.read_text() if py.exists() else "") + "\n[tool.ctxpack]\nredact = false\n", encoding="utf-8")
    doc, err = _pack_json(shop)
    assert _PASSWORD not in doc["context"]
    assert ".env.local" not in {f["path"] for f in doc["files"]}
    assert any(s["path"] == ".env.local" for s in doc["skipped"])
    assert "ignored redact in pyproject.toml [tool.ctxpack]" in err
    assert len([ln for ln in err.splitlines() if "redact" in ln]) == 1


def test_repository_cannot_choose_where_the_index_is_written(shop: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-index"
    (shop / ".ctxpack.toml").write_text(f'index_dir = "{outside}"\nvectors_dir = "{outside}-v"\n'
                                        f'model = "{shop}"\nembed_backend = "torch"\n', encoding="utf-8")
    got = _ctxpack("index", str(shop))
    assert got.returncode == 0, got.stderr
    assert not outside.exists() and not Path(f"{outside}-v").exists()
    assert (shop / ".ctxpack" / "manifest.json").is_file()
    for key in ("index_dir", "vectors_dir", "model", "embed_backend"):
        assert f"ignored {key} in .ctxpack.toml" in got.stderr


def test_the_user_config_may_set_safety_and_locations(shop: Path, tmp_path: Path) -> None:
    user = tmp_path / "user-config.toml"
    user.write_text('redact = false\nindex_dir = "idx-from-user"\n', encoding="utf-8")
    (shop / ".env.local").write_text(f"DB_PASSWORD={_PASSWORD}\n", encoding="utf-8")
    doc, _ = _pack_json(shop, env={"CTXPACK_CONFIG": str(user)})
    assert _PASSWORD in doc["context"]  # the user asked for it
    assert (tmp_path / "idx-from-user" / "manifest.json").is_file()


def test_user_config_in_ctxpack_home(shop: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("budget = 5000\nmax_files = 10\n", encoding="utf-8")
    monkeypatch.setenv("CTXPACK_HOME", str(home))
    cfg = load_config(shop)
    assert (cfg.budget, cfg.max_files) == (5000, 10)
    (shop / ".ctxpack.toml").write_text("budget = 7000\n", encoding="utf-8")  # the project's tuning wins over it
    assert load_config(shop).budget == 7000
    assert load_config(shop, budget=9000).budget == 9000  # an explicit option wins over both


def test_a_glob_string_is_one_pattern(shop: Path) -> None:
    (shop / ".ctxpack.toml").write_text('include = "shop/*.py"\nexclude = ["tests/**"]\n', encoding="utf-8")
    cfg = load_config(shop)
    assert cfg.include == ("shop/*.py",) and cfg.exclude == ("tests/**",)


@pytest.mark.parametrize(("line", "message"), [
    ('max_file_bytes = "x"', "Error: bad value for max_file_bytes in .ctxpack.toml: 'x'. Use an integer"),
    ("budget = true", "Error: bad value for budget in .ctxpack.toml: True. Use an integer"),
    ("include = [1, 2]", "Error: bad value for include in .ctxpack.toml: [1, 2]. Use a glob string or a list"),
    ("repo_map = 1", "Error: bad value for repo_map in .ctxpack.toml: 1. Use true or false"),
    ("outline_share = 3", "Error: bad value for outline_share in .ctxpack.toml: 3. Use a number between 0 and 1"),
])
def test_bad_values_are_one_line_usage_errors(shop: Path, line: str, message: str) -> None:
    (shop / ".ctxpack.toml").write_text(line + "\n", encoding="utf-8")
    got = _ctxpack("pack", str(shop), "--query", "checkout", "--budget", "2000")
    assert got.returncode == 2
    assert got.stderr.startswith(message), got.stderr
    assert got.stderr.count("\n") == 1 and got.stdout == ""


def test_unknown_repository_key_is_a_warning(shop: Path, caplog: pytest.LogCaptureFixture) -> None:
    (shop / ".ctxpack.toml").write_text("budget = 3000\nfuture_knob = 1\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ctxpack"):
        cfg = load_config(shop)
    assert cfg.budget == 3000
    assert [r.getMessage() for r in caplog.records] == ["ignored future_knob in .ctxpack.toml: not a ctxpack setting"]


def test_unknown_user_key_is_an_error(shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "c.toml"
    user.write_text("budgte = 3\n", encoding="utf-8")
    monkeypatch.setenv("CTXPACK_CONFIG", str(user))
    with pytest.raises(ConfigError, match="unknown config key 'budgte'"):
        load_config(shop)


def test_repository_cannot_lift_the_file_size_limit_without_bound(shop: Path) -> None:
    (shop / ".ctxpack.toml").write_text("max_file_bytes = 10_000_000_000\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="A repository may set at most"):
        load_config(shop)
