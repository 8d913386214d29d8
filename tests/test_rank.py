"""Each ranking signal, on the sample repositories (real index)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxpack import load_config, open_repo, rank_for
from ctxpack.pipeline import Repo
from ctxpack.rank.paths import is_test_path
from ctxpack.rank.query import analyze_query
from ctxpack.terms import split_identifier, term_counts, terms


@pytest.fixture(scope="module")
def shop_repo(indexed_samples: dict[str, Path]) -> Repo:
    return open_repo(indexed_samples["shop_api"], load_config(indexed_samples["shop_api"]))


def _top(repo: Repo, query: str, n: int = 3, **kw: object) -> list[str]:
    return [r.path for r in rank_for(repo, query, **kw)[:n]]  # type: ignore[arg-type]


def _reasons(repo: Repo, query: str, path: str) -> str:
    return " | ".join(next(r for r in rank_for(repo, query) if r.path == path).reasons)


def test_code_aware_terms() -> None:
    assert split_identifier("getHTTPResponseCode") == ["get", "http", "response", "code"]
    assert split_identifier("charge_with_retry") == ["charge", "with", "retry"]
    assert "charge_with_retry" in terms("charge_with_retry(x)") and "retry" in terms("charge_with_retry(x)")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aAbBzZ_09 .\n(")) | st.characters(), max_size=200))
def test_term_counts_are_the_terms_counted_in_first_use_order(text: str) -> None:
    # (the history's message index and the provisional terms rely on the order as well as the counts)
    assert list(term_counts(text).items()) == list(Counter(terms(text)).items())


def test_query_analysis() -> None:
    q = analyze_query('Fix `Cart.total` in shop/models/cart.py: KeyError "insufficient stock"\n'
                      '  File "shop/services/checkout.py", line 42, in checkout')
    assert "Cart" in q.code_identifiers and "total" in q.identifiers
    assert "shop/models/cart.py" in q.paths
    assert ("shop/services/checkout.py", 42) in q.frames
    assert "insufficient stock" in q.quoted


def test_identifier_named_in_query(shop_repo: Repo) -> None:
    assert _top(shop_repo, "charge_with_retry should cap the sleep", 1) == ["shop/services/payment.py"]
    assert "defines `charge_with_retry` named in the query" in _reasons(
        shop_repo, "charge_with_retry should cap the sleep", "shop/services/payment.py")


def test_path_named_in_query(shop_repo: Repo) -> None:
    q = "change the defaults in shop/config.py"
    assert _top(shop_repo, q, 1) == ["shop/config.py"]
    assert "path `shop/config.py` named in the query" in _reasons(shop_repo, q, "shop/config.py")


def test_file_stem_named(shop_repo: Repo) -> None:
    q = "inventory should refuse negative quantities"
    assert "shop/services/inventory.py" in _top(shop_repo, q, 2)
    assert "file name matches `inventory`" in _reasons(shop_repo, q, "shop/services/inventory.py")


def test_stack_trace_frames(shop_repo: Repo) -> None:
    q = ('Traceback (most recent call last):\n  File "/srv/app/shop/routes/cart_routes.py", line 30, in add\n'
         "ValueError: boom")
    assert _top(shop_repo, q, 1) == ["shop/routes/cart_routes.py"]
    assert "stack frame" in _reasons(shop_repo, q, "shop/routes/cart_routes.py")


def test_graph_expansion_brings_neighbours(shop_repo: Repo) -> None:
    q = "charge_with_retry should cap the sleep"
    ranked = rank_for(shop_repo, q)
    graph_files = [r for r in ranked if any(r.reasons[i].startswith(("used by", "uses")) for i in range(len(r.reasons)))]
    assert graph_files, "some file must be explained by the symbol graph"
    # the checkout service calls charge_with_retry: it must rank above unrelated routes
    pos = {r.path: i for i, r in enumerate(ranked)}
    assert pos["shop/services/checkout.py"] < pos["shop/routes/product_routes.py"]
    no_graph = dataclasses.replace(shop_repo.cfg.weights, graph=0.0)
    plain = rank_for(dataclasses.replace(shop_repo, cfg=dataclasses.replace(shop_repo.cfg, weights=no_graph)), q)
    assert all(not any(x.startswith(("used by", "uses")) for x in r.reasons) for r in plain)


def test_tests_are_context_unless_asked(shop_repo: Repo) -> None:
    assert is_test_path("tests/test_checkout.py") and is_test_path("src/a.test.ts") and is_test_path("x/y_test.go")
    assert not is_test_path("shop/services/checkout.py")
    ranked = [r.path for r in rank_for(shop_repo, "checkout cancels the order")]
    assert ranked.index("shop/services/checkout.py") < ranked.index("tests/test_checkout.py")
    asked = [r.path for r in rank_for(shop_repo, "add a test for checkout cancelling the order")]
    assert asked.index("tests/test_checkout.py") < ranked.index("tests/test_checkout.py")


def test_focus_files_are_favoured(shop_repo: Repo) -> None:
    q = "rename the helper"
    assert _top(shop_repo, q, 1, focus=("shop/db.py",)) == ["shop/db.py"]


def test_every_file_ranked_once_with_reasons_and_stable_order(shop_repo: Repo) -> None:
    a = rank_for(shop_repo, "order total")
    b = rank_for(shop_repo, "order total")
    assert a == b
    assert len({r.path for r in a}) == len(a) == len(shop_repo.snapshot.files)
    assert all(r.reasons for r in a)
    keys = [(-r.score, r.path) for r in a]
    assert keys == sorted(keys)


def test_cross_language_samples(indexed_samples: dict[str, Path]) -> None:
    go = open_repo(indexed_samples["ratelimit_go"], load_config(indexed_samples["ratelimit_go"]))
    assert _top(go, "token bucket refill is too slow", 1) == ["internal/limiter/token_bucket.go"]
    ts = open_repo(indexed_samples["taskboard_web"], load_config(indexed_samples["taskboard_web"]))
    top = _top(ts, "highlight overdue tasks on the TaskCard", 3)
    assert "src/components/TaskCard.tsx" in top


def test_fitted_coefficients_match_the_named_model_inputs() -> None:
    """Issue 16: the model's inputs are named; the fitted vectors have one coefficient per name,
    each named input lands in its own column, and rank() fills every column exactly once."""
    from ctxpack.config import RankWeights
    from ctxpack.rank.model import (
        BASE_INPUTS,
        HISTORY_INPUT_NAMES,
        INPUT_INDEX,
        MODEL_INPUTS,
        model_inputs,
        named_coefficients,
    )
    from ctxpack.rank.score import QUERY_ARRAY_INPUTS, QUERY_FEATURE_INPUTS
    from ctxpack.rank.static import STATIC_COLUMNS, STATIC_INPUTS

    w = RankWeights()
    assert len(w.coef) == len(BASE_INPUTS) and len(w.history_coef) == len(MODEL_INPUTS)
    assert MODEL_INPUTS == BASE_INPUTS + HISTORY_INPUT_NAMES and len(set(MODEL_INPUTS)) == len(MODEL_INPUTS)
    assert list(named_coefficients(w, history=False)) == list(BASE_INPUTS)
    assert named_coefficients(w, history=True)["recent"] == w.history_coef[INPUT_INDEX["recent"]]
    assert named_coefficients(w, history=False)["bm25"] == w.coef[0]
    # Each feature-backed input is read from its own name, into its own column.
    traits = {"log_prior", "log_tokens", "plain_text", "depth"}
    base = model_inputs({}, 100, "python", "a/b.py")
    for name in MODEL_INPUTS:
        if name in traits:
            continue
        x = model_inputs({name: 0.37}, 100, "python", "a/b.py")
        assert [k for k, (a, b) in enumerate(zip(x, base, strict=True)) if a != b] == [INPUT_INDEX[name]], name
    assert model_inputs({}, 100, "text", "a/b/c.md")[INPUT_INDEX["plain_text"]] == 1.0
    assert model_inputs({}, 100, "text", "a/b/c.md")[INPUT_INDEX["depth"]] == 2 / 5
    # The query-free columns and the two kinds of query columns cover every input once.
    groups = [STATIC_INPUTS, QUERY_ARRAY_INPUTS, QUERY_FEATURE_INPUTS]
    assert sorted(n for g in groups for n in g) == sorted(MODEL_INPUTS)
    assert STATIC_COLUMNS == tuple(INPUT_INDEX[n] for n in STATIC_INPUTS)
