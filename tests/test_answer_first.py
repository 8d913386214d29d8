"""A big change is answered from memory before it is parsed (``open_repo(answer_first=True)``, issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxpack import build_index, load_config, open_repo, pack_for
from ctxpack.pack.policy import PackPolicy
from ctxpack.pipeline import ANSWER_FIRST_ABOVE, COMPLETE_TOP, rank_for
from ctxpack.store.tables import IndexStore

QUERY = "apply_coupon_code: reject an expired coupon code at checkout"


def _checkout(root: Path, n: int) -> None:
    """What a checkout of another branch does: many new files, one of them big and relevant, one file gone."""
    gen = root / "shop" / "generated"
    gen.mkdir()
    for i in range(n):
        (gen / f"report_{i}.py").write_text(f"def report_{i}(rows):\n    return sorted(rows)[:{i + 1}]\n")
    helpers = "".join(f"def helper_{i}(value):\n    total = value * {i}\n    return total + {i}\n\n\n"
                      for i in range(300))
    (root / "shop" / "coupons.py").write_text(
        '"""Coupons."""\n\nimport datetime\n\n\n' + helpers
        + "def apply_coupon_code(cart, code, today):\n"
          "    if code.expires < today:\n        raise ValueError('expired coupon code')\n"
          "    cart.discount = code.amount\n    return cart\n\n\n" + helpers.replace("helper_", "other_"))
    (root / "shop" / "services" / "notifications.py").unlink()


def test_a_big_change_is_answered_before_it_is_parsed(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    store = IndexStore(shop / ".ctxpack")
    before = store.manifest()
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    repo = open_repo(shop, cfg, answer_first=True)
    assert store.manifest() == before  # nothing written: the caller writes the index behind its answer
    assert repo.unsaved and "shop/coupons.py" in repo.provisional and len(repo.provisional) > ANSWER_FIRST_ABOVE
    assert "shop/services/notifications.py" not in repo.snapshot.files
    assert not repo.snapshot.chunks.get("shop/coupons.py")  # not parsed yet
    pack = pack_for(repo, QUERY, budget=4000)
    assert pack.tokens <= 4000
    # Parsed for this answer: the best ranked, and files shown as chunks; not the outline's long tail.
    assert repo.parse_cache().stored <= COMPLETE_TOP + PackPolicy.default().chunk_top
    coupons = next(f for f in pack.files if f.path == "shop/coupons.py")  # too big whole: its regions
    assert coupons.mode == "chunks" and "def apply_coupon_code" in coupons.text  # parsed for this answer


def test_a_provisional_repo_once_parsed_ranks_as_the_written_index(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    repo = open_repo(shop, cfg, answer_first=True)
    done = repo.completed(repo.provisional)
    assert not done.provisional
    build_index(shop, cfg)  # what the CLI's child writes
    written = open_repo(shop, cfg, refresh=False)
    assert done.snapshot.files == written.snapshot.files and done.snapshot.chunks == written.snapshot.chunks
    assert done.snapshot.file_terms == written.snapshot.file_terms
    assert rank_for(done, QUERY) == rank_for(written, QUERY)


def test_a_small_change_is_written_before_the_answer(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    store = IndexStore(shop / ".ctxpack")
    before = store.manifest()
    (shop / "shop" / "extra.py").write_text("def extra():\n    return 1\n")
    repo = open_repo(shop, cfg, answer_first=True)
    assert not repo.provisional and not repo.unsaved and store.manifest() != before
    assert "shop/extra.py" in repo.snapshot.files


def test_the_daemon_answers_a_checkout_first_and_parses_the_rest_after_its_reply(shop: Path) -> None:
    from ctxpack.serve.daemon_server import Daemon

    cfg = load_config(shop)
    build_index(shop, cfg)
    daemon = Daemon(shop / ".ctxpack")
    daemon.repo_for(shop.resolve(), cfg)  # loaded before the checkout
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    repo = daemon.repo_for(shop.resolve(), cfg)
    assert "shop/coupons.py" in repo.provisional
    first = pack_for(repo, QUERY, budget=4000)
    assert any(f.path == "shop/coupons.py" and f.mode == "chunks" for f in first.files)
    daemon.finish(lambda: True)  # a client is waiting: it comes first
    assert daemon.repo_for(shop.resolve(), cfg).provisional == repo.provisional
    daemon.finish()  # what the daemon does after each reply, while no client waits
    done = daemon.repo_for(shop.resolve(), cfg)
    assert not done.provisional and done.snapshot.chunks.get("shop/generated/report_3.py")
    build_index(shop, cfg)
    assert pack_for(done, QUERY, budget=4000) == pack_for(open_repo(shop, cfg, refresh=False), QUERY, budget=4000)


def test_a_first_run_answers_before_anything_is_parsed_or_written(shop: Path) -> None:
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    cfg = load_config(shop)
    store = IndexStore(shop / ".ctxpack")
    assert not store.exists()
    stages: set[str] = set()
    repo = open_repo(shop, cfg, answer_first=True, progress=lambda stage, _d, _t: stages.add(stage))
    assert not store.exists() and repo.unsaved  # no index yet: the CLI builds it behind its answer
    assert set(repo.provisional) == set(repo.snapshot.files)  # nothing was parsed before ranking
    assert {"read", "terms"} <= stages  # what a progress bar shows meanwhile
    pack = pack_for(repo, QUERY, budget=4000)
    assert pack.tokens <= 4000
    assert any(f.path == "shop/coupons.py" and f.mode == "chunks" and "def apply_coupon_code" in f.text
               for f in pack.files)
    build_index(shop, cfg)
    written = open_repo(shop, cfg, refresh=False)
    assert repo.completed(repo.provisional).snapshot.files == written.snapshot.files


def test_a_provisional_file_shown_as_chunks_is_parsed_for_it(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    repo = open_repo(shop, cfg, answer_first=True)
    assert "shop/coupons.py" in repo.provisional
    done = repo.completed(["shop/coupons.py"])
    assert repo.chunks_for(["shop/coupons.py"]) == done.chunks_for(["shop/coupons.py"]) != []
    # Its skeleton is the definitions its lines state (no parse: an outline may list hundreds of files).
    assert "def apply_coupon_code(cart, code, today):" in repo.skeleton("shop/coupons.py")
    assert "def apply_coupon_code(cart, code, today)" in done.skeleton("shop/coupons.py")


def test_a_provisional_file_states_its_definitions_and_imports_to_the_ranking() -> None:
    from ctxpack.index.process import provisional_symbols

    py = "import os\nfrom shop.models import Cart\n\nclass Coupon(Base):\n    async def apply(self):\n        pass\n"
    assert [(s[0], s[1], s[2], s[3]) for s in provisional_symbols(py, "python")] == [
        ("Coupon", "def", "class", 4), ("apply", "def", "function", 5),
        ("os", "ref", "import", 1), ("shop.models", "ref", "import", 2)]
    ts = "import { x } from './util';\nexport function hello(): void {}\nconst z = require(\"lib/z\");\n"
    assert [(s[0], s[2]) for s in provisional_symbols(ts, "typescript")] == [
        ("hello", "function"), ("./util", "import"), ("lib/z", "import")]
    assert [s[0] for s in provisional_symbols("func (r *T) Name() {}\ntype Alias int\n", "go")] == ["Name", "Alias"]
    assert [s[0] for s in provisional_symbols("pub(crate) fn thing() {}\nstruct S;\n", "rust")] == ["thing", "S"]
    assert provisional_symbols("class notes\ndef of a word\n", "text") == ()  # prose is not code


_LINES = st.lists(st.sampled_from(["import os", "from a.b import c", "def f(x):", "    def g(self):", "class K(B):",
                                    "export async function h() {}", "func (r *T) Name() {}", "pub(crate) fn t() {}",
                                    "x = 1", "", "  ", "\tclass  Tab:", "import", "deff no", "type T = int"])
                   | st.text(alphabet=" \t\n(_:defimportclasfunc", max_size=30), max_size=25)


@settings(max_examples=300, deadline=None)
@given(_LINES, st.sampled_from(["python", "go", "typescript"]), st.booleans())
def test_provisional_symbols_are_what_each_line_states(lines: list[str], language: str, end_newline: bool) -> None:
    """The fast search (a "\\n"-anchored pattern) finds what the line-anchored one finds, at the same lines."""
    import re

    from ctxpack.index.process import _CATEGORY, DEF_LINE, PY_IMPORT_LINE, provisional_symbols

    text = "\n".join(lines) + ("\n" if end_newline else "")
    want = []
    for n, line in enumerate(text.split("\n"), 1):
        if m := re.match(DEF_LINE, line):
            want.append((m.group(2), "def", _CATEGORY[m.group(1)], n, n, line.strip()[:200], "", ""))
    if language == "python":
        want += [(m.group(1), "ref", "import", n, 0, "", "", "")
                 for n, line in enumerate(text.split("\n"), 1) if (m := re.match(PY_IMPORT_LINE, line))]
    got = provisional_symbols(text, language)
    assert [s for s in got if s[1] == "def" or language == "python"] == want


def test_bad_files_in_a_big_change_are_skipped_with_a_reason(shop: Path) -> None:
    cfg = load_config(shop)
    build_index(shop, cfg)
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    bad = shop / "shop" / "bad"
    bad.mkdir()
    (bad / "blob.py").write_bytes(b"\x00\x01\x02binary" * 100)
    (bad / "latin.py").write_bytes("caf\xe9 = 1\n".encode("latin-1") * 10)
    (bad / "huge.py").write_text("x = 1\n" * (cfg.max_file_bytes // 6 + 10))
    (bad / "loop").symlink_to(bad, target_is_directory=True)
    repo = open_repo(shop, cfg, answer_first=True)
    skipped = {s.path: s.reason for s in repo.snapshot.manifest.skipped}
    assert {"shop/bad/blob.py", "shop/bad/huge.py"} <= set(skipped) and all(skipped.values())
    assert "shop/bad/blob.py" not in repo.snapshot.files and "shop/bad/huge.py" not in repo.snapshot.files
    pack = pack_for(repo, QUERY, budget=4000)
    assert pack.tokens <= 4000 and any(f.path == "shop/coupons.py" for f in pack.files)
    build_index(shop, cfg)  # what the index written behind the answer records: the same files, the same reasons
    written = open_repo(shop, cfg, refresh=False)
    assert written.snapshot.manifest.skipped == repo.snapshot.manifest.skipped
    assert set(written.snapshot.files) == set(repo.snapshot.files)


def test_the_daemon_parses_the_rest_in_batches_short_enough_for_a_waiting_client(
        shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ctxpack.serve import daemon_server

    cfg = load_config(shop)
    build_index(shop, cfg)
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    repo = open_repo(shop, cfg, answer_first=True)
    order = sorted(repo.provisional)
    size = {p: repo.snapshot.files[p].size for p in order}
    assert daemon_server._next_batch(repo) == order[:daemon_server._FINISH_BATCH]  # small files: a full batch
    big = "shop/coupons.py"  # ~20 KB, the others ~70 bytes
    assert size[big] > 50 * max(n for p, n in size.items() if p != big)
    monkeypatch.setattr(daemon_server, "_FINISH_BYTES", size[big] // 2)
    rest = repo.completed([p for p in order if p < big])  # the big file is next in line
    assert daemon_server._next_batch(rest) == [big]  # over the byte budget alone: a batch of one
    after = rest.completed([big])
    batch = daemon_server._next_batch(after)
    assert 1 < len(batch) <= daemon_server._FINISH_BATCH and sum(size[p] for p in batch) <= size[big] // 2


def test_files_parsed_ahead_are_the_files_parsed_when_reached(shop: Path, tmp_path: Path) -> None:
    """The provisional files a pack may show as chunks are parsed by a forked worker in that order; what it
    hands over equals a parse made here, a file it has not reached is parsed here, and closing leaves nothing."""
    from ctxpack.index.ahead import ParseAhead
    from ctxpack.index.discover import Candidate, read_source
    from ctxpack.index.process import process_content
    from ctxpack.models import SourceFile

    cfg = load_config(shop)
    paths = sorted(str(p.relative_to(shop)) for p in (shop / "shop").rglob("*.py"))
    assert len(paths) >= 4
    cands = [Candidate(p, (shop / p).stat().st_size, (shop / p).stat().st_mtime_ns) for p in paths]
    ahead = ParseAhead(shop, cands[:-1], cfg)
    try:
        assert ahead.take(paths[-1]) == (False, None)  # not in its list
        for p in paths[:-1]:
            ready, got = ahead.take(p)
            src = read_source(shop, next(c for c in cands if c.path == p))
            assert ready and isinstance(src, SourceFile) and got == (src, process_content(src.text, src.language, cfg))
        work_dir = ahead._dir
    finally:
        ahead.close()
    assert not work_dir.exists() and not ahead._workers


def test_a_pack_that_parses_ahead_is_the_pack_that_does_not(shop: Path, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from ctxpack import repo as repo_mod
    from ctxpack.index import ahead

    cfg = load_config(shop)
    build_index(shop, cfg)
    _checkout(shop, ANSWER_FIRST_ABOVE + 20)
    for i in range(3):  # more big relevant files than the best ranked the answer parses: some get parsed late
        (shop / "shop" / f"coupon_rules_{i}.py").write_text("".join(
            f"def coupon_rule_{i}_{k}(cart, code):\n    '''Reject an expired coupon code {k}.'''\n"
            f"    return code.expires < cart.today or {k}\n\n\n" for k in range(400)))
    started: list[int] = []
    real = ahead.ParseAhead.__init__

    def counting(self: ahead.ParseAhead, root: Path, cands: list, c: object) -> None:
        started.append(len(cands))
        real(self, root, cands, c)  # type: ignore[arg-type]

    monkeypatch.setattr(ahead.ParseAhead, "__init__", counting)
    monkeypatch.setattr("ctxpack.pipeline.COMPLETE_TOP", 1)  # parse one file for the answer: the rest late
    caplog.set_level(logging.DEBUG, logger="ctxpack.repo")
    # (this process runs LanceDB's thread, started by build_index: the worker touches none of it)
    monkeypatch.setattr(repo_mod, "single_threaded", lambda: True)
    with_ahead = pack_for(open_repo(shop, cfg, answer_first=True), QUERY, budget=16000)
    assert started and started[0] >= 2
    assert any("for its chunks" in r.message and r.message.endswith("(ahead)") for r in caplog.records)
    for f in (shop / ".ctxpack").glob("parse-cache*"):  # the same start: nothing parsed
        f.unlink()
    monkeypatch.setattr(repo_mod, "single_threaded", lambda: False)  # (a threaded process: no fork)
    without = pack_for(open_repo(shop, cfg, answer_first=True), QUERY, budget=16000)
    assert len(started) == 1
    assert with_ahead.context == without.context
