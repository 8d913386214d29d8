"""Option groups shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..config import ENCODINGS, FORMATS


def _keep_guard(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        ctx.meta[f"ctxpack.{param.name}"] = value
    return value


def guards() -> dict[str, Any]:
    """The guard options (``--allow-broad``, ``--max-files``) of the running command, as config overrides."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    return {"allow_broad": True if meta.get("ctxpack.allow_broad") else None,
            "max_files": meta.get("ctxpack.max_files")}


# Options every command that reads a repository takes; kept out of the command signatures (issue 18).
GUARD_OPTIONS = [
    click.option("--allow-broad", is_flag=True, expose_value=False, callback=_keep_guard,
                 help="allow a filesystem root or home directory as the repository"),
    click.option("--max-files", type=click.IntRange(min=1), default=None, expose_value=False, callback=_keep_guard,
                 help="stop when discovery finds more files than this [200000]"),
]

COMMON_OPTIONS = [
    click.option("--encoding", type=click.Choice(ENCODINGS), default=None, help="tiktoken encoding [o200k_base]"),
    click.option("--index-dir", type=click.Path(file_okay=False), envvar="CTXPACK_INDEX_DIR", default=None,
                 help="where the index lives [REPO/.ctxpack]"),
    click.option("--include", multiple=True, help="only files matching this glob (repeatable)"),
    click.option("--exclude", multiple=True, help="leave out files matching this glob (repeatable)"),
    click.option("--no-redact", is_flag=True, help="include secret files and do not redact secret strings"),
    click.option("-q", "--quiet", is_flag=True, help="no progress or summaries on stderr"),
    click.option("-v", "--verbose", is_flag=True, help="list skipped files and log details"),
    *GUARD_OPTIONS,
]


EMBED_OPTIONS = [
    click.option("--no-embed", is_flag=True, help="lexical lane only: no embeddings computed or used"),
    click.option("--model", default=None, help="sentence-transformers model name or directory [all-MiniLM-L6-v2, bundled]"),
    click.option("--embed-backend", type=click.Choice(["auto", "onnx", "torch"]), default=None,
                 help="embedding runtime [auto: onnx int8 when available]"),
]


def embed_overrides(no_embed: bool, model: str | None, embed_backend: str | None) -> dict[str, Any]:
    return {"embed": False if no_embed else None, "model": model, "embed_backend": embed_backend}


PACK_OPTIONS = [
    click.option("--query", "query", default=None, help="the edit instruction ('-' reads stdin)"),
    click.option("--query-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                 help="read the instruction from a file ('-' for stdin)"),
    click.option("--budget", type=int, default=None, help="token budget of the output [128000]"),
    click.option("--format", "format_", type=click.Choice(FORMATS), default=None, help="output format [xml]"),
    click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="write to FILE instead of stdout"),
    click.option("--focus", multiple=True, help="a file being edited (repeatable): favoured with its neighbours"),
    click.option("--no-map", is_flag=True, help="leave out the repository map"),
    click.option("--diff", "diff", is_flag=True,
                 help="also pack the uncommitted diff (working tree and index against HEAD), first, as its own block"),
    click.option("--wait-embeddings", is_flag=True, help="embed what the dense lane is missing before ranking"),
]


def apply_options(opts: list[Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


SERVE_OPTIONS = [
    click.option("--no-embed", is_flag=True, help="lexical lane only"),
    click.option("--model", default=None, help="sentence-transformers model name or directory"),
    click.option("--encoding", type=click.Choice(ENCODINGS), default=None, help="tiktoken encoding [o200k_base]"),
    click.option("--index-dir", type=click.Path(file_okay=False), default=None,
                 help="index location (one repository only) [REPO/.ctxpack]"),
    click.option("--no-redact", is_flag=True, help="include secret files and do not redact secret strings"),
    *GUARD_OPTIONS,
]
