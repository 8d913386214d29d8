from __future__ import annotations

import ctxpack


def test_all_sorted_and_resolvable() -> None:
    names = [n for n in ctxpack.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in ctxpack.__all__:
        assert getattr(ctxpack, name) is not None


def test_every_public_class_exported() -> None:
    from ctxpack import errors, models

    for mod in (errors, models):
        for name in mod.__all__:
            assert name in ctxpack.__all__ or name in {"Discovery", "FileRecord", "FileRow", "ParsedFile", "ProcessedFile",
                                                       "Progress", "Uses"}
