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

__all__ = ["CACHE", "RANK_CACHE", "cache_key", "read_cached_columns", "read_keyed", "write_cached_columns",
           "write_keyed"]

log = logging.getLogger(__name__)

CACHE = "snapshot.pkl"
RANK_CACHE = "rank.pkl"  # the ranking index built from it (``rank.index.rank_state``): its key plus the code's
_CACHE_FORMAT = 4  # 2: repeated strings shared; 3: the key pickled first; 4: repeated numbers shared


def cache_key(man: Manifest) -> str:
    """What a cache of ``man``'s state is keyed by: the schema, database, table versions, settings and journal."""
    return json.dumps([SCHEMA_VERSION, _CACHE_FORMAT, man.db, man.versions, man.encoding, man.settings,
                       man.pending], sort_keys=True)


def read_keyed(path: Path, key: str) -> Any:
    """The value a ``write_keyed`` file holds when written under ``key``, else None (missing,
    stale or damaged: it is only a cache, a damaged one is logged)."""
    try:
        with open(path, "rb") as fh:
            if pickle.load(fh) != key:
                return None
            return pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged cache is only a cache
        log.warning("cache %s unreadable (%s); rebuilding it", path.name, type(exc).__name__)
        return None


def write_keyed(path: Path, key: str, value: Any) -> None:
    """Replace the cache file ``path`` with ``value`` under ``key`` (atomically; a failure only logs).

    Two pickles, the key first, so a stale cache is told apart without reading the value."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(key, fh, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cache %s not written: %s", path.name, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_cached_columns(index_dir: Path, man: Manifest, *,
                        key_only: bool = False) -> dict[str, dict[str, list[Any]]] | None:
    """The cached columns when the cache matches ``man`` (``{}`` with ``key_only``), else None.

    The cache file holds two pickles, the key first, so a stale cache is told apart
    without reading the columns."""
    if not (index_dir / man.db).is_dir():
        return None  # the database it mirrors is gone: let the loader report it
    if key_only:
        try:
            with open(index_dir / CACHE, "rb") as fh:
                return {} if pickle.load(fh) == cache_key(man) else None
        except Exception:  # noqa: BLE001 - missing or damaged: not current
            return None
    cols = read_keyed(index_dir / CACHE, cache_key(man))
    return cols if isinstance(cols, dict) else None


def write_cached_columns(index_dir: Path, man: Manifest, cols: dict[str, dict[str, list[Any]]]) -> None:
    """Replace the cache with ``cols`` at ``man``'s state (atomically; a failure only logs)."""
    write_keyed(index_dir / CACHE, cache_key(man), cols)
