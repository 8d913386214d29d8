"""The cross-encoder: its training groups, its input encoding, and its ONNX scorer against torch."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ce_onnx import PairEncoder  # noqa: E402
from train import base_model_dir, read_list  # noqa: E402
from train_ce import Commit, Region, groups, load_commits, make_group  # noqa: E402


def region(path: str, start: int, end: int, text: str | None = None) -> dict:
    default = f"def f_{path.replace('/', '_')}_{start}():\n    return {start}\n"
    return {"path": path, "start": start, "end": end, "text": text or default}


def record(i: int, repo: str) -> dict:
    pos = [region("pkg/core.py", 10, 20, f"def parse_header_{repo}_{i}(raw):\n    return raw.split(':')\n")]
    file_negs = [region("pkg/core.py", s, s + 9) for s in (1, 30, 40, 50, 60, 70)]
    file_negs.append(region("pkg/core.py", 15, 18, "def inner():\n    pass\n"))  # overlaps the positive
    file_negs.append(region("pkg/core.py", 80, 90, pos[0]["text"]))  # same text as the positive
    file_negs += [region("pkg/other.py", s, s + 5) for s in (1, 10)]  # another touched file
    return {"query": f"Fix header parsing {i} in {repo}", "positives": pos, "file_negs": file_negs,
            "bm25_negs": [region(f"pkg/m{k}.py", 1, 9) for k in range(4)],
            "rand_negs": [region(f"pkg/r{k}.py", 1, 9) for k in range(30)]}


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    d = tmp_path / "pairs"
    d.mkdir()
    for repo in ("acme/train-a", "acme/train-b", "acme/heldout", "acme/excluded"):
        stem = repo.replace("/", "+")
        (d / f"{stem}.jsonl").write_text("".join(json.dumps(record(i, repo)) + "\n" for i in range(6)))
        (d / f"{stem}.stats.json").write_text("{}")
    (d / "acme+unfinished.jsonl").write_text(json.dumps(record(0, "acme/unfinished")) + "\n")  # no stats: mining
    (tmp_path / "holdout.txt").write_text("# held out\nacme/heldout\n")
    (tmp_path / "exclude.txt").write_text("Acme/Excluded  # case does not matter\n")
    return d


def test_loader_never_reads_holdout_or_excluded_repositories(pairs: Path) -> None:
    leave_out = read_list(str(pairs.parent / "holdout.txt")) | read_list(str(pairs.parent / "exclude.txt"))
    commits, used = load_commits(str(pairs), leave_out)
    assert used == ["acme/train-a", "acme/train-b"]
    assert {c.repo for c in commits} == {"acme/train-a", "acme/train-b"}
    assert len(commits) == 12
    gen = groups(commits, per_step=4, seed=1, negatives=7)
    queries = [g.query for _ in range(6) for g in next(gen)]
    assert not [q for q in queries if "heldout" in q or "excluded" in q or "unfinished" in q]


def test_groups_never_hold_a_positive_among_the_negatives(pairs: Path) -> None:
    commits, _ = load_commits(str(pairs), set())
    rng = random.Random(3)
    for c in commits:
        for _ in range(20):
            g = make_group(c, rng, negatives=7, same_file=5, other_file=2)
            assert g is not None and len(g.texts) == 8 and len(set(g.texts)) == 8
            assert g.texts[0] == c.positives[0].text
            positives = {p.text for p in c.positives}
            assert not positives & set(g.texts[1:])
            assert "def inner():\n    pass\n" not in g.texts  # its lines overlap the positive's


def test_groups_prefer_same_file_negatives_then_other_files(pairs: Path) -> None:
    commits, _ = load_commits(str(pairs), set())
    g = make_group(commits[0], random.Random(0), negatives=7, same_file=5, other_file=2)
    same = {r.text for r in commits[0].file_negs if r.path == "pkg/core.py"}
    bm25 = {r.text for r in commits[0].bm25_negs}
    assert all(t in same for t in g.texts[1:6])
    assert all(t in bm25 for t in g.texts[6:8])


def test_a_group_fills_from_random_chunks_and_drops_a_commit_it_cannot_fill() -> None:
    pos = Region("a.py", 1, 5, "def a(): pass")
    few = Commit("x/y", "q", (pos,), (), (), (Region("b.py", 1, 2, "def b(): pass"),))
    assert make_group(few, random.Random(0), negatives=1, same_file=5, other_file=2).texts == ("def a(): pass",
                                                                                                 "def b(): pass")
    assert make_group(few, random.Random(0), negatives=3, same_file=5, other_file=2) is None


def test_group_order_depends_only_on_the_seed(pairs: Path) -> None:
    commits, _ = load_commits(str(pairs), set())
    first = [next(groups(commits, 4, seed=7)) for _ in range(2)]
    assert first[0] == first[1]
    assert next(groups(commits, 4, seed=8)) != first[0]


def test_pair_encoding_cuts_the_query_first_and_marks_the_region() -> None:
    enc = PairEncoder(base_model_dir(), max_length=64, query_max_length=10)
    long_query = " ".join(f"word{i}" for i in range(50))
    region_text = "def handler(request):\n    return request.headers['x']\n" * 20
    e = enc.encode([long_query, "short query"], [region_text, "x = 1"])
    assert e.input_ids.shape == (2, 64)
    row, types, mask = e.input_ids[0], e.token_type_ids[0], e.attention_mask[0]
    assert row[0] == enc.cls and mask.sum() == 64
    q_len = int((types == 0).sum()) - 2  # [CLS] and the first [SEP]
    assert q_len == 10 and row[q_len + 1] == enc.sep and row[63] == enc.sep
    # the short pair is padded, its region follows its query
    n = int(e.attention_mask[1].sum())
    assert n < 64 and (e.input_ids[1, n:] == enc.pad).all() and e.token_type_ids[1, n - 1] == 1


@pytest.mark.slow
def test_trained_and_exported_cross_encoder_scores_like_torch(pairs: Path, tmp_path: Path) -> None:
    """Two real training steps (resumed after one), the ONNX export, and the scorer against torch."""
    from ce_onnx import OnnxCrossEncoder, export, torch_scores
    from train_ce import main

    out = tmp_path / "run"
    common = ["--pairs", str(pairs), "--out", str(out), "--holdout", str(pairs.parent / "holdout.txt"),
              "--exclude", str(pairs.parent / "exclude.txt"), "--groups", "2", "--negatives", "3",
              "--max-length", "64", "--save-every", "1", "--warmup", "0"]
    assert main([*common, "--steps", "1"]) == 0
    assert main([*common, "--steps", "2"]) == 0
    log = [json.loads(line) for line in (out / "train-log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    assert json.loads((out / "run.json").read_text())["repos"] == ["acme/train-a", "acme/train-b"]
    model_dir = out / "final"
    assert json.loads((model_dir / "ce.json").read_text()) == {"max_length": 64, "query_max_length": 96}

    paths = export(model_dir)
    assert paths["int8"].stat().st_size < paths["fp32"].stat().st_size / 2
    query = "retry the request when the connection resets"
    texts = ["def retry(request, attempts=3):\n    for _ in range(attempts):\n        try:\n"
             "            return send(request)\n        except ConnectionResetError:\n            continue\n",
             "class Config:\n    timeout = 5\n", "def render(template, ctx):\n    return template.format(**ctx)\n",
             "import os\nimport sys\n", "def parse_header(raw):\n    return raw.split(':')\n"]
    ref = np.array(torch_scores(model_dir, query, texts))
    fp32 = np.array(OnnxCrossEncoder(model_dir, "fp32", batch=2).score(query, texts))
    int8 = np.array(OnnxCrossEncoder(model_dir, "int8").score(query, texts))
    assert np.allclose(fp32, ref, atol=1e-4)
    assert list(np.argsort(-fp32)) == list(np.argsort(-ref))
    assert np.corrcoef(int8, ref)[0, 1] > 0.9
