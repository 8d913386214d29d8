"""Guards against indexing far more than a repository (issue 18, item 7).

``ctxpack pack /`` once walked the whole filesystem for 36 minutes and wrote ``/.ctxpack``.
A filesystem root, the home directory or a folder above it is refused unless the user
passes ``--allow-broad``; any tree stops at ``max_files`` discovered files with a message
saying how to narrow it or raise the limit.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..errors import ConfigError

__all__ = ["broad_reason", "check_file_count", "check_scope"]


def broad_reason(root: Path) -> str | None:
    """Why ``root`` is too broad to index by default, or None."""
    root = root.resolve()
    if root == Path(root.anchor) or root.parent == root:
        return "a filesystem root"
    try:
        home = Path.home().resolve()
    except (RuntimeError, OSError):  # no home directory known
        return None
    if root == home:
        return "the home directory"
    if root in home.parents:
        return "a folder holding the home directory"
    return None


def check_scope(root: Path, cfg: Config) -> None:
    """Refuse a filesystem root or the home directory unless ``cfg.allow_broad``.

    Raises:
        ConfigError: ``root`` is too broad.
    """
    if cfg.allow_broad:
        return
    why = broad_reason(root)
    if why is not None:
        raise ConfigError(f"refusing to index {root}: {why}. Pass a repository root, or --allow-broad to index it")


def check_file_count(root: Path, count: int, cfg: Config) -> None:
    """Stop discovery that found more than ``cfg.max_files`` files.

    Raises:
        ConfigError: too many files.
    """
    if count > cfg.max_files:
        raise ConfigError(f"too many files under {root}: more than {cfg.max_files:,}. Narrow it (a subfolder, "
                          f".ctxpackignore) or raise the limit with --max-files N")
