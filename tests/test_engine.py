"""Engines (issue 7): a real local Ray, bound to 127.0.0.1, gives the same index as the local engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import copy_sample

from ctxpack.cli import main
from ctxpack.embed.backends import HashEmbedder
from ctxpack.embed.vectors import VectorStore
from ctxpack.engines.local import LocalEngine, make_engine
from ctxpack.engines.run import index_targets
from ctxpack.errors import ConfigError, MissingDependency
from ctxpack.index.catalog import select, targets_for
from ctxpack.pipeline import pack_many
from ctxpack.render import render
from ctxpack.store.tables import IndexStore

REPOS = ("shop_api", "taskboard_web")
QUERY = "add a discount code to checkout and show it on the task board"


@pytest.fixture(scope="session")
def ray_local() -> Any:
    """One private Ray for the session: 2 CPUs, loopback only, no dashboard."""
    from ctxpack.engines.ray import local_init_args, loopback_only

    loopback_only()
    pytest.importorskip("ray")
    import ray

    ray.init(**local_init_args(2))
    yield ray
    ray.shutdown()


def _repos(base: Path) -> list[Path]:
    return [copy_sample(n, base) for n in REPOS]


def _rows(index_dir: Path, name: str) -> dict[str, list[dict[str, Any]]]:
    store = IndexStore(index_dir / "repos" / name)
    tables = store._tables(store.manifest())
    out = {}
    for t in ("files", "symbols", "chunks"):
        rows = tables[t].to_arrow().to_pylist()
        out[t] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def _vectors(index_dir: Path) -> dict[str, np.ndarray]:
    vs = VectorStore(index_dir / "vectors")
    (model,) = vs.state()
    dm = vs.load(model)
    assert dm is not None
    return {h: dm.matrix[i] for h, i in dm.index.items()}


def _pack_json(index_dir: Path, embedder: Any) -> str:
    from ctxpack.pipeline import open_repo

    repos = {t.name: open_repo(t.root, t.cfg, refresh=False, embedder=embedder)
             for t in select(index_dir, ["all"], format="json", budget=8000)}
    return render(pack_many(repos, QUERY))


def _assert_same(a: Path, b: Path, embedder: Any, atol: float) -> None:
    for name in REPOS:
        ra, rb = _rows(a, name), _rows(b, name)
        assert len(ra["chunks"]) > 10 and len(ra["symbols"]) > 10
        assert ra == rb, f"{name}: tables differ between engines"
    va, vb = _vectors(a), _vectors(b)
    assert va.keys() == vb.keys() and len(va) > 20
    for h in va:
        assert np.allclose(va[h], vb[h], atol=atol), h
    pa, pb = _pack_json(a, embedder), _pack_json(b, embedder)
    doc = json.loads(pa)
    assert {f["path"].split("/")[0] for f in doc["files"]} == set(REPOS)  # both repositories packed, prefixed
    assert doc["tokens"] <= doc["budget"]
    assert pa == pb


def test_ray_matches_local_and_is_incremental(tmp_path: Path, ray_local: Any) -> None:
    roots = _repos(tmp_path)
    emb = HashEmbedder()
    local = index_targets(targets_for(tmp_path / "idx-local", roots), LocalEngine(), embedder=emb)
    engine = make_engine("ray", workers=2)
    run = index_targets(targets_for(tmp_path / "idx-ray", roots), engine, embedder=emb)
    n_files = sum(st.files for st in local.repos.values())
    assert run.engine == "ray" and run.files_sent == n_files == local.files_sent
    assert run.embeddings is not None and run.embeddings.embedded == local.embeddings.embedded > 0
    _assert_same(tmp_path / "idx-local", tmp_path / "idx-ray", emb, atol=0)

    # Incremental: one edited file is the only one sent out; the results match again.
    f = roots[0] / "shop" / "services" / "checkout.py"
    f.write_text(f.read_text() + "\n\ndef apply_discount_code(total, code):\n    return total\n")
    again = index_targets(targets_for(tmp_path / "idx-ray", roots), engine, embedder=emb)
    assert again.files_sent == 1
    assert again.repos["shop_api"].parsed == 1 and again.repos["taskboard_web"].parsed == 0
    assert 1 <= again.embeddings.embedded < 5 and again.embeddings.cached > 20
    local2 = index_targets(targets_for(tmp_path / "idx-local", roots), LocalEngine(), embedder=emb)
    assert local2.files_sent == 1
    _assert_same(tmp_path / "idx-local", tmp_path / "idx-ray", emb, atol=0)

    # Nothing changed: nothing is sent out and nothing embedded.
    idle = index_targets(targets_for(tmp_path / "idx-ray", roots), engine, embedder=emb)
    assert idle.files_sent == 0 and idle.embeddings.embedded == 0


@pytest.mark.slow
def test_ray_real_model_vectors_match_local(tmp_path: Path, ray_local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    roots = _repos(tmp_path)
    local = index_targets(targets_for(tmp_path / "idx-local", roots, embed=True), LocalEngine())
    run = index_targets(targets_for(tmp_path / "idx-ray", roots, embed=True), make_engine("ray", workers=2))
    assert local.embeddings.model.endswith("#onnx-qint8") and run.embeddings.model == local.embeddings.model
    assert run.embeddings.embedded == local.embeddings.embedded > 20
    monkeypatch.setenv("CTXPACK_EMBED", "1")  # the dense lane in pack
    _assert_same(tmp_path / "idx-local", tmp_path / "idx-ray", None, atol=1e-5)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += children.get(p, [])
    return out


def test_ray_listens_on_loopback_only(ray_local: Any) -> None:
    if shutil.which("ss") is None or not Path("/proc").is_dir():
        pytest.skip("needs ss and /proc")
    ours = _descendants(os.getpid())
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    mine = [ln for ln in listening if ours & {int(p) for p in re.findall(r"pid=(\d+)", ln)}]
    assert len(mine) >= 2, listening  # GCS, raylet, object manager ... are ours
    for ln in mine:
        local = ln.split()[3]
        assert local.startswith(("127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:")), ln


def test_missing_ray_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(MissingDependency, match=r"^ray is not installed\. Install: pip install 'ctxpack\[ray\]'$"):
        make_engine("ray")
    repo = copy_sample("shop_api", tmp_path)
    res = CliRunner().invoke(main, ["index", "--engine", "ray", str(repo)])
    assert res.exit_code == MissingDependency.exit_code
    assert res.stderr == "Error: ray is not installed. Install: pip install 'ctxpack[ray]'\n"
    assert res.stdout == ""
    assert not (repo / ".ctxpack").exists()


def test_cli_multi_repo_index_and_pack(tmp_path: Path) -> None:
    roots = _repos(tmp_path)
    listing = tmp_path / "repos.txt"
    listing.write_text("# two sample apps\n" + "\n".join(r.name for r in roots) + "\n")
    idx = tmp_path / "idx"
    r = CliRunner().invoke(main, ["index", "--index-dir", str(idx), "--repos", str(listing), "--format", "json", "-q"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["engine"] == "local" and set(doc["repos"]) == set(REPOS)
    assert doc["files_sent"] == sum(s["files"] for s in doc["repos"].values())
    cat = json.loads((idx / "catalog.json").read_text())
    assert {n: v["root"] for n, v in cat["repos"].items()} == {r.name: str(r) for r in roots}
    r = CliRunner().invoke(main, ["pack", "--index-dir", str(idx), "shop_api", "--query", QUERY, "--format", "json",
                                  "--budget", "4000", "-q"])
    assert r.exit_code == 0, r.stderr
    paths = [f["path"] for f in json.loads(r.stdout)["files"]]
    assert paths and all(p.startswith("shop_api/") for p in paths)


@pytest.mark.parametrize(("args", "message"), [
    (["pack", "--index-dir", "{idx}", "nope", "--query", "x"], "Error: unknown repository: 'nope'"),
    (["index", "--index-dir", "{idx}", "--repos", "{tmp}/missing.txt"], "Error: cannot read repository list: "),
    (["index", "{tmp}/shop_api", "{tmp}/taskboard_web"], "Error: several repositories need --index-dir DIR"),
    (["index", "--workers", "2", "{tmp}/shop_api"], "Error: --address and --workers need --engine ray"),
    (["index"], "Error: no repository given. Pass REPO... or --repos FILE"),
    (["index", "--engine", "ray", "--address", "127.0.0.1:1", "{tmp}/shop_api"],
     "Error: cannot reach the Ray cluster at '127.0.0.1:1': Connection refused."),
    (["index", "--engine", "ray", "--address", "nowhere", "{tmp}/shop_api"], "Error: bad Ray address: 'nowhere'."),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    if "ray" in args:
        pytest.importorskip("ray")
    _repos(tmp_path)
    idx = tmp_path / "idx"
    targets_for(idx, [tmp_path / n for n in REPOS])  # a catalog to name repositories from
    argv = [a.format(idx=idx, tmp=tmp_path) for a in args]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code == ConfigError.exit_code, r.stderr
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1
    assert r.stdout == ""


def test_cli_joins_a_running_cluster_with_address(tmp_path: Path, ray_local: Any) -> None:
    """A second driver (the CLI in its own process) joins the session's Ray with --address."""
    roots = _repos(tmp_path)
    addr = ray_local.get_runtime_context().gcs_address
    assert addr.startswith("127.0.0.1:")
    cmd = [sys.executable, "-m", "ctxpack", "index", "--engine", "ray", "--address", addr, "--no-embed",
           "--index-dir", str(tmp_path / "idx-ray"), "--format", "json", *map(str, roots)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "CTXPACK_EMBED": "0"})
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["engine"] == "ray" and doc["embeddings"] is None
    local = index_targets(targets_for(tmp_path / "idx-local", roots, embed=False), LocalEngine())
    assert doc["files_sent"] == local.files_sent == sum(s["files"] for s in doc["repos"].values())
    for name in REPOS:
        assert _rows(tmp_path / "idx-local", name) == _rows(tmp_path / "idx-ray", name)
    assert ray_local.is_initialized()  # the CLI left the cluster it joined running
