"""The dense lane: embedding cache, lanes, model switches, hybrid ranking.

Cache and lane logic run with ``HashEmbedder`` (deterministic, instant); the tests marked
``slow`` run the real bundled model (ONNX int8 and torch) end to end.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ctxpack import build_index, embed_index, load_config, open_repo, pack_for
from ctxpack.cli import main
from ctxpack.embed.backends import HashEmbedder
from ctxpack.errors import ConfigError
from ctxpack.pipeline import dense_scores, rank_for, search_chunks, vector_store_for
from ctxpack.render import pack_to_dict
from ctxpack.store.tables import IndexStore
from ctxpack.terms import terms

SEMANTIC_QUERY = "correspondence delivered electronically to buyers"  # no word of it occurs in shop_api


def _hashes(repo: Path) -> set[str]:
    snap = IndexStore(repo / ".ctxpack").load()
    return {sp.content_hash for spans in snap.chunks.values() for sp in spans}


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    a = HashEmbedder(32).embed(["retry the payment", "send an email", ""])
    b = HashEmbedder(32).embed(["retry the payment", "send an email", ""])
    assert a.shape == (3, 32) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a[:2], axis=1), 1.0)


def test_cache_embeds_each_content_once(shop: Path) -> None:
    cfg = load_config(shop, embed=True)
    build_index(shop, cfg)
    emb = HashEmbedder()
    first = embed_index(shop, cfg, embedder=emb)
    assert first.embedded == first.chunks == len(_hashes(shop)) > 0 and first.cached == 0 and first.complete

    again = embed_index(shop, cfg, embedder=emb)  # unchanged repository: nothing re-embedded
    assert (again.embedded, again.cached) == (0, first.chunks)

    before = _hashes(shop)
    pay = shop / "shop/services/payment.py"
    pay.write_text(pay.read_text() + "\n\ndef refund_all(gateway):\n    return [gateway.refund(r) for r in list(gateway.charges)]\n")
    build_index(shop, cfg)
    new = _hashes(shop) - before
    assert new
    edited = embed_index(shop, cfg, embedder=emb)  # exactly the changed chunks
    assert edited.embedded == len(new) and edited.cached == edited.chunks - len(new)

    (shop / "shop/services/payment.py").rename(shop / "shop/services/payments.py")  # a rename keeps every vector
    (shop / "shop/errors.py").unlink()  # a deleted file needs nothing
    build_index(shop, cfg)
    assert embed_index(shop, cfg, embedder=emb).embedded == 0


def test_model_switch_keeps_vectors_apart(shop: Path) -> None:
    cfg = load_config(shop, embed=True)
    build_index(shop, cfg)
    embed_index(shop, cfg, embedder=HashEmbedder(64))
    other = HashEmbedder(32)
    repo = open_repo(shop, cfg, embedder=other)
    total = len(_hashes(shop))
    assert repo.lanes() == {"lexical": True, "dense": f"0/{total} chunks", "history": False}  # never the 64-d vectors
    assert dense_scores(repo, "payment retry") is None
    embed_index(shop, cfg, embedder=other)
    repo = open_repo(shop, cfg, embedder=other)
    assert repo.lanes()["dense"] is True
    state = vector_store_for(repo.store, cfg).state()
    assert {m: e["dim"] for m, e in state.items()} == {"hash-64": 64, "hash-32": 32}
    with pytest.raises(ConfigError, match="does not match"):
        repo.embedder = HashEmbedder(64)
        dense_scores(repo, "payment retry")


def test_partial_lane_is_used_and_reported(shop: Path) -> None:
    cfg = load_config(shop, embed=True, embed_batch=8)
    build_index(shop, cfg)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 2  # two batches, then stop

    st = embed_index(shop, cfg, embedder=HashEmbedder(), should_stop=stop)
    assert st.embedded == 16 and not st.complete
    repo = open_repo(shop, cfg, embedder=HashEmbedder())
    p = pack_for(repo, "payment retry", budget=4000, fmt="json")
    assert p.lanes == {"lexical": True, "dense": f"16/{st.chunks} chunks", "history": False}
    assert pack_to_dict(p)["lanes"]["dense"] == f"16/{st.chunks} chunks"
    waited = pack_for(repo, "payment retry", budget=4000, fmt="json", wait_embeddings=True)
    assert waited.lanes["dense"] is True


def test_failed_embedding_run_keeps_index_and_cache(shop: Path) -> None:
    cfg = load_config(shop, embed=True, embed_batch=8)
    build_index(shop, cfg)

    class Broken(HashEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        embed_index(shop, cfg, embedder=Broken())
    repo = open_repo(shop, cfg, embedder=HashEmbedder())
    assert repo.lanes()["dense"] == f"0/{len(_hashes(shop))} chunks"
    assert pack_for(repo, "payment retry", budget=3000).files  # the lexical lane is untouched
    assert embed_index(shop, cfg, embedder=HashEmbedder()).complete


def test_dense_evidence_enters_ranking_with_a_reason(shop: Path) -> None:
    cfg = load_config(shop, embed=True)
    build_index(shop, cfg)
    embed_index(shop, cfg, embedder=HashEmbedder())
    repo = open_repo(shop, cfg, embedder=HashEmbedder())
    ranked = rank_for(repo, "charge_with_retry attempts backoff")
    top = {r.path: r for r in ranked[:5]}
    assert "shop/services/payment.py" in top
    feats = dict(top["shop/services/payment.py"].features)
    assert feats.get("dense_top", 0) > 0
    assert any(x.startswith("similar to the query: `") for x in top["shop/services/payment.py"].reasons)


def test_search_fuses_lexical_and_dense_hits(shop: Path) -> None:
    lexical = search_chunks(shop, load_config(shop, embed=False), "charge_with_retry", k=5)
    assert "charge_with_retry" in {c.symbols[0] for c, _ in lexical[:3] if c.symbols} and lexical[0][1] > 1.0  # BM25
    cfg = load_config(shop, embed=True)
    embed_index(shop, cfg, embedder=HashEmbedder())
    hybrid = search_chunks(shop, cfg, "charge_with_retry", k=5, embedder=HashEmbedder())
    assert "charge_with_retry" in {c.symbols[0] for c, _ in hybrid if c.symbols}
    assert search_chunks(shop, load_config(shop, embed=False), "zqxjv", k=5) == []  # no full-text hit ...
    assert len(search_chunks(shop, cfg, "zqxjv", k=5, embedder=HashEmbedder())) == 5  # ... the dense lane has some
    assert all(0 < score < 0.05 for _, score in hybrid)  # reciprocal-rank fusion scores
    assert len({(c.path, c.start_line) for c, _ in hybrid}) == len(hybrid) == 5
    assert all(c.text for c, _ in hybrid)


def test_no_embed_and_unembedded_packs_never_load_a_model(shop: Path) -> None:
    build_index(shop, load_config(shop, embed=False))
    code = (
        "import sys, json\n"
        "from ctxpack import load_config, open_repo, pack_for\n"
        f"repo = open_repo({str(shop)!r}, load_config({str(shop)!r}, embed=True))\n"
        "p = pack_for(repo, 'payment retry', budget=3000)\n"
        "print(json.dumps([p.lanes['dense'], [m for m in ('onnxruntime', 'torch', 'sentence_transformers') if m in sys.modules]]))\n"
    )
    env = {**os.environ, "CTXPACK_EMBED": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lane, loaded = json.loads(out.stdout)
    assert lane.startswith("0/") and loaded == []


# ---- the real bundled model ------------------------------------------------------------


@pytest.mark.slow
def test_real_model_finds_file_with_no_lexical_overlap(shop: Path) -> None:
    cfg = load_config(shop, embed=True)
    build_index(shop, cfg)
    root_level = logging.getLogger().level
    st = embed_index(shop, cfg)
    assert st.model == "all-MiniLM-L6-v2#onnx-qint8" and st.complete
    assert logging.getLogger().level == root_level  # the quiet ONNX export leaves logging as it found it
    repo = open_repo(shop, cfg)
    vocab = {t for ts, _ in repo.snapshot.file_terms.values() for t in ts}
    assert not set(terms(SEMANTIC_QUERY)) & vocab  # truly no lexical overlap
    lexical = [r.path for r in rank_for(repo, SEMANTIC_QUERY, dense=False)[:3]]
    hybrid = rank_for(repo, SEMANTIC_QUERY)
    assert "shop/services/notifications.py" not in lexical
    assert hybrid[0].path == "shop/services/notifications.py"
    assert any("similar to the query: `EmailMessage`" in r for r in hybrid[0].reasons)


@pytest.mark.slow
def test_real_model_cli_index_then_pack_reports_lanes(shop: Path) -> None:
    runner = CliRunner()
    env = {"CTXPACK_EMBED": "1"}
    r = runner.invoke(main, ["index", str(shop), "--format", "json"], env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["embeddings"]["embedded"] == doc["embeddings"]["chunks"] > 0
    assert "Embedded" in r.stderr
    r = runner.invoke(main, ["index", str(shop), "--format", "json"], env=env, catch_exceptions=False)
    assert json.loads(r.stdout)["embeddings"]["embedded"] == 0  # all cached
    r = runner.invoke(main, ["pack", str(shop), "--query", SEMANTIC_QUERY, "--budget", "3000", "--format", "json"],
                      env=env, catch_exceptions=False)
    out = json.loads(r.stdout)
    assert out["lanes"] == {"lexical": True, "dense": True, "history": False}
    assert out["files"][0]["path"] == "shop/services/notifications.py"
    r = runner.invoke(main, ["pack", str(shop), "--query", SEMANTIC_QUERY, "--budget", "3000", "--format", "json",
                             "--no-embed"], env=env, catch_exceptions=False)
    assert json.loads(r.stdout)["lanes"]["dense"] is False


@pytest.mark.slow
def test_onnx_and_torch_backends_agree() -> None:
    from ctxpack.embed.backends import load_embedder

    texts = [p.read_text()[:2000] for p in sorted(Path(__file__).parent.parent.joinpath("ctxpack").glob("*.py"))][:12]
    texts.append(SEMANTIC_QUERY)
    a = load_embedder(backend="onnx").embed(texts)
    b = load_embedder(backend="torch").embed(texts)
    cos = (a * b).sum(1)
    assert cos.min() > 0.97 and cos.mean() > 0.99


def test_the_quiet_export_keeps_stdout_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The ONNX export silences stdout process-wide while a served process's other threads run:
    it must stay a file (``None`` crashed `serve`: uvicorn's logging setup calls sys.stdout.isatty())."""
    from ctxpack.embed import backends as embed

    seen: dict[str, bool] = {}

    def fake_export(_model_dir: Path, _out: Path) -> None:
        seen["isatty"] = sys.stdout.isatty()
        print("export chatter")

    monkeypatch.setattr(embed, "_export_onnx", fake_export)
    embed._quiet_export(tmp_path, tmp_path / "model.onnx")
    assert seen == {"isatty": False}


@pytest.mark.slow
def test_real_model_picks_the_region_of_a_big_file_with_no_lexical_overlap(tmp_path: Path) -> None:
    # A big module of unrelated helpers; the query shares no word with any of them. With the
    # dense lane blended into region ranking, the chunk the model finds similar is shown.
    from dataclasses import replace

    helpers = {
        "parse_iso_date": "    year, month, day = text.split('-')\n    return int(year), int(month), int(day)\n",
        "compute_vat": "    rate = 0.2 if country == 'FR' else 0.19\n    return round(amount * rate, 2)\n",
        "send_receipt_email": "    msg = EmailMessage()\n    msg['To'] = customer.address\n    msg['Subject'] = 'Your receipt'\n"
                              "    smtp.send_message(msg)\n",
        "resize_thumbnail": "    width, height = image.size\n    return image.resize((width // 4, height // 4))\n",
        "merge_sorted_lists": "    out = []\n    while left and right:\n        out.append(left.pop(0) if left[0] < right[0]"
                              " else right.pop(0))\n    return out + left + right\n",
    }
    body = ""
    for name, code in helpers.items():  # each helper padded to its own chunk
        pad = "".join(f"    # step {i}: {name.replace('_', ' ')} bookkeeping\n" for i in range(60))
        body += f"def {name}(*args):\n{pad}{code}\n\n"
    (tmp_path / "util.py").write_text(body)
    (tmp_path / "main.py").write_text("from util import *\n")
    cfg = replace(load_config(tmp_path, embed=True), region_dense=1.0, region_weight=1.0)
    build_index(tmp_path, cfg)
    embed_index(tmp_path, cfg)
    repo = open_repo(tmp_path, cfg)
    assert len(repo.chunks_for(["util.py"])) >= 5
    query = "correspondence delivered electronically to buyers"
    util = next(f for f in pack_for(repo, query, budget=1500, fmt="json").files if f.path == "util.py")
    assert util.mode == "chunks" and "def send_receipt_email(" in util.text
    assert "def merge_sorted_lists(" not in util.text
