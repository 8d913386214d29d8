"""Config files: what a repository may set, what only the user may set, and value checks.

A repository is not trusted (issue 18, item 5): its ``[tool.ctxpack]`` in ``pyproject.toml``
or its ``.ctxpack.toml`` may tune ranking and packing (``REPO_KEYS``) but not safety
(``redact``) or where ctxpack writes and what it loads (``index_dir``, ``vectors_dir``,
``model`` ...). Those come from the user: options, environment, and the user config file
(``user_config_path``), which may set every key. A repository key outside ``REPO_KEYS`` is
ignored with a one-line warning naming it; a bad value anywhere is a one-line ``ConfigError``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["REPO_KEYS", "USER_KEYS", "check_value", "read_repo_config", "read_user_config", "user_config_path"]

log = logging.getLogger(__name__)

# What each key holds: the type a value must have (ints are accepted where floats are).
_TYPES: dict[str, str] = {
    "encoding": "str", "budget": "int", "format": "str", "index_dir": "path", "max_file_bytes": "int",
    "include": "globs", "exclude": "globs", "chunk_tokens": "int", "max_chunk_tokens": "int", "repo_map": "bool",
    "redact": "bool", "outline_share": "share", "chunk_share": "share", "skeleton_share": "share",
    "map_share": "share", "size_exponent": "float", "parse_timeout_ms": "int", "history": "bool", "embed": "bool",
    "model": "str", "embed_backend": "str", "embed_max_tokens": "int", "embed_batch": "int", "vectors_dir": "path",
    "allow_broad": "bool", "max_files": "int", "diff": "bool", "region_weight": "float", "region_dense": "share",
}
USER_KEYS = frozenset(_TYPES)
# Ranking and packing only: nothing that turns safety off, writes elsewhere, loads code or data
# from a path, or lifts a resource guard.
REPO_KEYS = frozenset({
    "encoding", "budget", "format", "include", "exclude", "max_file_bytes", "chunk_tokens", "max_chunk_tokens",
    "repo_map", "outline_share", "chunk_share", "skeleton_share", "map_share", "size_exponent", "history", "embed",
    "diff", "region_weight", "region_dense",
})
_REPO_MAX_FILE_BYTES = 20_000_000  # a repository may raise the per-file limit this far, no further
_WHAT = {"str": "a string", "int": "an integer", "bool": "true or false", "float": "a number",
         "share": "a number between 0 and 1", "path": "a path (string)",
         "globs": "a glob string or a list of glob strings"}


def check_value(key: str, value: Any, where: str) -> Any:
    """``value`` of config key ``key`` checked and normalized (a glob string becomes a 1-tuple).

    Raises:
        ConfigError: the value has the wrong type.
    """
    kind = _TYPES[key]
    ok = True
    if kind in ("str", "path"):
        ok = isinstance(value, str) and value != ""
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind in ("float", "share"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and kind == "share":
            ok = 0 <= value <= 1
        value = float(value) if ok else value
    elif kind == "globs":
        if isinstance(value, str):
            value = (value,)  # one pattern, not its characters
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)
        value = tuple(value) if ok else value
    if not ok:
        raise ConfigError(f"bad value for {key} in {where}: {value!r}. Use {_WHAT[kind]}")
    return value


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {label}: {exc}. Fix or remove the file") from exc


def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def read_repo_config(root: Path) -> dict[str, Any]:
    """The settings a repository's own config files give (``REPO_KEYS`` only), checked.

    ``.ctxpack.toml`` wins over ``[tool.ctxpack]`` of ``pyproject.toml``. Other keys are
    ignored, each with a one-line warning.

    Raises:
        ConfigError: a file is malformed or a value is invalid.
    """
    out: dict[str, Any] = {}
    sources: list[tuple[str, dict[str, Any]]] = []
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        tool = _read_toml(pyproject, "pyproject.toml").get("tool", {})
        if isinstance(tool, dict) and "ctxpack" in tool:
            section = tool["ctxpack"]
            if not isinstance(section, dict):
                raise ConfigError("bad [tool.ctxpack] in pyproject.toml: not a table. Fix or remove it")
            sources.append(("pyproject.toml [tool.ctxpack]", section))
    dotfile = root / ".ctxpack.toml"
    if dotfile.is_file():
        sources.append((".ctxpack.toml", _read_toml(dotfile, ".ctxpack.toml")))
    for where, values in sources:
        for key, value in _normalized(values).items():
            if key not in REPO_KEYS:
                why = "not a ctxpack setting" if key not in USER_KEYS else \
                    "a repository may tune ranking and packing only; set it with an option, the environment " \
                    "or the user config"
                log.warning("ignored %s in %s: %s", key, where, why)
                continue
            value = check_value(key, value, where)
            if key == "max_file_bytes" and value > _REPO_MAX_FILE_BYTES:
                raise ConfigError(f"bad value for max_file_bytes in {where}: {value}. "
                                  f"A repository may set at most {_REPO_MAX_FILE_BYTES}")
            out[key] = value
    return out


def user_config_path() -> Path:
    """The user config file: ``CTXPACK_CONFIG``, else ``$CTXPACK_HOME/config.toml``, else
    ``$XDG_CONFIG_HOME/ctxpack/config.toml`` (``~/.config/ctxpack/config.toml``)."""
    if os.environ.get("CTXPACK_CONFIG"):
        return Path(os.environ["CTXPACK_CONFIG"]).expanduser()
    if os.environ.get("CTXPACK_HOME"):
        return Path(os.environ["CTXPACK_HOME"]).expanduser() / "config.toml"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "ctxpack" / "config.toml"


def read_user_config() -> dict[str, Any]:
    """The settings of the user config file (every key allowed), checked; ``{}`` when there is none.

    Relative paths in it are relative to the file's folder.

    Raises:
        ConfigError: the file is malformed, names an unknown key or holds a bad value.
    """
    path = user_config_path()
    if not path.is_file():
        if os.environ.get("CTXPACK_CONFIG"):
            raise ConfigError(f"no such config file: {path}. Fix CTXPACK_CONFIG")
        return {}
    out: dict[str, Any] = {}
    for key, value in _normalized(_read_toml(path, str(path))).items():
        if key not in USER_KEYS:
            raise ConfigError(f"unknown config key {key!r} in {path}. Known keys: {', '.join(sorted(USER_KEYS))}")
        value = check_value(key, value, str(path))
        if _TYPES[key] == "path":
            value = str(path.parent / Path(value).expanduser())
        out[key] = value
    return out
