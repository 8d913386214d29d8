"""The snapshot cache (``snapshot.pkl``): the columns ranking and packing read, at one manifest's state.

A cold ``pack`` process reads it instead of importing LanceDB (which alone costs seconds).
It is keyed by the manifest (schema, database, table versions, settings and journal) and
is only a cache: a missing, stale or damaged one falls back to the tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

from .manifest import SCHEMA_VERSION, Manifest

__all__ = ["CACHE", "read_cached_columns", "write_cached_columns"]

log = logging.getLogger(__name__)

CACHE = "snapshot.pkl"
_CACHE_FORMAT = 4  # 2: repeated strings shared; 3: the key pickled first; 4: repeated numbers shared


def _cache_key(man: Manifest) -> str:
    return json.dumps([SCHEMA_VERSION, _CACHE_FORMAT, man.db, man.versions, man.encoding, man.settings,
                       man.pending], sort_keys=True)


def read_cached_columns(index_dir: Path, man: Manifest, *,
                        key_only: bool = False) -> dict[str, dict[str, list[Any]]] | None:
    """The cached columns when the cache matches ``man`` (``{}`` with ``key_only``), else None.

    The cache file holds two pickles, the key first, so a stale cache is told apart
    without reading the columns."""
    if not (index_dir / man.db).is_dir():
        return None  # the database it mirrors is gone: let the loader report it
    try:
        with open(index_dir / CACHE, "rb") as fh:
            if pickle.load(fh) != _cache_key(man):
                return None
            if key_only:
                return {}
            cols = pickle.load(fh)
        return cols if isinstance(cols, dict) else None
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged cache is only a cache: fall back to LanceDB
        log.warning("index cache unreadable (%s); reading the database", type(exc).__name__)
        return None


def write_cached_columns(index_dir: Path, man: Manifest, cols: dict[str, dict[str, list[Any]]]) -> None:
    """Replace the cache with ``cols`` at ``man``'s state (atomically; a failure only logs)."""
    tmp = index_dir / f"{CACHE}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(_cache_key(man), fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(cols, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, index_dir / CACHE)
    except OSError as exc:
        log.debug("index cache not written: %s", exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
