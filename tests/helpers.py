"""Helpers shared by the tests (import as ``from helpers import wait_for``)."""

from __future__ import annotations

import time
from collections.abc import Callable


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
