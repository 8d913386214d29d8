"""Resuming a training run: the schedule a resumed run follows (train.schedule)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train import schedule, write_checkpoint  # noqa: E402

torch = pytest.importorskip("torch")


def optimizer(lr: float = 6e-5, head_lr: float = 1e-3):
    body, head = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    return body, head, torch.optim.AdamW([{"params": body.parameters(), "lr": lr},
                                          {"params": head.parameters(), "lr": head_lr}])


def args(steps: int, warmup: float = 0.05, kind: str = "linear") -> argparse.Namespace:
    return argparse.Namespace(steps=steps, warmup=warmup, schedule=kind)


def train(body, head, opt, sched, n: int) -> list[float]:
    """``n`` real optimizer steps; the rates each step ran with (body, head, body, head, ...)."""
    used = []
    for _ in range(n):
        used.extend(g["lr"] for g in opt.param_groups)
        (body(torch.ones(1, 3)) + head(torch.ones(1, 3))).sum().backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    return used


def checkpoint(tmp_path: Path, steps: int, done: int) -> Path:
    body, head, opt = optimizer()
    sched, _ = schedule(opt, args(steps), None)
    train(body, head, opt, sched, done)
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": done}
    write_checkpoint(tmp_path, lambda p: p.mkdir(parents=True), state)
    return tmp_path / "checkpoint"


def test_the_same_command_resumes_the_schedule_where_it_stopped(tmp_path: Path) -> None:
    body, head, opt = optimizer()
    sched, _ = schedule(opt, args(100), None)
    straight = train(body, head, opt, sched, 40)

    ckpt = checkpoint(tmp_path, 100, 25)
    body, head, opt = optimizer()
    sched, step = schedule(opt, args(100), ckpt)
    assert step == 25
    assert train(body, head, opt, sched, 15) == pytest.approx(straight[50:])


def test_raising_steps_runs_the_longer_schedule_from_the_first_resumed_step(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path, 100, 90)  # near the end of a 100-step decay: rate ~1/9 of the peak
    body, head, opt = optimizer()
    sched, step = schedule(opt, args(400), ckpt)
    warm = int(400 * 0.05)
    expect = [lr * (400 - s) / (400 - warm) for s in range(90, 93) for lr in (6e-5, 1e-3)]
    assert train(body, head, opt, sched, 3) == pytest.approx(expect)
    assert sched.get_last_lr() == pytest.approx([lr * (400 - 93) / (400 - warm) for lr in (6e-5, 1e-3)])


def test_a_resumed_run_takes_the_learning_rates_it_is_given(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path, 100, 50)
    body, head, opt = optimizer(lr=1e-4, head_lr=2e-3)
    sched, _ = schedule(opt, args(100, kind="constant"), ckpt)
    assert train(body, head, opt, sched, 2) == pytest.approx([1e-4, 2e-3] * 2)
    assert opt.state_dict()["state"]  # the optimizer's moments came back with the checkpoint
