"""The embedding cache: one vector per (model id, chunk content hash), in LanceDB.

Chunks are content-addressed, so a chunk that survives a re-index, a rename or a branch
switch keeps its vector and is never embedded twice. Each model has its own table (its
own dimension), so vectors of two models never mix. Layout of a vectors directory
(``<index dir>/vectors`` unless ``vectors_dir`` points several indexes at one cache)::

    state.json        {model id: {"table", "dim", "version", "rows"}}, replaced atomically
    embed.lock        flock'd by the one process embedding into this cache
    db/               LanceDB database: table ``v_<hash of model id>`` (content_hash, vector)
    v_<...>.npz       derived: every (hash, vector) at the state's version, read without lancedb

Appends are atomic (Lance commits), ``state.json`` names the version readers use, and a
writer killed mid-run loses at most the batch in flight: the next run embeds only what
is still missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexCorrupt, IndexLocked
from ..store.lock import exclusive_lock

__all__ = ["DenseMatrix", "VectorStore"]

log = logging.getLogger(__name__)

_COMPACT_EVERY = 16  # appends between compactions


@dataclass(frozen=True, slots=True)
class DenseMatrix:
    """Every cached vector of one model: row ``index[hash]`` of ``matrix``."""

    model_id: str
    version: int
    index: dict[str, int]
    matrix: np.ndarray  # (n, dim) float32, rows L2-normalised


def _table_name(model_id: str) -> str:
    return "v_" + hashlib.sha1(model_id.encode()).hexdigest()[:16]


class VectorStore:
    """Reads and appends one vectors directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self._state_path = self.dir / "state.json"

    def state(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.warning("embedding cache state unreadable: %s; it will be rebuilt", self._state_path)
            return {}

    def load(self, model_id: str) -> DenseMatrix | None:
        """The model's vectors at the published version (None when there are none)."""
        entry = self.state().get(model_id)
        if not entry or not entry.get("rows"):
            return None
        cache = self.dir / f"{entry['table']}.npz"
        try:
            with np.load(cache, allow_pickle=False) as z:
                if int(z["version"]) == int(entry["version"]) and str(z["model"]) == model_id:
                    hashes = z["hashes"].tolist()
                    return DenseMatrix(model_id, int(entry["version"]), {h: i for i, h in enumerate(hashes)},
                                       z["matrix"])
        except FileNotFoundError:
            pass
        except Exception as exc:  # a damaged cache file is only a cache
            log.debug("vector cache %s unreadable (%s): reading the table", cache, exc)
        try:
            tbl = self._db().open_table(entry["table"])
            tbl.checkout(int(entry["version"]))
            at = tbl.to_arrow()
        except Exception as exc:
            log.warning("embedding cache unreadable (%s): the dense lane is off until `ctxpack index` re-embeds",
                        type(exc).__name__)
            return None
        hashes = at.column("content_hash").to_pylist()
        flat = at.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        matrix = np.asarray(flat, dtype=np.float32).reshape(len(hashes), int(entry["dim"]))
        dm = DenseMatrix(model_id, int(entry["version"]), {h: i for i, h in enumerate(hashes)}, matrix)
        self._write_npz(dm, entry["table"])
        return dm

    def _write_npz(self, dm: DenseMatrix, table: str) -> None:
        tmp = self.dir / f"{table}.{os.getpid()}.tmp.npz"
        try:
            np.savez(tmp, version=np.int64(dm.version), model=np.str_(dm.model_id),
                     hashes=np.array(list(dm.index), dtype=str), matrix=dm.matrix)
            os.replace(tmp, self.dir / f"{table}.npz")
        except OSError as exc:
            log.debug("vector cache not written: %s", exc)
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _db(self) -> Any:
        from ..store.columns import lancedb_module

        return lancedb_module().connect(str(self.dir / "db"))

    @contextlib.contextmanager
    def lock(self, wait_s: float = 600.0) -> Iterator[None]:
        """Hold the embedding lock (one embedding writer per cache; readers never wait).

        Raises:
            IndexLocked: another process kept it for ``wait_s`` seconds.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        busy = IndexLocked(f"embeddings are being computed by another process: {self.dir}. Wait for it or stop it")
        with exclusive_lock(self.dir / "embed.lock", wait_s, 0.2, lambda: busy):
            yield

    def add(self, model_id: str, hashes: list[str], vectors: np.ndarray) -> None:
        """Append vectors (call under ``lock``) and publish the new version."""
        if not hashes:
            return
        import pyarrow as pa

        dim = int(vectors.shape[1])
        state = self.state()
        entry = state.get(model_id) or {"table": _table_name(model_id), "dim": dim, "version": 0, "rows": 0}
        if int(entry["dim"]) != dim:
            raise IndexCorrupt(f"model {model_id} gave {dim}-d vectors, the cache holds {entry['dim']}-d. "
                               "Run: ctxpack index --rebuild")
        vec_type = pa.list_(pa.float32(), dim)
        data = pa.table({
            "content_hash": pa.array(hashes, pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors, np.float32).ravel()), dim),
        }, schema=pa.schema([("content_hash", pa.string()), ("vector", vec_type)]))
        db = self._db()
        try:
            tbl = db.open_table(entry["table"])
            tbl.add(data)
        except Exception as exc:
            if entry["rows"]:
                log.warning("embedding cache table unreadable (%s): starting it afresh", type(exc).__name__)
            tbl = db.create_table(entry["table"], data=data, mode="overwrite")
            entry["rows"] = 0
        entry["rows"] = int(entry["rows"]) + len(hashes)
        entry["appends"] = int(entry.get("appends", 0)) + 1
        entry["version"] = tbl.version
        if entry["appends"] % _COMPACT_EVERY == 0:
            entry["version"] = self._compact(tbl)
        state[model_id] = entry
        self._publish(state)

    def finish(self, model_id: str) -> None:
        """Compact the model's table and write the fast-load cache (end of an embedding run)."""
        entry = self.state().get(model_id)
        if not entry or not entry.get("rows"):
            return
        try:
            tbl = self._db().open_table(entry["table"])
        except Exception:
            return
        version = self._compact(tbl)
        if version != entry["version"]:
            state = self.state()
            state[model_id] = {**entry, "version": version}
            self._publish(state)
        self.load(model_id)  # writes the .npz

    @staticmethod
    def _compact(tbl: Any) -> int:
        from datetime import timedelta

        try:
            tbl.optimize(cleanup_older_than=timedelta(minutes=10))
        except Exception as exc:  # compaction is an optimisation
            log.warning("embedding cache compaction failed: %s", exc)
        return int(tbl.version)

    def _publish(self, state: dict[str, dict[str, Any]]) -> None:
        tmp = self.dir / f"state.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self._state_path)
