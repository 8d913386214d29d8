"""Configuration: defaults, ranking weights, and loading.

Settings come, lowest first, from the defaults, the user config file, the repository's
``[tool.ctxpack]`` in ``pyproject.toml`` or ``.ctxpack.toml`` (ranking and packing keys
only: see ``config_files``), the environment, and explicit options.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config_files import read_repo_config, read_user_config
from .errors import ConfigError

__all__ = ["ENCODINGS", "FORMATS", "Config", "RankWeights", "index_dir_for", "load_config", "repo_root"]

ENCODINGS = ("o200k_base", "cl100k_base")
FORMATS = ("xml", "markdown", "plain", "json")
MAX_BUDGET = 10_000_000
MAX_QUERY_CHARS = 1_000_000


@dataclass(frozen=True, slots=True)
class RankWeights:
    """Weights of the ranking signals, the same for every repository.

    The logistic model (``coef``, ``history_coef`` and their intercepts) is fitted on the dev
    tasks (``benchmarks/fit_weights.py``). Every other weight is hand-set, not fitted: the
    comment on each says where it was checked. Besides the explicit-mention boosts, they
    decide the seeds of the graph walk (the "direct" score) and the priors the model sees.
    """

    # Hand-set; the "direct" score (seeds of the graph walk; the score itself when coef is empty).
    bm25: float = 1.0  # hand-set; checked: the bm25-only variant of benchmarks/ablation.py
    defines_named: float = 2.0  # hand-set: file defines an identifier the query names; checked: test_rank.py
    # hand-set: query names the file's path or basename (a log-odds boost under the model: too
    # rare in the dev tasks to fit); checked: test_rank.py, ablation.py no-path-signals
    path_named: float = 3.0
    stem_named: float = 1.2  # hand-set: query names the file's stem ("checkout" -> checkout.py); checked: test_rank.py
    trace_frame: float = 3.0  # hand-set: file in a stack trace of the query (log-odds boost); checked: test_rank.py
    # hand-set: the file is changed in the working tree or git's index (a log-odds boost like a
    # focus file, weaker: uncommitted edits may be unrelated); checked: benchmarks/worktree_bench.py
    worktree: float = 1.5
    # hand-set: the file defines a name used on a changed line, or uses a changed definition;
    # checked: benchmarks/worktree_bench.py (best of 0 / 0.5 / 1)
    worktree_link: float = 0.5
    graph: float = 0.6  # hand-set: personalized PageRank share; checked: test_rank.py, ablation.py no-graph
    # Hand-set priors (the model sees their log as log_prior); checked: test_rank.py
    # (tests are context unless asked) and ablation.py no-priors.
    test_penalty: float = 0.6  # multiplier for test files unless the query asks for tests
    doc_penalty: float = 0.1  # multiplier for non-code files (docs, data, markup)
    aux_penalty: float = 0.6  # multiplier for examples, benchmarks and docs folders
    pagerank_damping: float = 0.5  # hand-set, not tuned: covered only by the recall runs (benchmarks/results/)
    seeds: int = 20  # hand-set, not tuned: top lexical files that seed the PageRank walk
    # Logistic relevance model: one coefficient per rank.model.BASE_INPUTS name, in that order
    # (rank.model.named_coefficients pairs them), fitted on the dev tasks with
    # leave-one-repository-out cross-validation (benchmarks/fit_weights.py). Empty: use the
    # hand-set weights above as the score.
    coef: tuple[float, ...] = (1.9518, -0.1642, 1.7486, 1.1131, 0.5694, 1.8945, 1.1591, 6.9215, 0.5064, -4.2072,
                               -1.4139, 0.4302, 0.4411)
    intercept: float = -4.7140
    # The same model over all rank.model.MODEL_INPUTS (with the git-history inputs), used when the
    # repository has a history; fitted the same way on the dev tasks' trees with their history.
    history_coef: tuple[float, ...] = (2.0722, -0.7530, 1.5378, 1.2715, 0.6691, 1.1206, 0.7208, 6.9517, -1.0876,
                                       -4.4280, -0.6098, 0.4250, 0.2615, 0.9430, 0.7123, 2.0999, 0.8133)
    history_intercept: float = -4.5034


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a run can be told; immutable, built once per run."""

    encoding: str = "o200k_base"
    budget: int = 128_000
    format: str = "xml"
    index_dir: str | None = None
    max_file_bytes: int = 1_000_000
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    chunk_tokens: int = 400  # target chunk size
    max_chunk_tokens: int = 1200  # a definition bigger than this is split
    repo_map: bool = True
    diff: bool = False  # put the uncommitted diff (working tree and index against HEAD) in the pack
    redact: bool = True  # exclude secret files and redact secret strings (--no-redact turns both off)
    outline_share: float = 0.08  # kept for chunks/skeletons of files that do not fit whole
    chunk_share: float = 0.1  # one file's chunks may take at most this share of the budget
    skeleton_share: float = 0.003  # a skeleton may take at most this share of the budget (cut to fit: query-relevant definitions first)
    map_share: float = 0.02  # kept for the repository map when the repository does not fit whole
    size_exponent: float = 0.5  # whole files are packed by relevance / tokens ** this (expected recall per token)
    region_dense: float = 0.0  # a partly packed file's chunks: weight of their dense similarity (rest: lexical)
    region_idf: bool = True  # ... and query terms weighted by idf in their lexical relevance
    region_weight: float = 0.2  # a big file's best chunks compete with whole files at this share of its relevance
    region_min_share: float = 0.25  # ... when the file is bigger than this share of the budget
    region_head: float = 0.5  # ... a file's first chunk (imports) gets this relevance bonus
    region_fill: bool = True  # ... and a file's chunk room is filled, also with chunks the query does not match
    parse_timeout_ms: int = 2000
    history: bool = True  # rank with the git history at HEAD (recency, co-change) when there is one
    embed: bool = True  # compute and use the dense lane (when an embedding backend is installed)
    model: str = "all-MiniLM-L6-v2"  # sentence-transformers model name or directory (bundled default)
    embed_backend: str = "auto"  # auto | onnx | torch
    embed_max_tokens: int = 256  # model tokens per chunk embedded (longer chunks are truncated)
    embed_batch: int = 32
    vectors_dir: str | None = None  # embedding cache location (default <index dir>/vectors); may be shared
    allow_broad: bool = False  # index a filesystem root or a home directory (refused otherwise: issue 18)
    max_files: int = 200_000  # discovery stops with an error past this many files (a size guard)
    weights: RankWeights = field(default_factory=RankWeights)

    def validate(self) -> Config:
        """Check value ranges.

        Raises:
            ConfigError: a value is out of range.
        """
        if self.encoding not in ENCODINGS:
            raise ConfigError(
                f"unknown encoding: {self.encoding!r}. Use one of: {', '.join(ENCODINGS)}"
            )
        if self.format not in FORMATS:
            raise ConfigError(f"unknown format: {self.format!r}. Use one of: {', '.join(FORMATS)}")
        if not isinstance(self.budget, int) or self.budget <= 0:
            raise ConfigError(f"budget must be a positive integer: {self.budget!r}. Use e.g. --budget 32000")
        if self.budget > MAX_BUDGET:
            raise ConfigError(f"budget too large: {self.budget}. Use at most {MAX_BUDGET}")
        if self.embed_backend not in ("auto", "onnx", "torch"):
            raise ConfigError(f"unknown embedding backend: {self.embed_backend!r}. Use one of: auto, onnx, torch")
        if not 8 <= self.embed_max_tokens <= 8192 or not 1 <= self.embed_batch <= 1024:
            raise ConfigError("embed_max_tokens must be 8..8192 and embed_batch 1..1024")
        if self.max_file_bytes <= 0:
            raise ConfigError(f"max_file_bytes must be positive: {self.max_file_bytes}")
        if self.chunk_tokens <= 0 or self.max_chunk_tokens < self.chunk_tokens:
            raise ConfigError(f"chunk_tokens must be positive and at most max_chunk_tokens: {self.chunk_tokens}, "
                              f"{self.max_chunk_tokens}")
        if self.max_files <= 0:
            raise ConfigError(f"max_files must be positive: {self.max_files}. Use e.g. --max-files 500000")
        if self.parse_timeout_ms <= 0:
            raise ConfigError(f"parse_timeout_ms must be positive: {self.parse_timeout_ms}")
        return self


def load_config(root: str | os.PathLike[str], **overrides: Any) -> Config:
    """Build the Config for a repository.

    Args:
        root: repository root.
        overrides: explicit options; ``None`` values are ignored.

    Returns:
        A validated Config.

    Raises:
        ConfigError: a config file is malformed or a value is invalid.
    """
    values: dict[str, Any] = {**read_user_config(), **read_repo_config(Path(root))}
    env_embed = os.environ.get("CTXPACK_EMBED", "").strip().lower()
    if env_embed in ("0", "false", "no", "off"):
        values["embed"] = False
    elif env_embed in ("1", "true", "yes", "on"):
        values["embed"] = True
    for key in ("model", "vectors_dir", "index_dir"):
        if os.environ.get(f"CTXPACK_{key.upper()}"):
            values[key] = os.environ[f"CTXPACK_{key.upper()}"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("include", "exclude"):
        if isinstance(values.get(key), str):
            values[key] = (values[key],)  # one pattern, not its characters
        elif key in values:
            values[key] = tuple(values[key])
    try:
        cfg = replace(Config(), **values)
    except TypeError as exc:
        raise ConfigError(f"invalid config: {exc}") from exc
    return cfg.validate()


def repo_root(path: str | os.PathLike[str]) -> Path:
    """The repository root ``path``, resolved.

    Raises:
        ConfigError: it does not exist or is not a directory.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"no such directory: {path}. Pass the repository root")
    if not p.is_dir():
        raise ConfigError(f"not a directory: {path}. Pass the repository root")
    return p.resolve()


def index_dir_for(root: Path, cfg: Config) -> Path:
    """Where the index of ``root`` lives: ``--index-dir``, ``CTXPACK_INDEX_DIR`` or ``<root>/.ctxpack``."""
    if cfg.index_dir:
        return Path(cfg.index_dir).expanduser().resolve()
    return root / ".ctxpack"
