"""Exceptions raised by ctxpack.

Every error carries an ``exit_code`` (for the CLI) and an ``http_status`` (for the
server). Messages follow ``<what failed>: <value>. <what to do>``.

    CtxpackError                 exit_code = 1
    ├── ConfigError              exit_code = 2 (bad option, malformed request)
    ├── MissingDependency        an optional extra is not installed
    ├── IndexNotFound            no index where one was expected
    ├── IndexOutdated            index schema/encoding does not match this version
    ├── IndexCorrupt             index directory unreadable or foreign
    ├── IndexLocked              another process is writing the index
    ├── ParseError               one file could not be parsed (usually a warning)
    ├── EmbeddingError           the embedding model failed
    └── BudgetError              the budget cannot hold even the output header
"""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "ConfigError",
    "CtxpackError",
    "EmbeddingError",
    "IndexCorrupt",
    "IndexLocked",
    "IndexNotFound",
    "IndexOutdated",
    "MissingDependency",
    "ParseError",
    "Cancelled",
]


class CtxpackError(Exception):
    """Base class: a runtime failure reported as one line, exit code 1."""

    exit_code = 1
    http_status = 500


class ConfigError(CtxpackError):
    """An option, config file or request is invalid."""

    exit_code = 2
    http_status = 400


class MissingDependency(CtxpackError):
    """An optional dependency needed for the requested feature is not installed."""

    http_status = 501


class IndexNotFound(CtxpackError):
    """No index exists where one is required."""

    http_status = 404


class IndexOutdated(CtxpackError):
    """The index was built by another schema version or with other settings."""

    http_status = 409


class IndexCorrupt(CtxpackError):
    """The index directory exists but cannot be trusted."""

    http_status = 500


class IndexLocked(CtxpackError):
    """Another process holds the index write lock."""

    http_status = 423


class ParseError(CtxpackError):
    """A single file failed to parse."""


class EmbeddingError(CtxpackError):
    """The embedding model could not be loaded or run."""


class Cancelled(CtxpackError):
    """The caller withdrew the request (a newer one replaced it) before it finished."""

    http_status = 499


class BudgetError(CtxpackError):
    """The token budget is too small for any output."""

    exit_code = 2
    http_status = 400
