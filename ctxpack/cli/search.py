"""``ctxpack search``: the chunks that best match a query."""

from __future__ import annotations

import click

from ..errors import CtxpackError
from .console import config_for, emit, fail, progress_bar
from .group import main
from .options import COMMON_OPTIONS, EMBED_OPTIONS, apply_options, embed_overrides


@main.command()
@click.argument("path", type=click.Path())
@click.option("--query", required=True, help="what to look for")
@click.option("-k", "k", type=int, default=10, help="number of chunks")
@click.option("--format", "format_", type=click.Choice(["text", "json"]), default="text")
@apply_options(EMBED_OPTIONS)
@apply_options(COMMON_OPTIONS)
def search(path: str, query: str, k: int, format_: str, no_embed: bool, model: str | None, embed_backend: str | None,
           encoding: str | None, index_dir: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
           no_redact: bool, quiet: bool, verbose: bool) -> None:
    """Search the index's chunks: BM25 (identifier-aware), fused with the dense lane when it is ready."""
    from ..pipeline import search_chunks
    from ..render import hit_to_dict, search_to_dict, to_json

    try:
        cfg = config_for(path, encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                      redact=False if no_redact else None, **embed_overrides(no_embed, model, embed_backend))
        with progress_bar(quiet) as progress:
            hits = search_chunks(path, cfg, query, k, progress=progress)
    except CtxpackError as exc:
        fail(exc)
        return
    if format_ == "json":
        emit(to_json(search_to_dict(query, [hit_to_dict(c, s, digits=4) for c, s in hits])), None)
    else:
        emit("".join(f"{s:8.3f}  {c.path}:{c.start_line}-{c.end_line}  {', '.join(c.symbols[:4])}\n" for c, s in hits), None)
