"""The content-addressed parse cache (issue 17): real git, real tree-sitter, real LanceDB."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.config import Config
from ctxpack.index import process
from ctxpack.index.parse_cache import ParseCache, cache_file
from ctxpack.index.process import FileContent, process_file, process_sources, settings_key
from ctxpack.models import SourceFile
from ctxpack.pipeline import refresh_repo
from ctxpack.render import pack_to_dict, to_json

_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}
QUERY = "apply a discount code at checkout"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                           env=_ENV).stdout


@pytest.fixture
def branches(shop: Path) -> Path:
    """shop_api in git: ``main``, and ``feature`` that edits three files, adds one and removes one."""
    git(shop, "init", "-q", "-b", "main")
    git(shop, "add", "-A")
    git(shop, "commit", "-q", "-m", "base")
    git(shop, "checkout", "-q", "-b", "feature")
    for rel in ("shop/services/pricing.py", "shop/models/cart.py", "shop/routes/cart_routes.py"):
        p = shop / rel
        p.write_text(p.read_text() + f"\n\ndef feature_{p.stem}(x):\n    return x\n")
    (shop / "shop" / "services" / "gift.py").write_text("def gift_wrap_fee(order):\n    return 3\n")
    (shop / "shop" / "services" / "notifications.py").unlink()
    git(shop, "add", "-A")
    git(shop, "commit", "-q", "-m", "feature")
    git(shop, "checkout", "-q", "main")
    return shop


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The real tree-sitter parses from now on (the languages parsed), whatever the stats say."""
    seen: list[str] = []
    real = process.parse_source

    def counting(path: str, language: str, text: str, timeout_ms: int = 2000) -> object:
        seen.append(language)
        return real(path, language, text, timeout_ms)

    monkeypatch.setattr(process, "parse_source", counting)
    return seen


def test_switching_back_reparses_nothing(branches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(branches)
    first = build_index(branches, cfg)
    assert first.parsed == first.files and first.reused == 0
    git(branches, "checkout", "-q", "feature")
    parses = _count_parses(monkeypatch)
    there = build_index(branches, cfg)
    assert (there.parsed, there.reused, there.removed) == (4, 0, 1)  # three edits and a new file
    assert len(parses) == 4
    git(branches, "checkout", "-q", "main")
    back = build_index(branches, cfg)
    assert (back.parsed, back.reused, back.removed) == (0, 4, 1)  # the three old versions and notifications.py
    git(branches, "checkout", "-q", "feature")
    again = build_index(branches, cfg)
    assert (again.parsed, again.reused) == (0, 4)
    assert len(parses) == 4  # not one real parse after the first switch
    defs = {s.name for s in open_repo(branches, cfg, refresh=False).snapshot.symbols["shop/services/pricing.py"]}
    assert "feature_pricing" in defs


def test_pack_after_switch_back_reparses_nothing(branches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path a user hits: ``pack`` (``open_repo``) right after a checkout."""
    cfg = load_config(branches)
    build_index(branches, cfg)
    git(branches, "checkout", "-q", "feature")
    open_repo(branches, cfg)
    git(branches, "checkout", "-q", "main")
    parsed: list[int] = []
    real = process.process_content

    def counting(text: str, language: str, cfg: Config) -> FileContent:
        parsed.append(1)
        return real(text, language, cfg)

    monkeypatch.setattr(process, "process_content", counting)
    repo = open_repo(branches, cfg)
    assert parsed == [] and "shop/services/notifications.py" in repo.snapshot.files
    assert "feature_pricing" not in {s.name for s in repo.snapshot.symbols["shop/services/pricing.py"]}


def test_changed_file_is_always_reparsed(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    target = shop / "shop" / "services" / "pricing.py"
    old = target.read_text()
    target.write_text(old.replace("def ", "def renamed_", 1))  # same size class, new content
    stats = build_index(shop, cfg)
    assert (stats.parsed, stats.reused) == (1, 0)
    assert any(s.name.startswith("renamed_") for s in open_repo(shop, cfg, refresh=False).snapshot.symbols[
        "shop/services/pricing.py"])
    target.write_text(old)  # back to a content parsed before
    assert (lambda s: (s.parsed, s.reused))(build_index(shop, cfg)) == (0, 1)


def test_renamed_file_is_not_reparsed_and_takes_its_new_path(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    (shop / "shop" / "services" / "pricing.py").rename(shop / "shop" / "services" / "prices.py")
    stats = build_index(shop, cfg)
    assert (stats.parsed, stats.reused, stats.removed) == (0, 1, 1)
    snap = open_repo(shop, cfg, refresh=False).snapshot
    assert "shop/services/pricing.py" not in snap.files
    assert {s.path for s in snap.symbols["shop/services/prices.py"]} == {"shop/services/prices.py"}
    # what the index holds for the renamed file is what a parse of it gives
    src = shop / "shop" / "services" / "prices.py"
    data = src.read_bytes()
    fresh = process_file(SourceFile("shop/services/prices.py", "python", len(data), 0, hashlib.sha1(data).hexdigest(),
                                    data.decode()), cfg)
    assert snap.file_terms["shop/services/prices.py"] == (list(fresh.row.terms), list(fresh.row.counts))
    assert [sp.id for sp in snap.chunks["shop/services/prices.py"]] == [c.id for c, _ in fresh.chunks]


def _pack_json(root: Path, cfg: Config) -> str:
    repo = open_repo(root, cfg)
    return to_json(pack_to_dict(pack_for(repo, QUERY, budget=4000, fmt="xml")))


def test_index_through_the_cache_equals_one_without(shop: Path, tmp_path: Path) -> None:
    fresh_dir, cached_dir = tmp_path / "fresh", tmp_path / "cached"
    fresh_cfg = load_config(shop, index_dir=str(fresh_dir))
    cached_cfg = load_config(shop, index_dir=str(cached_dir))
    assert build_index(shop, fresh_cfg).reused == 0
    build_index(shop, cached_cfg)
    for p in cached_dir.iterdir():  # the index is gone, its parse cache is kept
        if p.name not in (cache_file(cached_dir).name, ".gitignore"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    stats = build_index(shop, cached_cfg)
    assert stats.parsed == 0 and stats.reused == stats.files
    a, b = open_repo(shop, fresh_cfg, refresh=False).snapshot, open_repo(shop, cached_cfg, refresh=False).snapshot
    assert (a.files, a.file_terms, a.symbols, a.chunks) == (b.files, b.file_terms, b.symbols, b.chunks)
    assert _pack_json(shop, fresh_cfg) == _pack_json(shop, cached_cfg)


def test_rebuild_parses_everything(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    stats = build_index(shop, cfg, rebuild=True)
    assert stats.parsed == stats.files and stats.reused == 0


def _indexed_two_versions(shop: Path) -> tuple[Config, Path, Path, str]:
    """Index ``shop``, change pricing.py and index again: both of its contents are in the parse cache.
    Returns (config, the cache file, pricing.py, its first text)."""
    cfg = load_config(shop)
    build_index(shop, cfg)
    target = shop / "shop" / "services" / "pricing.py"
    old = target.read_text()
    target.write_text(old + "\n# v2\n")
    build_index(shop, cfg)
    return cfg, cache_file(shop / ".ctxpack"), target, old


def test_damaged_entries_and_file_are_misses(shop: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg, path, target, old = _indexed_two_versions(shop)  # v2 parsed; the old content stays cached
    with sqlite3.connect(path) as db:  # a torn entry: its bytes no longer match their digest
        n = db.execute("UPDATE entries SET blob = substr(blob, 1, length(blob) / 2)").rowcount
    assert n > 1
    target.write_text(old)
    stats = build_index(shop, cfg)
    assert (stats.parsed, stats.reused) == (1, 0)  # parsed again, not trusted
    path.write_bytes(b"this is not a database" * 100)  # a damaged file: a miss, then replaced
    target.write_text(old + "\n# v2\n")
    with caplog.at_level("WARNING"):
        stats = build_index(shop, cfg)
    assert (stats.parsed, stats.reused) == (1, 0) and "parse cache" in caplog.text
    target.write_text(old)
    assert build_index(shop, cfg).parsed == 1  # it was in the damaged file only
    target.write_text(old + "\n# v2\n")
    assert build_index(shop, cfg).reused == 1  # the new cache file works


def test_cache_is_bounded_oldest_first(tmp_path: Path) -> None:
    cfg = Config()
    texts = [f"def f{i}(x):\n    return x + {i}\n" + "# filler line\n" * 50 for i in range(40)]
    srcs = [SourceFile(f"m{i}.py", "python", len(t), 0, f"{i:040x}", t) for i, t in enumerate(texts)]
    probe = ParseCache(tmp_path, settings_key(cfg))
    process_sources(srcs[:1], cfg, probe)
    one = sqlite3.connect(cache_file(tmp_path)).execute("SELECT size FROM entries").fetchone()[0]
    cache = ParseCache(tmp_path, settings_key(cfg), max_bytes=one * 10)
    for s in srcs:  # one content per run: each run's contents are newer than the last's
        process_sources([s], cfg, cache)
    rows = sqlite3.connect(cache_file(tmp_path)).execute("SELECT size FROM entries").fetchall()
    assert sum(r[0] for r in rows) <= one * 10 and len(rows) >= 5
    fresh = ParseCache(tmp_path, settings_key(cfg), memory_entries=0)
    kept = fresh.get_many([(s.sha1, "python") for s in srcs])
    assert (srcs[-1].sha1, "python") in kept and (srcs[0].sha1, "python") not in kept


def test_memory_holds_a_bounded_number_of_tokens_and_the_disk_the_rest(tmp_path: Path) -> None:
    cfg = Config()
    texts = [f"def f{i}(x):\n    return x + {i}\n" + "# filler line\n" * 50 for i in range(12)]
    srcs = [SourceFile(f"m{i}.py", "python", len(t), 0, f"{i:040x}", t) for i, t in enumerate(texts)]
    keys = [(s.sha1, "python") for s in srcs]
    probe = ParseCache(tmp_path / "probe", settings_key(cfg))
    process_sources(srcs[:1], cfg, probe)
    per_file = probe._memory_tokens  # the texts have the same number of tokens
    cache = ParseCache(tmp_path, settings_key(cfg), memory_tokens=per_file * 3)
    process_sources(srcs, cfg, cache)
    assert list(cache._memory) == keys[-3:]  # the newest three fit the memory's token cap
    assert cache._memory_tokens == per_file * 3
    assert set(cache.get_many(keys)) == set(keys)  # the others come from the disk
    assert cache.hits == len(keys)


def test_other_settings_do_not_share_entries(tmp_path: Path) -> None:
    text = "def f(x):\n    return x\n"
    src = SourceFile("a.py", "python", len(text), 0, "a" * 40, text)
    process_sources([src], Config(), ParseCache(tmp_path, settings_key(Config())))
    other = Config(chunk_tokens=50)
    cache = ParseCache(tmp_path, settings_key(other))
    assert process_sources([src], other, cache).parsed == 1 and cache.hits == 0


def test_a_timed_out_parse_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "def f(x):\n    return x\n"
    src = SourceFile("a.py", "python", len(text), 0, "b" * 40, text)
    real = process.process_content

    def slow(text: str, language: str, cfg: Config) -> FileContent:
        got = real(text, language, cfg)
        return FileContent((), got.chunks, got.counts, got.tokens, got.lines, "parse timed out after 1 ms")

    monkeypatch.setattr(process, "process_content", slow)
    cache = ParseCache(tmp_path, settings_key(Config()))
    process_sources([src], Config(), cache)
    monkeypatch.undo()
    again = ParseCache(tmp_path, settings_key(Config()), memory_entries=0)
    assert process_sources([src], Config(), again).parsed == 1


def test_same_content_twice_in_a_run_is_parsed_once(tmp_path: Path) -> None:
    text = "class A:\n    def run(self):\n        return 1\n"
    srcs = [SourceFile(p, "python", len(text), 0, "c" * 40, text) for p in ("x/a.py", "y/b.py")]
    done = process_sources(srcs, Config(), None)
    assert done.parsed == 1 and done.files == [process_file(s, Config()) for s in srcs]


def test_live_repo_switch_back_reparses_nothing(branches: Path) -> None:
    """``refresh_repo`` (a warm server) goes through the same cache, in memory and on disk."""
    cfg = load_config(branches)
    repo = open_repo(branches, cfg)
    git(branches, "checkout", "-q", "feature")
    repo = refresh_repo(repo)
    cache = repo.parse_cache()
    misses = cache.misses
    git(branches, "checkout", "-q", "main")
    back = refresh_repo(repo)
    assert back.parse_cache() is cache and cache.misses == misses and cache.hits >= 4
    assert "feature_pricing" not in {s.name for s in back.snapshot.symbols["shop/services/pricing.py"]}
    # and a new process (a cold pack) finds what the warm one parsed, on disk
    git(branches, "checkout", "-q", "feature")
    cold = ParseCache(branches / ".ctxpack", settings_key(cfg), memory_entries=0)
    srcs = []
    for rel in ("shop/services/pricing.py", "shop/services/gift.py"):
        data = (branches / rel).read_bytes()
        srcs.append(SourceFile(rel, "python", len(data), 0, hashlib.sha1(data).hexdigest(), data.decode()))
    assert process_sources(srcs, cfg, cold).parsed == 0


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "parse cache" in r.getMessage()]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "directory"])
def test_a_damaged_cache_file_is_a_miss_with_one_warning_at_most(shop: Path, caplog: pytest.LogCaptureFixture,
                                                                  damage: str) -> None:
    cfg, path, target, old = _indexed_two_versions(shop)
    data = path.read_bytes()
    path.unlink()
    if damage == "truncated":  # a copy cut short (a full disk, a crash of the copying tool)
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:  # neither readable nor writable as a database
        path.mkdir()
    target.write_text(old)
    with caplog.at_level("DEBUG"):
        stats = build_index(shop, cfg)
    assert stats.parsed + stats.reused == 1  # never a crash; the old content parsed again unless its page survived
    assert len(_warnings(caplog)) <= 1
    snap = open_repo(shop, cfg, refresh=False).snapshot
    fresh = process_file(SourceFile("shop/services/pricing.py", "python", 0, 0, "", old), cfg)
    assert snap.file_terms["shop/services/pricing.py"] == (list(fresh.row.terms), list(fresh.row.counts))


def test_a_decodable_looking_entry_of_another_shape_is_a_miss(tmp_path: Path) -> None:
    """An entry whose digest checks out but whose bytes are not an entry (another version wrote it)."""
    import pickle
    import zlib

    from ctxpack.index.parse_cache import _digest

    cfg = Config()
    text = "def f(x):\n    return x\n"
    src = SourceFile("a.py", "python", len(text), 0, "d" * 40, text)
    process_sources([src], cfg, ParseCache(tmp_path, settings_key(cfg)))
    foreign = (zlib.compress(pickle.dumps(("not", "an", "entry"))),
               zlib.compress(pickle.dumps((99, 1, 2, 3, 4, 5, 6, 7))), b"not zlib")
    for blob in foreign:
        with sqlite3.connect(cache_file(tmp_path)) as db:
            db.execute("UPDATE entries SET blob = ?, digest = ?", (blob, _digest(blob)))
        cache = ParseCache(tmp_path, settings_key(cfg), memory_entries=0)
        assert process_sources([src], cfg, cache).parsed == 1 and cache.hits == 0
        with sqlite3.connect(cache_file(tmp_path)) as db:  # and the parse replaced it
            (good,) = db.execute("SELECT blob FROM entries").fetchone()
        assert good != blob
