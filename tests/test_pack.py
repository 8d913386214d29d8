"""The budget invariant (property-based), determinism and packing modes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctxpack import BudgetError, load_config, open_repo, pack_for
from ctxpack.config import FORMATS
from ctxpack.models import PackedFile
from ctxpack.pack.files import PackInputs, pack_files
from ctxpack.pack.policy import PackPolicy
from ctxpack.pipeline import Repo, rank_for
from ctxpack.tokens import get_counter

QUERIES = [
    "add a discount code to checkout",
    "make retries back off exponentially when the payment gateway fails",
    "Cart.total ignores quantity",
    "token bucket refill rate is wrong in internal/limiter/token_bucket.go",
    "show overdue tasks in red on the TaskCard",
    'Traceback (most recent call last):\n  File "shop/services/checkout.py", line 40, in place_order\nKeyError: sku',
    "x",
    "<|endoftext|> weird query with special tokens",
]

_repos: dict[tuple[str, str], Repo] = {}


def _repo(indexed: dict[str, Path], name: str, encoding: str) -> Repo:
    key = (name, encoding)
    if key not in _repos:
        root = indexed[name]
        cfg = load_config(root, encoding=encoding, index_dir=str(root / f".ctxpack-{encoding}"))
        _repos[key] = open_repo(root, cfg)
    return _repos[key]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    app=st.sampled_from(["shop_api", "taskboard_web", "ratelimit_go"]),
    budget=st.one_of(st.integers(1, 400), st.integers(400, 20_000), st.sampled_from([8000, 32000, 128000])),
    fmt=st.sampled_from(FORMATS),
    encoding=st.sampled_from(["o200k_base", "cl100k_base"]),
    query=st.one_of(st.sampled_from(QUERIES), st.text(min_size=1, max_size=200).filter(lambda s: s.strip())),
)
def test_rendered_output_never_exceeds_budget(indexed_samples: dict[str, Path], app: str, budget: int, fmt: str,
                                              encoding: str, query: str) -> None:
    repo = _repo(indexed_samples, app, encoding)
    streamed: list[PackedFile] = []
    try:
        pack = pack_for(repo, query, budget=budget, fmt=fmt, on_file=streamed.append)
    except BudgetError:
        assert budget < 20
        return
    assert streamed == [f for f in pack.files if f.mode != "map"]  # a stream sends exactly the pack, in order
    counter = get_counter(encoding)
    assert counter.count(pack.context) == pack.tokens <= budget
    assert sum(f.tokens for f in pack.files) <= budget
    paths = [f.path for f in pack.files if f.mode != "map"]
    assert len(paths) == len(set(paths))


def test_files_stream_before_packing_ends(indexed_samples: dict[str, Path]) -> None:
    repo = _repo(indexed_samples, "shop_api", "o200k_base")
    events: list[tuple[str, str]] = []

    def read_text(path: str) -> str | None:
        events.append(("read", path))
        return repo.read_text(path)

    inputs = PackInputs(records=repo.snapshot.files, read_text=read_text, chunks_for=repo.chunks_for,
                        symbols_for=lambda p: repo.symbols_by_path.get(p, []))
    ranked = rank_for(repo, QUERIES[1], ())
    pack = pack_files(query=QUERIES[1], ranked=ranked, inputs=inputs, budget=128_000,
                      counter=get_counter("o200k_base"), fmt="json", on_file=lambda f: events.append(("file", f.path)))
    files = [e[1] for e in events if e[0] == "file"]
    assert files == [f.path for f in pack.files if f.mode != "map"] and len(files) > 3
    first = events.index(("file", files[0]))
    assert ("read", files[-1]) in events[first:]  # the top file went out while others were still being read


def test_same_input_same_bytes(indexed_samples: dict[str, Path]) -> None:
    repo = _repo(indexed_samples, "shop_api", "o200k_base")
    a = pack_for(repo, QUERIES[0], budget=6000)
    b = pack_for(_repo(indexed_samples, "shop_api", "o200k_base"), QUERIES[0], budget=6000)
    assert a.context == b.context and a.files == b.files


def test_order_follows_score_within_full_files(indexed_samples: dict[str, Path]) -> None:
    pack = pack_for(_repo(indexed_samples, "shop_api", "o200k_base"), QUERIES[1], budget=128_000)
    full = [f for f in pack.files if f.mode == "full"]
    assert [f.score for f in full] == sorted((f.score for f in full), reverse=True)
    assert pack.tokens < 128_000  # the whole sample fits: everything goes in
    assert any(f.mode == "map" for f in pack.files) or len(full) == len(pack.files)


def test_big_top_file_goes_in_as_chunks(shop: Path) -> None:
    big = shop / "shop" / "services" / "ledger.py"
    funcs = "".join(
        f"def ledger_entry_{i}(book, amount):\n    \"\"\"Post entry {i}.\"\"\"\n"
        + "".join(f"    book.lines.append(({i}, {j}, amount * {j}))\n" for j in range(30))
        + "    return book\n\n"
        for i in range(40)
    )
    big.write_text(funcs + "def reconcile_ledger_totals(book):\n    return sum(x[2] for x in book.lines)\n")
    repo = open_repo(shop, load_config(shop))
    pack = pack_for(repo, "reconcile_ledger_totals is off by one", budget=3000)
    top = pack.files[0]
    assert top.path == "shop/services/ledger.py" and top.mode == "chunks"
    assert "def reconcile_ledger_totals" in top.text
    assert top.ranges and all(a <= b for a, b in top.ranges)
    assert pack.tokens <= 3000


def _books(files: list[tuple[str, int, int]]) -> tuple[dict[str, str], PackInputs]:
    """Synthetic files ``books/NAME.py`` of ``n_funcs`` functions with ``body_lines`` lines each, one
    chunk and one definition per function: (texts, PackInputs)."""
    from ctxpack.models import Chunk, FileRecord, Symbol

    counter = get_counter("o200k_base")
    texts, chunks, symbols = {}, {}, {}
    for name, n_funcs, body_lines in files:
        path = f"books/{name}.py"
        funcs = [f"def post_{name}_{i}(book, amount):\n" + "".join(
            f"    book.{name}_lines.append(({i}, {j}, amount * {j}))\n" for j in range(body_lines)) for i in range(n_funcs)]
        texts[path] = "".join(funcs)
        line, cs, ss = 1, [], []
        for i, f in enumerate(funcs):
            n = f.count("\n")
            cs.append(Chunk(f"{name}{i}", path, line, line + n - 1, f, counter.count(f), f"{name}{i}", (f"post_{name}_{i}",)))
            ss.append(Symbol(path, f"post_{name}_{i}", "def", "function", line, line + n - 1, f"def post_{name}_{i}(book, amount)"))
            line += n
        chunks[path], symbols[path] = cs, ss
    records = {p: FileRecord(p, f"{k:040d}", "python", len(t), 0, counter.count(t), t.count("\n"))
               for k, (p, t) in enumerate(texts.items())}
    return texts, PackInputs(records=records, read_text=texts.get,
                             chunks_for=lambda ps: [c for p in ps for c in chunks[p]], symbols_for=lambda p: symbols[p])


def test_best_files_that_do_not_fit_share_the_outline_room() -> None:
    # Four big files, all relevant in every chunk, and a budget that holds none whole: each
    # is shown in part (its best chunks, or its outline), not the first two alone.
    from ctxpack.models import RankedFile

    counter = get_counter("o200k_base")
    texts, inputs = _books([(name, 12, 20) for name in ("ledger", "journal", "register", "account")])
    ranked = [RankedFile(p, 1.0 - k / 10, ("test",)) for k, p in enumerate(texts)]
    assert min(r.tokens for r in inputs.records.values()) > 2000
    pack = pack_files(query="book amount lines ledger journal register account", ranked=ranked, inputs=inputs,
                      budget=2000, counter=counter, fmt="xml")
    modes = {f.path: f.mode for f in pack.files}
    assert all(modes.get(p) in ("chunks", "skeleton") for p in texts), modes
    assert counter.count(pack.context) == pack.tokens <= 2000


def test_one_big_file_leaves_room_for_the_outlines_of_the_next() -> None:
    # The best file is far over the budget; the next ones fit whole only four at a time and
    # leave next to no room: the best file's chunks take a share of the outline room, not
    # all of it, and the files that did not fit whole are seen as skeletons too.
    from ctxpack.models import RankedFile

    counter = get_counter("o200k_base")
    texts, inputs = _books([("ledger", 300, 2)] + [(f"part{i}", 6, 20) for i in range(10)])
    ranked = [RankedFile(p, 1.0 if k == 0 else 0.2 - k / 100, ("test",)) for k, p in enumerate(texts)]
    part = inputs.records["books/part0.py"].tokens
    budget = int((4 * (part + 40) + 120) / 0.92)  # whole files fill all but the 8% outline room
    assert inputs.records["books/ledger.py"].tokens > budget and part > budget * 0.08
    # (region_weight 0: the best file does not compete as its chunks in the whole-file pass)
    pack = pack_files(query="post ledger book amount", ranked=ranked, inputs=inputs, budget=budget,
                      counter=counter, fmt="xml", policy=replace(PackPolicy.default(), map_share=0.0, region_weight=0.0))
    modes = {f.path: f.mode for f in pack.files}
    assert modes["books/ledger.py"] in ("chunks", "skeleton")
    assert sum(m == "full" for m in modes.values()) == 4
    assert len(modes) == len(texts), modes  # every file: 4 whole, the other 6 parts as skeletons
    assert counter.count(pack.context) == pack.tokens <= budget


def test_a_skeleton_too_big_for_its_room_keeps_its_first_definitions() -> None:
    from ctxpack.models import FileRecord, RankedFile
    from ctxpack.pack.skeleton import as_skeleton as _as_skeleton

    counter = get_counter("o200k_base")
    body = "".join(f"{i:>5}: def handler_{i}(request, response)  — Handle case {i}.\n" for i in range(1, 400))
    rec = FileRecord("a/big.py", "0" * 40, "python", len(body), 0, 5000, 4000)
    r = RankedFile("a/big.py", 1.0, ("test",))
    pf = _as_skeleton(r, rec, body, 300, counter, "xml")
    assert pf is not None and pf.mode == "skeleton" and pf.tokens <= 300
    assert pf.text.startswith("    1: def handler_1(") and pf.text.endswith("more definitions)\n")
    whole = _as_skeleton(r, rec, body, 100_000, counter, "xml")
    assert whole is not None and whole.text == body
    assert _as_skeleton(r, rec, body, 20, counter, "xml") is None
    # Definitions naming a query term come first, then the outermost; file order is kept.
    nested = body.replace("  20: def handler_20", "  20:   def handler_20")
    asked = _as_skeleton(r, rec, nested, 300, counter, "xml", {"handler_250"})
    assert asked is not None and asked.tokens <= 300 and "def handler_250(" in asked.text
    kept = [int(ln.split(":")[0]) for ln in asked.text.splitlines()[:-1]]
    assert kept == sorted(kept) and 20 not in kept and kept[0] == 1


def test_skeletons_when_room_is_short(indexed_samples: dict[str, Path]) -> None:
    pack = pack_for(_repo(indexed_samples, "shop_api", "o200k_base"), QUERIES[0], budget=2500)
    modes = {f.mode for f in pack.files}
    assert "skeleton" in modes
    sk = next(f for f in pack.files if f.mode == "skeleton")
    assert "def " in sk.text or "class " in sk.text


def test_tiny_budget_is_a_clear_error(indexed_samples: dict[str, Path]) -> None:
    with pytest.raises(BudgetError, match="below the output frame"):
        pack_for(_repo(indexed_samples, "shop_api", "o200k_base"), "x", budget=1, fmt="xml")


def test_repo_map_is_a_tree_of_what_was_left_out(indexed_samples: dict[str, Path]) -> None:
    pack = pack_for(_repo(indexed_samples, "shop_api", "o200k_base"), QUERIES[0], budget=4000, fmt="xml")
    maps = [f for f in pack.files if f.mode == "map"]
    assert len(maps) == 1
    body = maps[0].text
    assert "shop/\n" in body and "  services/\n" in body
    packed = {f.path.rsplit("/", 1)[-1] for f in pack.files if f.mode != "map"}
    listed = {line.strip().split(":")[0] for line in body.splitlines() if not line.strip().endswith("/")}
    assert not (listed & packed - {"__init__.py"})
    assert "<repo_map>" in pack.context


def test_prepared_counts_are_exact_and_packs_use_them(tmp_path: Path) -> None:
    from ctxpack.pack.blocks import full_body
    from ctxpack.tokens import TokenCounter

    root = tmp_path / "r"
    (root / "pkg").mkdir(parents=True)
    big = "".join(f"def handler_{i}(request):\n    return respond(request, code={i})\n\n\n" for i in range(80))
    (root / "pkg" / "handlers.py").write_text(big)
    (root / "pkg" / "small.py").write_text("X = 1\n")
    repo = open_repo(root, load_config(root, index_dir=str(tmp_path / "idx")))
    prepared = repo.prepare()
    counts = prepared.counts
    fresh = TokenCounter("o200k_base")  # not the shared one: an independent exact count
    skeleton = full_body(repo.skeleton("pkg/handlers.py"))
    chunks = [c.text for c in repo.chunks_for(["pkg/handlers.py"]) if len(c.text) >= 256]
    assert chunks
    # The big file's body, skeleton and chunks; small texts are not worth a memo entry.
    assert counts == {TokenCounter.digest(t): fresh.count(t) for t in [full_body(big), skeleton, *chunks]}
    repo.adopt(prepared)
    p = pack_for(repo, "handler respond", budget=32_000)
    assert p.files[0].path == "pkg/handlers.py" and p.files[0].mode == "full"
    assert p.tokens == fresh.count(p.context)


def _patch(path: str, added: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in added)
    return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,1 +1,{len(added) + 1} @@\n"
            f" first line\n{body}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    app=st.sampled_from(["shop_api", "taskboard_web", "ratelimit_go"]),
    budget=st.one_of(st.integers(1, 400), st.integers(400, 20_000), st.sampled_from([8000, 32000])),
    fmt=st.sampled_from(FORMATS),
    added=st.lists(st.text(max_size=300), max_size=200),
    data=st.data(),
)
def test_budget_holds_with_a_diff(indexed_samples: dict[str, Path], app: str, budget: int, fmt: str,
                                  added: list[str], data: st.DataObject) -> None:
    repo = _repo(indexed_samples, app, "o200k_base")
    path = data.draw(st.sampled_from(sorted(repo.snapshot.files)))
    added = [line.replace("\n", " ").replace("\r", " ") for line in added]
    streamed: list[PackedFile] = []
    try:
        pack = pack_for(repo, QUERIES[0], budget=budget, fmt=fmt, on_file=streamed.append,
                        diff=_patch(path, added) + _patch(".env", ["SECRET=hunter2hunter2hunter2"]))
    except BudgetError:
        assert budget < 20
        return
    assert streamed == [f for f in pack.files if f.mode not in ("map", "diff")]
    assert get_counter("o200k_base").count(pack.context) == pack.tokens <= budget
    diffs = [f for f in pack.files if f.mode == "diff"]
    assert len(diffs) <= 1 and all(f.tokens <= budget // 4 for f in diffs)
    assert "hunter2" not in pack.context  # a file the index leaves out never enters through the diff
    if diffs:
        assert pack.files[0].mode == "diff"
        assert f"+++ b/{path}" in pack.context


def test_no_room_for_a_chunk_block_asks_for_no_chunks() -> None:
    # The chunks of a file not parsed yet cost a parse: with the room too small for any block,
    # none are asked for. A first pack after a big checkout of scipy asked for them with 33
    # tokens of room ~280 times at 32K, parsing each file (4.4 s; 0.9 s without).
    from ctxpack.models import RankedFile
    from ctxpack.pack.chunks import as_chunks

    texts, inputs = _books([("ledger", 12, 2)])
    asked: list[str] = []

    def chunks_for(paths: list[str]) -> list:  # type: ignore[type-arg]
        asked.extend(paths)
        return inputs.chunks_for(paths)

    counted = replace(inputs, chunks_for=chunks_for)
    r, rec = RankedFile("books/ledger.py", 1.0, ("test",)), inputs.records["books/ledger.py"]
    args = ({"post"}, set(), get_counter("o200k_base"), "xml", lambda p, t, n: t, PackPolicy.default())
    assert as_chunks(r, rec, counted, args[0], args[1], 49, *args[2:]) is None and asked == []
    assert as_chunks(r, rec, counted, args[0], args[1], 400, *args[2:]) is not None and asked == ["books/ledger.py"]


def test_a_big_relevant_file_competes_as_its_regions() -> None:
    # The best file is far over the budget, the next ones are small and weak. With regions
    # competing in the whole-file pass, the best file gets its full region room, filled with
    # the function the query names first (then the file's head), before the weak files take the budget.
    from ctxpack.models import RankedFile

    counter = get_counter("o200k_base")
    texts, inputs = _books([("ledger", 300, 2)] + [(f"part{i}", 6, 20) for i in range(10)])
    ranked = [RankedFile(p, 1.0 if k == 0 else 0.2 - k / 100, ("test",)) for k, p in enumerate(texts)]
    part = inputs.records["books/part0.py"].tokens
    budget = int((4 * (part + 40) + 120) / 0.92)
    pol = replace(PackPolicy.default(), map_share=0.0)
    pack = pack_files(query="fix post_ledger_217 for a zero amount", ranked=ranked, inputs=inputs, budget=budget,
                      counter=counter, fmt="xml", policy=pol)
    ledger = next(f for f in pack.files if f.path == "books/ledger.py")
    assert ledger.mode == "chunks"
    assert ledger.tokens > 0.6 * max(int(budget * pol.chunk_share), pol.chunk_room_floor)  # its room, filled
    assert "def post_ledger_217(" in ledger.text and "def post_ledger_0(" in ledger.text  # the match, and the head
    start = next(s.line for s in inputs.symbols_for("books/ledger.py") if s.name == "post_ledger_217")
    assert any(a <= start <= b for a, b in ledger.ranges)
    assert counter.count(pack.context) == pack.tokens <= budget
    # Without the region pass the best file keeps only a share of the outline room.
    old = pack_files(query="fix post_ledger_217 for a zero amount", ranked=ranked, inputs=inputs, budget=budget,
                     counter=counter, fmt="xml", policy=replace(pol, region_weight=0.0))
    assert next(f for f in old.files if f.path == "books/ledger.py").tokens < ledger.tokens


def test_the_region_a_traceback_points_at_goes_in_first() -> None:
    # A bug report's stack frame names a line of a big file: the chunk holding it is shown,
    # though the query's words match other functions better.
    from ctxpack.models import RankedFile
    from ctxpack.rank.query import analyze_query, frame_lines

    counter = get_counter("o200k_base")
    texts, inputs = _books([("ledger", 300, 2)])
    start = next(s.line for s in inputs.symbols_for("books/ledger.py") if s.name == "post_ledger_240")
    query = ("post_ledger_12 fails for a zero amount\nTraceback (most recent call last):\n"
             f'  File "/home/u/venv/lib/python3.12/site-packages/books/ledger.py", line {start + 1}, in wrapper\n'
             "ZeroDivisionError: division by zero\n")
    ranked = [RankedFile("books/ledger.py", 1.0, ("test",))]
    pol = replace(PackPolicy.default(), map_share=0.0)
    frames = analyze_query(query).frames
    assert frame_lines(frames, "books/ledger.py") == (start + 1,) and frame_lines(frames, "ledger.py") == (start + 1,)
    assert frame_lines(frames, "books/other.py") == ()
    with_frames = replace(inputs, frame_lines=lambda p: frame_lines(frames, p))
    pack = pack_files(query=query, ranked=ranked, inputs=with_frames, budget=2000, counter=counter, fmt="xml",
                      policy=pol)
    ledger = next(f for f in pack.files if f.path == "books/ledger.py")
    assert ledger.mode == "chunks" and "def post_ledger_240(" in ledger.text and "def post_ledger_12(" in ledger.text
    assert counter.count(pack.context) == pack.tokens <= 2000
    plain = pack_files(query=query, ranked=ranked, inputs=inputs, budget=2000, counter=counter, fmt="xml", policy=pol)
    assert "def post_ledger_240(" not in next(f for f in plain.files if f.path == "books/ledger.py").text


def test_region_scores_weigh_rare_terms_blend_similarity_and_favour_the_head() -> None:
    from ctxpack.models import Chunk
    from ctxpack.pack.chunks import region_scores

    def chunk(start: int, text: str) -> Chunk:
        return Chunk(f"c{start}", "m.py", start, start + 9, text, 50, f"h{start}", ())

    a = chunk(1, "import os\nvalue = common + common + common\n")
    b = chunk(11, "def f():\n    return rare_name + common\n")
    c = chunk(21, "def g():\n    return 1\n")
    q = {"common", "rare"}
    idf = {"common": 0.1, "rare": 3.0}.get
    plain = region_scores([a, b, c], q, set(), None, 0.0)
    weighted = region_scores([a, b, c], q, set(), None, 0.0, lambda t: idf(t) or 0.0)
    assert plain[0] > plain[1] and weighted[1] > weighted[0]  # idf: one rare hit beats three common ones
    assert weighted[1] == 1.0 and weighted[2] == 0.0
    sims = {1: 0.1, 11: 0.2, 21: 0.9}
    dense = region_scores([a, b, c], q, set(), sims, 1.0, lambda t: idf(t) or 0.0)
    assert dense[2] == 1.0 and dense[0] == 0.0  # all weight on the dense similarity
    half = region_scores([a, b, c], q, set(), sims, 0.5, lambda t: idf(t) or 0.0)
    assert half[1] > half[2] > half[0]
    assert region_scores([a, b, c], q, set(), {1: 0.3}, 0.5) == plain  # one embedded chunk: nothing to compare


def test_chunk_term_memo_is_keyed_by_digest_not_text() -> None:
    from ctxpack.pack import chunks
    from ctxpack.terms import term_counts

    text = "def load_config(path):\n    return parse_config_file(path)\n"
    got = chunks._term_counts(text)
    assert got == (term_counts(text), sum(term_counts(text).values()))
    assert chunks._term_counts(text) is got  # memoized
    assert all(isinstance(k, bytes) and len(k) == 16 for k in chunks._memo)  # the texts are not kept alive
