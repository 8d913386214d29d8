"""The miner on a real git repository made here: hunks, regions, filters, negatives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluate import rank_metrics  # noqa: E402
from gitmine import (GitRepo, bug_style, clean_message, is_test_path, keep_commit,  # noqa: E402
                     parse_hunks)
from mine import mine_repo  # noqa: E402
from regions import Bm25, chunk_blob  # noqa: E402
from train import Example, batches  # noqa: E402

from ctxpack.config import Config  # noqa: E402
from ctxpack.models import SourceFile  # noqa: E402
from ctxpack.index.process import process_file  # noqa: E402

CART = '''"""Shopping cart."""


def add_item(cart, sku, qty):
    """Add ``qty`` of ``sku`` to the cart."""
    cart.setdefault(sku, 0)
    cart[sku] += qty
    return cart


def total(cart, prices):
    """Sum of price times quantity."""
    return sum(prices[s] * q for s, q in cart.items())


class Checkout:
    def __init__(self, cart):
        self.cart = cart

    def pay(self, card):
        return {"paid": True, "card": card}
'''

MAIL = '''def send_mail(to, subject, body):
    """Send an email through the SMTP relay."""
    return {"to": to, "subject": subject, "body": body}


def render_template(name, **kw):
    return name.format(**kw)
'''


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev",
           "GIT_COMMITTER_EMAIL": "dev@example.com", "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "shop"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "shop").mkdir()
    (r / "shop" / "cart.py").write_text(CART)
    (r / "shop" / "mail.py").write_text(MAIL)
    (r / "tests").mkdir()
    (r / "tests" / "test_cart.py").write_text("def test_total():\n    assert True\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "Initial shop with cart and mail")
    text = CART.replace("return sum(prices[s] * q for s, q in cart.items())",
                        "if not cart:\n        return 0\n    return sum(prices[s] * q for s, q in cart.items())")
    (r / "shop" / "cart.py").write_text(text)
    git(r, "commit", "-q", "-am", "Fix total of an empty cart\n\ntotal() raised KeyError for an empty cart.\n\n"
                                  "Signed-off-by: Dev <dev@example.com>")
    (r / "shop" / "mail.py").write_text(MAIL.replace("SMTP relay", "SMTP relay (with retries)"))
    git(r, "commit", "-q", "-am", "Bump version to 1.2.3")
    return r


def test_hunks_are_parent_side_lines_and_insertions_their_anchor() -> None:
    diff = ("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -3,2 +3,3 @@ def f\n-a\n-b\n+c\n"
            "@@ -10,0 +12 @@\n+new\n@@ -20 +22 @@\n-x\n+y\n"
            "diff --git a/new.py b/new.py\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+z\n")
    assert parse_hunks(diff) == {"x.py": [(3, 4), (10, 10), (20, 20)]}


def test_messages_are_cleaned_and_filtered() -> None:
    msg = "Fix the retry loop on timeouts\n\nIt spun forever.\n\nSigned-off-by: A <a@b.c>\nCo-authored-by: B <b@c.d>\n"
    assert clean_message(msg) == "Fix the retry loop on timeouts\n\nIt spun forever."
    repo_commit = type("C", (), {"author": "Dev", "email": "dev@x.org"})
    bot = type("C", (), {"author": "dependabot[bot]", "email": "x@users.noreply.github.com"})
    assert keep_commit(repo_commit, "Fix the retry loop on timeouts") is None
    assert keep_commit(bot, "Fix the retry loop on timeouts") == "bot"
    for subject in ("Merge branch 'x'", "Bump version to 2.0", "v1.2.3", "Fix typo", "Run black", "wip"):
        assert keep_commit(repo_commit, subject) is not None, subject


def test_bug_style_flags() -> None:
    tb = 'Crash on empty input\n\nTraceback (most recent call last):\n  File "a.py", line 3, in f\nKeyError: 1'
    assert set(bug_style(tb)) >= {"traceback", "error"}
    assert "expected_actual" in bug_style("parse() returns None instead of an empty list")
    assert "code" in bug_style("Handle this:\n\n```py\nf(x)\n```")
    assert bug_style("Add a --json flag to the list command") == ()


def test_test_paths() -> None:
    assert is_test_path("tests/test_cart.py") and is_test_path("src/cart.test.ts") and is_test_path("pkg/x_test.go")
    assert not is_test_path("shop/cart.py") and not is_test_path("src/contest.py")


def test_regions_are_ctxpack_chunks() -> None:
    cfg = Config(chunk_tokens=40, max_chunk_tokens=80)
    regions = chunk_blob("shop/cart.py", CART.encode(), cfg)
    src = SourceFile("shop/cart.py", "python", len(CART), 0, "x", CART)
    chunks = [c for c, _ in process_file(src, cfg).chunks]
    assert [(r.start, r.end, r.text) for r in regions] == [(c.start_line, c.end_line, c.text) for c in chunks]
    assert len(regions) > 1
    assert chunk_blob("x.py", b"\0\1binary", cfg) == []


def test_bm25_ranks_the_matching_region_first() -> None:
    bm = Bm25(["send mail smtp relay", "add item cart sku", "total cart price"])
    assert int(np.argmax(bm.scores(["smtp", "mail"]))) == 0
    assert bm.scores(["unknown"]).tolist() == [0.0, 0.0, 0.0]


def test_mine_repo_end_to_end(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.jsonl"
    stats = mine_repo("local/shop", str(repo / ".git"), out, cap=10, seed=1)
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert stats["pairs"] == 1 and stats["dropped"].get("subject") == 1  # the version bump is dropped
    row = rows[0]
    assert row["query"] == "Fix total of an empty cart\n\ntotal() raised KeyError for an empty cart."
    assert "error" in row["bug_style"]
    assert all(r["path"] == "shop/cart.py" for r in row["positives"])
    assert any("def total" in r["text"] for r in row["positives"])
    assert not any("def total" in r["text"] for r in row["file_negs"])
    negs = row["bm25_negs"] + row["rand_negs"]
    assert negs and all(r["path"] == "shop/mail.py" for r in negs)  # other files, never tests
    git_repo = GitRepo(str(repo / ".git"))
    assert git_repo.blob(f"{row['parent']}:shop/cart.py") == CART.encode()
    git_repo.close()


def test_batches_never_repeat_a_text() -> None:
    exs = [Example(f"q{i % 5}", (f"p{i % 3}",), (f"n{i}",), (), ()) for i in range(40)]
    batch = next(batches(exs, 3, seed=0))
    texts = [t for row in batch for t in row]
    assert len(batch) == 3 and len(texts) == len(set(texts))


def test_rank_metrics_counts_ties_against_positives() -> None:
    m = rank_metrics(np.array([0.9, 0.1, 0.9, 0.5]), n_pos=2)
    assert m["mrr"] == 0.5 and m["r@1"] == 0.0 and m["r@5"] == 1.0


def test_zscore_fusion_is_scale_free() -> None:
    from evaluate import zscore

    a = zscore(np.array([1.0, 2.0, 3.0]))
    assert np.allclose(a, zscore(np.array([10.0, 20.0, 30.0]))) and abs(a.mean()) < 1e-9
