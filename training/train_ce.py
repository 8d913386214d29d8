"""Train a cross-encoder region reranker: one relevance logit for ``[CLS] query [SEP] region [SEP]``.

Usage (see training/README.md):
    python training/train_ce.py --pairs /work/data/model/pairs --out /work/data/model/ce/run \
        --holdout training/holdout.txt --exclude /work/data/devsets/EXCLUDE.txt \
        --exclude training/devbench.txt --steps 300 --groups 8 --negatives 7 --bf16 --max-minutes 45

Starts from the bundled all-MiniLM-L6-v2 weights (``train.base_model_dir()``) with the head
of ``ce_model.CrossEncoder`` (the joint encoding's query/region cosine, scaled, plus a linear
term on [CLS]; it starts as the sentence model's similarity). Each step holds
``--groups`` commits, each as one group of 1 positive region and ``--negatives`` negatives;
the loss is a softmax over the group's logits with the positive as the target (listwise).
Negatives come first from untouched chunks of the positive's own file (the region case),
then a few chunks of other files BM25 ranks high for the message, then other touched
files' chunks, then random chunks of the repository. Inputs: ``ce_onnx.PairEncoder``
(query cut at 96 tokens, 256 in all), the encoding the ONNX scorer uses.

Resumable: OUT/checkpoint (model, optimizer, schedule, step) every ``--save-every`` steps;
the same command continues it with the groups it would have seen (the order depends only
on ``--seed``). The final model (with its tokenizer files and ``ce.json``) is OUT/final.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ce_onnx import SETTINGS, PairEncoder  # noqa: E402
from train import (  # noqa: E402
    base_model_dir,
    end_run,
    freeze,
    record_step,
    run_options,
    schedule,
    start_run,
    write_checkpoint,
)

log = logging.getLogger("train_ce")

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@dataclass(frozen=True, slots=True)
class Region:
    path: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Commit:
    """One mined commit: the message, its touched regions and its negative pools."""

    repo: str
    query: str
    positives: tuple[Region, ...]
    file_negs: tuple[Region, ...]
    bm25_negs: tuple[Region, ...]
    rand_negs: tuple[Region, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """A training group: the positive is ``texts[0]``."""

    query: str
    texts: tuple[str, ...]


def _regions(rows: list[dict], limit: int | None = None) -> tuple[Region, ...]:
    return tuple(Region(r["path"], r["start"], r["end"], r["text"]) for r in rows[:limit])


def load_commits(pairs_dir: str, leave_out: set[str]) -> tuple[list[Commit], list[str]]:
    """Every mined commit of the repositories not in ``leave_out`` (lower-case OWNER/NAME)."""
    commits: list[Commit] = []
    used = []
    for f in sorted(Path(pairs_dir).glob("*.jsonl")):
        repo = f.stem.replace("+", "/", 1)
        if repo.lower() in leave_out or not f.with_suffix(".stats.json").exists():
            continue
        used.append(repo)
        with f.open() as fh:
            for line in fh:
                d = json.loads(line)
                commits.append(Commit(repo, d["query"], _regions(d["positives"]), _regions(d["file_negs"]),
                                      _regions(d["bm25_negs"]), _regions(d["rand_negs"], 20)))
    return commits, used


def _overlaps(r: Region, positives: tuple[Region, ...]) -> bool:
    return any(p.path == r.path and r.start <= p.end and p.start <= r.end for p in positives)


def make_group(c: Commit, rng: random.Random, negatives: int, same_file: int, other_file: int) -> Group | None:
    """1 positive + ``negatives`` distinct negatives, none of them a touched region or its text."""
    pos = rng.choice(c.positives)
    banned = {p.text for p in c.positives}

    def pool(rows: tuple[Region, ...]) -> list[Region]:
        rows = [r for r in rows if r.text not in banned and not _overlaps(r, c.positives)]
        rng.shuffle(rows)
        return rows

    same = pool(tuple(r for r in c.file_negs if r.path == pos.path))
    touched = pool(tuple(r for r in c.file_negs if r.path != pos.path))
    bm25, rand = pool(c.bm25_negs), pool(c.rand_negs)
    order = same[:same_file] + bm25[:other_file] + same[same_file:] + touched + bm25[other_file:] + rand
    texts: list[str] = [pos.text]
    seen = {pos.text}
    for r in order:
        if len(texts) > negatives:
            break
        if r.text not in seen:
            seen.add(r.text)
            texts.append(r.text)
    return Group(c.query, tuple(texts)) if len(texts) == negatives + 1 else None


def groups(commits: list[Commit], per_step: int, seed: int, negatives: int = 7, same_file: int = 5,
           other_file: int = 2) -> Iterator[list[Group]]:
    """Endless steps of ``per_step`` groups; the order depends only on ``seed``."""
    rng = random.Random(seed)
    epoch = 0
    while True:
        order = list(range(len(commits)))
        rng.shuffle(order)
        cur: list[Group] = []
        for i in order:
            g = make_group(commits[i], rng, negatives, same_file, other_file)
            if g is None:
                continue
            cur.append(g)
            if len(cur) == per_step:
                yield cur
                cur = []
        epoch += 1
        log.info("epoch %d done", epoch)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    run_options(ap)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--groups", type=int, default=8, help="groups (commits) per step")
    ap.add_argument("--negatives", type=int, default=7, help="negatives per group")
    ap.add_argument("--same-file", type=int, default=5, help="negatives taken first from the positive's file")
    ap.add_argument("--other-file", type=int, default=2, help="then BM25 negatives of other files")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the head (scale, [CLS] term)")
    ap.add_argument("--warmup", type=float, default=0.06)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--query-max-length", type=int, default=96)
    ap.add_argument("--freeze-layers", type=int, default=0, help="fix the word embeddings and the first N layers")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    import torch
    from ce_model import load
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    leave_out, out, ckpt = start_run(args)
    commits, used = load_commits(args.pairs, leave_out)
    log.info("%d commits from %d repositories", len(commits), len(used))
    base = args.base or base_model_dir()

    resume = (ckpt / "state.pt").exists()
    model = load(ckpt / "model" if resume else base)
    freeze(model.bert, args.freeze_layers)
    head = [p for n, p in model.named_parameters() if not n.startswith("bert.") and p.requires_grad]
    body = [p for n, p in model.named_parameters() if n.startswith("bert.") and p.requires_grad]
    log.info("training %d of %d parameters", sum(p.numel() for p in head + body),
             sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": head, "lr": args.head_lr}],
                            weight_decay=0.01)
    sched, step = schedule(opt, args, ckpt if resume else None)
    (out / "run.json").write_text(json.dumps({**vars(args), "base": base, "commits": len(commits), "repos": used},
                                             indent=1))
    encoder = PairEncoder(base, args.max_length, args.query_max_length)
    data = groups(commits, args.groups, args.seed, args.negatives, args.same_file, args.other_file)
    for _ in range(step):  # replay the data order up to the checkpoint
        next(data)

    def save_model(path: Path) -> None:
        model.save(path)
        for name in TOKENIZER_FILES:
            if (Path(base) / name).exists():
                shutil.copy(Path(base) / name, path / name)
        (path / SETTINGS).write_text(json.dumps({"max_length": args.max_length,
                                                 "query_max_length": args.query_max_length}))

    def save_checkpoint() -> None:
        state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step}
        write_checkpoint(out, save_model, state)

    model.train()
    t0 = time.time()
    start_step = step
    losses: list[float] = []
    hits: list[float] = []
    log_path = out / "train-log.jsonl"
    while step < args.steps and not (args.max_minutes and time.time() - t0 > args.max_minutes * 60):
        batch = next(data)
        size = args.negatives + 1
        enc = encoder.encode([g.query for g in batch for _ in g.texts], [t for g in batch for t in g.texts])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(torch.from_numpy(enc.input_ids), torch.from_numpy(enc.attention_mask),
                           torch.from_numpy(enc.token_type_ids))
        logits = logits.float().view(len(batch), size)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(float(loss.detach()))
        hits.append(float((logits.detach().argmax(1) == 0).float().mean()))
        rate = (time.time() - t0) / (step - start_step)
        record_step(log_path, {"step": step, "loss": round(losses[-1], 4),
                               "loss10": round(sum(losses[-10:]) / len(losses[-10:]), 4),
                               "top1_10": round(sum(hits[-10:]) / len(hits[-10:]), 3), "lr": sched.get_last_lr()[0],
                               "s_per_step": round(rate, 2), "eta_min": round(rate * (args.steps - step) / 60, 1)})
        if step % args.save_every == 0 and step < args.steps:
            save_checkpoint()
    return end_run(out, save_model, save_checkpoint, step, t0)


if __name__ == "__main__":
    sys.exit(main())
