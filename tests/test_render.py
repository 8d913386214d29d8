"""Rendering a hand-made Pack in every format, against small goldens (issue 16).

The packs of the sample repositories are checked as a ranking golden (tests/test_cli.py);
how a pack looks in each format is checked here, on a pack small enough to read.
"""

from __future__ import annotations

import json

import pytest
from helpers import check_golden

from ctxpack.models import Pack, PackedFile, Redaction, Skipped
from ctxpack.render import context_parts, pack_to_dict, render, render_context, summary_line
from ctxpack.tokens import get_counter

FILES = (
    PackedFile("shop/checkout.py", "full", "def checkout(cart):\n    return cart.total()\n", 20, 0.91,
               ("defines `checkout` named in the query",), ((1, 2),), "python"),
    PackedFile("shop/cart.py", "chunks", "class Cart:\n⋮ (lines 2-9 omitted)\n    def total(self):\n", 25, 0.5,
               ("used by shop/checkout.py (`Cart`)",), ((1, 1), (10, 10)), "python"),
    PackedFile("web/app.ts", "skeleton", "    3: export function route(path: string)\n", 18, 0.2,
               ("matches route",), (), "typescript"),
    PackedFile("", "map", "docs/\n  guide.md\nsetup.py: main\n", 12, 0.0, ("repository map",), ()),
)


def _pack(fmt: str) -> Pack:
    counter = get_counter("o200k_base")
    pack = Pack("add a discount code to checkout", 500, "o200k_base", FILES, (Skipped("logo.png", "binary"),),
                format=fmt, lanes={"lexical": True, "dense": "3/4 chunks", "history": False},
                omitted=(Skipped("shop/db.py", "did not fit: 900 tokens, score 0.100"),),
                redactions=(Redaction("shop/cart.py", 4, "Secret Keyword"),))
    context = render_context(pack)
    return Pack(pack.query, pack.budget, pack.encoding, pack.files, pack.skipped, counter.count(context), context,
                fmt, pack.lanes, pack.omitted, pack.redactions)


@pytest.mark.parametrize("fmt", ["xml", "markdown", "plain", "json"])
def test_render_golden(fmt: str) -> None:
    out = render(_pack(fmt))
    check_golden(f"render/pack.{fmt}", out)
    assert render(_pack(fmt)) == out  # same input, same bytes


def test_json_document_shape() -> None:
    doc = json.loads(render(_pack("json")))
    assert list(doc) == ["schema", "query", "budget", "tokens", "encoding", "lanes", "files", "repo_map_tokens", "diff_tokens",
                         "omitted", "redacted", "skipped", "context"]
    assert [f["path"] for f in doc["files"]] == ["shop/checkout.py", "shop/cart.py", "web/app.ts"]  # no map entry
    assert doc["repo_map_tokens"] == 12 and doc == pack_to_dict(_pack("json"))
    assert doc["context"].startswith("<context>")  # json carries the xml context


def test_blocks_join_into_the_context_and_the_summary_says_what_is_in() -> None:
    pack = _pack("markdown")
    assert "".join(context_parts(pack)) == pack.context
    line = summary_line(pack)
    assert "1 full, 1 chunked, 1 skeletons, repo map" in line and "1 secret redacted" in line
    assert "dense lane 3/4 chunks embedded" in line
