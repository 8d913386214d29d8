"""Path kinds the priors look at: test files and fixtures, examples and docs."""

from __future__ import annotations

import re

__all__ = ["is_aux_path", "is_test_path"]

_TEST_RE = re.compile(r"(^|/)(tests?|spec|specs|__tests__|testing|testdata|fixtures?)/|(^|/)test_[^/]*$|_test\.[a-z]+$|\.(test|spec)\.[a-z]+$|(^|/)[^/]*Tests?\.[a-z]+$|(^|/)conftest\.py$")


_AUX_RE = re.compile(r"(^|/)(examples?|samples?|demos?|benches|benchmarks?|tutorials?)/")


def is_test_path(path: str) -> bool:
    """True for test files and fixtures (by path convention)."""
    return bool(_TEST_RE.search(path))


def is_aux_path(path: str) -> bool:
    """True for examples, benchmarks and documentation folders."""
    return bool(_AUX_RE.search(path))
