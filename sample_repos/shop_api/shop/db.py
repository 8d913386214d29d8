"""A minimal in-memory database.

Tables are plain dicts keyed by primary key. :meth:`Database.transaction`
snapshots every table and restores it if the block raises, which is enough
to give checkout all-or-nothing semantics in tests and demos.
"""

from __future__ import annotations

import copy
import itertools
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional

TABLES = ("products", "carts", "orders", "customers")


class Database:
    """Dict-of-dicts storage with coarse locking and snapshot transactions."""

    def __init__(self) -> None:
        self._tables: Dict[str, Dict[str, Any]] = {name: {} for name in TABLES}
        self._lock = threading.RLock()
        self._order_seq = itertools.count(1001)

    def table(self, name: str) -> Dict[str, Any]:
        if name not in self._tables:
            raise KeyError(f"unknown table {name!r}")
        return self._tables[name]

    def get(self, table: str, key: str) -> Optional[Any]:
        return self.table(table).get(key)

    def put(self, table: str, key: str, value: Any) -> None:
        with self._lock:
            self.table(table)[key] = value

    def delete(self, table: str, key: str) -> None:
        with self._lock:
            self.table(table).pop(key, None)

    def all(self, table: str) -> List[Any]:
        return list(self.table(table).values())

    def next_order_id(self) -> str:
        return f"ORD-{next(self._order_seq)}"

    @contextmanager
    def transaction(self) -> Iterator["Database"]:
        """Run a block atomically: on any exception every table is rolled back."""
        with self._lock:
            snapshot = copy.deepcopy(self._tables)
            try:
                yield self
            except BaseException:
                self._tables = snapshot
                raise


_db: Optional[Database] = None


def get_db() -> Database:
    """Return the process-wide database, creating it on first use."""
    global _db
    if _db is None:
        _db = Database()
    return _db


def reset_db() -> Database:
    """Drop all data and return a fresh database (used by tests)."""
    global _db
    _db = Database()
    return _db
