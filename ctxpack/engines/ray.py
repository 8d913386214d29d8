"""The Ray engine: ``process_file`` and the embedding batches on Ray workers (issue 7).

- Parsing: ``ray.data.from_items(...).map_batches(_parse_batch)``, stateless tasks. Each
  row carries one pickled ``(SourceFile, Config)``; the result is the pickled ``ProcessedFile``.
- Embedding: ``map_batches(_EmbedWorker, compute=ActorPoolStrategy(size=workers))``; the
  model is loaded once per actor, and each row is one batch planned by
  ``embed.run.embed_plan`` (the same batches as the local engine: same padding, same
  vectors). Actors ask for a GPU when the cluster has one.

Results come back to this process, which stays the single writer of every index and of
the embedding cache. Without ``--address`` Ray starts here, bound to 127.0.0.1 with no
dashboard; with it, this process joins an existing cluster (whose workers must have
ctxpack installed and see the same Python).
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Config
from ..embed.run import EmbedMany, embed_plan
from ..errors import ConfigError, MissingDependency
from ..index.process import process_file
from ..models import ProcessedFile, Progress, SourceFile
from .base import EngineStats

if TYPE_CHECKING:
    from ..embed.backends import Embedder

__all__ = ["RAY_INSTALL_HINT", "RayEngine", "import_ray", "local_init_args", "loopback_only"]

log = logging.getLogger(__name__)

RAY_INSTALL_HINT = "ray is not installed. Install: pip install 'ctxpack[ray]'"
_PARSE_BATCH = 16  # files per parse task call


_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def loopback_only() -> None:
    """Make a Ray started by this process use 127.0.0.1 as its node IP, so it listens on loopback only.

    Ray resolves a ``_node_ip_address`` of 127.0.0.1 to the machine's routable IP and
    its servers bind there, unless clusters are switched off with this variable (read
    at ``import ray``; Ray's own processes inherit it). Checked with ``ss -ltnp`` in
    tests/test_engine.py.
    """
    os.environ[_LOOPBACK_ENV] = "0"
    mod = sys.modules.get("ray._private.ray_constants")
    if mod is not None:  # ray was imported before: its constant already says "cluster"
        mod.ENABLE_RAY_CLUSTER = False


def import_ray() -> Any:
    """``import ray``, or the one-line install hint.

    Raises:
        MissingDependency: ray (with Ray Data) is not installed.
    """
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(RAY_INSTALL_HINT) from exc
    return ray


def local_init_args(num_cpus: int) -> dict[str, Any]:
    """``ray.init`` arguments for a private local instance: loopback only, no dashboard, small.

    Call ``loopback_only()`` first.
    """
    return {
        "num_cpus": num_cpus,
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",  # every Ray server binds here, not on all interfaces
        "object_store_memory": 256 * 1024 * 1024,
        "log_to_driver": False,
        "configure_logging": False,
        "ignore_reinit_error": True,
    }


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on an unreachable head node (``ray.init`` retries for minutes, logging each try).

    Raises:
        ConfigError: ``address`` is malformed or nothing answers there.
    """
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"bad Ray address: {address!r}. Use HOST:PORT of the head node (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc.strerror or type(exc).__name__}. "
                          "Check --address (host:port of the head node) or drop it to run locally") from exc


def _parse_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = [pickle.dumps(process_file(*pickle.loads(b)), protocol=pickle.HIGHEST_PROTOCOL) for b in batch["item"]]
    return {"i": batch["i"], "parsed": np.array(out, dtype=object)}


def _no_restarts() -> dict[str, Any]:
    return {"max_restarts": 0}  # a failed actor fails the run; Ray keeps no constructor args for restarts


def _given(embedder: Embedder) -> Embedder:
    return embedder


def _configured(model: str, backend: str, max_tokens: int, threads: int, home: str | None) -> Embedder:
    """The configured model in a worker: ONNX with as many threads as the actor's CPUs."""
    if home:
        os.environ["CTXPACK_HOME"] = home  # where the ONNX export is cached
    from ..embed.backends import OnnxEmbedder, load_embedder, resolve_model

    ref = resolve_model(model, backend)
    if ref.backend == "onnx":
        return OnnxEmbedder(ref, max_tokens, threads=threads)
    emb = load_embedder(model, backend, max_tokens)
    import ray

    if ray.get_gpu_ids() and hasattr(emb, "_model"):
        emb._model.to("cuda")  # the torch backend on a GPU worker (untested here: no GPU)
    return emb


class _EmbedWorker:
    """An actor holding one loaded model; each call embeds the rows' planned batches."""

    def __init__(self, factory: Callable[[], Embedder], model_id: str) -> None:
        self.emb = factory()
        if self.emb.model_id != model_id:
            raise ConfigError(f"embedder {self.emb.model_id} does not match the configured model {model_id}")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for texts in batch["texts"]:
            out.append(pickle.dumps(self.emb.embed([str(t) for t in texts]), protocol=pickle.HIGHEST_PROTOCOL))
        return {"b": batch["b"], "vectors": np.array(out, dtype=object)}


@dataclass(slots=True)
class RayEngine:
    """Parses and embeds on Ray workers; this process plans and writes."""

    address: str | None = None
    workers: int | None = None  # parse tasks and embedding actors at once (default: the cluster's CPUs)
    name: str = "ray"
    stats: EngineStats = field(default_factory=EngineStats)
    _started: bool = False

    def __post_init__(self) -> None:
        import_ray()

    def start(self) -> None:
        """Start (or join) Ray now: before lancedb's runtime exists, so Ray's forks do not copy it."""
        self._ray()

    def _ray(self) -> Any:
        ray = import_ray()
        if self.address:
            _probe(self.address)  # also when this process already runs a Ray: say so rather than use it
        if not ray.is_initialized():
            if self.address:
                try:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
                except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError ...
                    raise ConfigError(f"cannot connect to the Ray cluster at {self.address!r}: "
                                      f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. "
                                      "Check --address (host:port of the head node) or drop it to run locally") from exc
            else:
                loopback_only()
                ray.init(**local_init_args(self.workers or os.cpu_count() or 1))
            self._started = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        return ray

    def _size(self, ray: Any) -> int:
        return self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def process_many(self, items: list[tuple[SourceFile, Config]], progress: Progress) -> list[ProcessedFile]:
        ray = self._ray()
        from ray.data import TaskPoolStrategy

        size = self._size(ray)
        rows = [{"i": i, "item": pickle.dumps(it, protocol=pickle.HIGHEST_PROTOCOL)} for i, it in enumerate(items)]
        blocks = max(1, min(len(rows), size * 4))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        ds = ds.map_batches(_parse_batch, batch_size=_PARSE_BATCH, batch_format="numpy", num_cpus=1,
                            compute=TaskPoolStrategy(size=min(size, blocks)))
        out: list[Any] = [None] * len(items)
        done = 0
        progress("parse", 0, len(items))
        for row in ds.iter_rows():
            out[int(row["i"])] = pickle.loads(row["parsed"])
            done += 1
            if done % 50 == 0 or done == len(items):
                progress("parse", done, len(items))
        self.stats.files_sent += len(items)
        return out

    def embed_many(self, cfg: Config, model_id: str, embedder: Embedder | None) -> EmbedMany | None:
        ray = self._ray()
        size = self._size(ray)
        threads = max(1, int(ray.cluster_resources().get("CPU", 1)) // size)
        if embedder is not None:
            factory: Callable[[], Embedder] = functools.partial(_given, embedder)
        else:
            factory = functools.partial(_configured, cfg.model, cfg.embed_backend, cfg.embed_max_tokens, threads,
                                        os.environ.get("CTXPACK_HOME"))
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= size else 0

        def run(todo: list[str], texts: dict[str, str], batch: int) -> Iterator[tuple[list[str], np.ndarray]]:
            from ray.data import ActorPoolStrategy

            plan = embed_plan(todo, batch)
            rows = [{"b": b, "texts": [texts[h] for h in part]} for b, part in enumerate(plan)]
            ds = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), size * 8)))
            with warnings.catch_warnings():  # deprecated from Ray 2.61 on; ctxpack[ray] pins 2.60
                warnings.filterwarnings("ignore", message=".*ray_remote_args_fn.*")
                ds = ds.map_batches(_EmbedWorker, batch_size=1, batch_format="numpy",
                                    fn_constructor_kwargs={"factory": factory, "model_id": model_id},
                                    compute=ActorPoolStrategy(size=min(size, len(rows))), num_cpus=threads,
                                    num_gpus=gpus, ray_remote_args_fn=_no_restarts)
            for row in ds.iter_rows():
                part = plan[int(row["b"])]
                self.stats.batches_sent += 1
                self.stats.chunks_embedded += len(part)
                yield part, pickle.loads(row["vectors"])

        return run

    def close(self) -> None:
        """Shut down the Ray instance this engine started (a cluster joined by --address stays up)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
