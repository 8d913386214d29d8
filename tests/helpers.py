"""Helpers shared by the tests (import as ``from helpers import wait_for``)."""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def wait_for(cond: Callable[[], object], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> bool:
    """Poll ``cond`` until it is true or ``timeout`` seconds pass: readiness by observation, not by sleeping.

    Returns:
        True when ``cond`` became true; False on timeout, unless ``what`` is given, then the
        timeout fails the test with ``what`` in the message.
    """
    end = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= end:
            if what:
                raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
            return False
        time.sleep(interval)


GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` with ``tests/golden/<name>`` and fail with a unified diff;
    ``CTXPACK_UPDATE_GOLDEN=1`` rewrites the file instead (review golden diffs like code)."""
    path = GOLDEN / name
    if os.environ.get("CTXPACK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "golden", "actual", n=2))
        pytest.fail(f"output differs from {path.name} (CTXPACK_UPDATE_GOLDEN=1 rewrites):\n{diff[:4000]}")
