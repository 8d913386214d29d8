"""``ctxpack index``: build or update indexes, then fill the dense lane."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from ..config import Config
from ..errors import ConfigError, CtxpackError
from .console import config_for, emit, fail, has_catalog, progress_bar, report_skipped
from .group import main
from .options import COMMON_OPTIONS, EMBED_OPTIONS, apply_options, embed_overrides, guards


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(file_okay=True, dir_okay=True))
@click.option("--rebuild", is_flag=True, help="ignore the existing index and build a fresh one")
@click.option("--format", "format_", type=click.Choice(["text", "json"]), default="text", help="summary format")
@click.option("--repos", "repos_file", type=click.Path(dir_okay=False), default=None,
              help="file listing repository paths, one a line (a multi-repository index: needs --index-dir)")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="where parsing and embedding run: this process, or Ray workers (pip install 'ctxpack[ray]')")
@click.option("--address", envvar="CTXPACK_RAY_ADDRESS", default=None,
              help="Ray cluster to join (host:port) [start a private Ray on 127.0.0.1]")
@click.option("--workers", type=int, default=None, help="Ray workers for parsing and embedding [all CPUs]")
@apply_options(EMBED_OPTIONS)
@apply_options(COMMON_OPTIONS)
def index(paths: tuple[str, ...], rebuild: bool, format_: str, repos_file: str | None, engine: str,
          address: str | None, workers: int | None, no_embed: bool, model: str | None, embed_backend: str | None,
          encoding: str | None, index_dir: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
          no_redact: bool, quiet: bool, verbose: bool) -> None:
    """Build or update the index of the repository at PATH, then its embeddings (the dense lane).

    The lexical index is usable as soon as parsing ends; embeddings follow (Ctrl-C keeps
    what was computed, and the next run does only the rest).

    Several repositories (REPO... or --repos FILE) go into one multi-repository index at
    --index-dir DIR; --engine ray spreads parsing and embedding over a Ray cluster.
    """
    from ..index.catalog import is_catalog

    try:
        if not paths and not repos_file:
            raise ConfigError("no repository given. Pass REPO... or --repos FILE")
        if len(paths) > 1 or repos_file or engine != "local" or is_catalog(index_dir):
            _index_many(paths, repos_file, engine, address, workers, rebuild, format_, quiet, verbose, **guards(),
                        encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                        redact=False if no_redact else None, **embed_overrides(no_embed, model, embed_backend))
            return
        if address or workers:
            raise ConfigError("--address and --workers need --engine ray")
    except CtxpackError as exc:
        fail(exc)
        return
    _index_one(paths[0], rebuild, format_, no_embed, model, embed_backend, encoding, index_dir, include, exclude,
               no_redact, quiet, verbose)


def _index_one(path: str, rebuild: bool, format_: str, no_embed: bool, model: str | None, embed_backend: str | None,
               encoding: str | None, index_dir: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
               no_redact: bool, quiet: bool, verbose: bool) -> None:
    from ..pipeline import build_index, save_rank_index
    from ..render import embed_stats_to_dict, index_stats_to_dict, to_json

    estats = None
    try:
        cfg = config_for(path, encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                      redact=False if no_redact else None, **embed_overrides(no_embed, model, embed_backend))
        with progress_bar(quiet) as progress:
            stats = build_index(path, cfg, rebuild=rebuild, progress=progress)
        save_rank_index(path, cfg)  # so the next cold pack loads its ranking index instead of building it
        if not quiet:
            report_skipped(stats.skipped, verbose)
            click.echo(
                f"Indexed {stats.files} files ({stats.parsed} parsed, "
                + (f"{stats.reused} from the parse cache, " if stats.reused else "")
                + f"{stats.unchanged} unchanged, {stats.removed} removed; "
                f"{stats.chunks} chunks, {stats.symbols} symbols) in {stats.seconds:.2f}s -> {stats.index_dir}",
                err=True,
            )
        if cfg.embed:
            estats = _embed_lane(path, cfg, quiet)
    except CtxpackError as exc:
        fail(exc)
        return
    if format_ == "json":
        doc = index_stats_to_dict(stats)
        doc["embeddings"] = embed_stats_to_dict(estats)
        emit(to_json(doc), None)


def _index_many(paths: tuple[str, ...], repos_file: str | None, engine_name: str, address: str | None,
                workers: int | None, rebuild: bool, format_: str, quiet: bool, verbose: bool, **overrides: Any) -> None:
    """Index with an engine: one repository in its own index, or several into a catalog (issue 7)."""
    from ..pipeline import index_many, read_repo_list
    from ..render import index_run_to_dict, to_json

    roots = [Path(p) for p in paths] + (read_repo_list(repos_file) if repos_file else [])
    if not verbose:
        for name in ("ray", "ray.data"):  # Ray logs every execution and its settings (-v shows them)
            logging.getLogger(name).setLevel(logging.ERROR)
    with progress_bar(quiet) as progress:
        run = index_many(roots, engine_name, address=address, workers=workers,
                         catalog=bool(repos_file) or has_catalog(overrides.get("index_dir")), rebuild=rebuild,
                         progress=progress, **overrides)
    if not quiet:
        for name, st in run.repos.items():
            report_skipped(tuple(type(s)(f"{name}/{s.path}", s.reason) for s in st.skipped), verbose)
            click.echo(f"Indexed {name}: {st.files} files ({st.parsed} parsed, {st.unchanged} unchanged, "
                       f"{st.removed} removed; {st.chunks} chunks, {st.symbols} symbols) -> {st.index_dir}", err=True)
        e = run.embeddings
        click.echo(f"Engine {run.engine}: {run.files_sent} files sent out"
                   + ("" if e is None else f"; embedded {e.embedded} chunks ({e.cached} cached) with {e.model} "
                      f"in {e.seconds:.2f}s"), err=True)
    if format_ == "json":
        emit(to_json(index_run_to_dict(run)), None)


def _embed_lane(path: str, cfg: Config, quiet: bool) -> Any:
    """Run the embedding lane after indexing; Ctrl-C stops it and keeps what was done."""
    from ..pipeline import dense_backend_missing, embed_index

    if dense_backend_missing(cfg):
        if not quiet:
            click.echo("Dense lane off: no embedding backend installed (pip install 'ctxpack[embed]')", err=True)
        return None
    stop = {"now": False}
    try:
        with progress_bar(quiet) as progress:
            try:
                estats = embed_index(path, cfg, progress=progress, should_stop=lambda: stop["now"])
            except KeyboardInterrupt:
                stop["now"] = True
                raise
    except KeyboardInterrupt:
        click.echo("Embedding interrupted: the vectors computed so far are kept", err=True)
        sys.exit(130)
    if not quiet:
        rate = f", {estats.embedded / estats.seconds:.0f} chunks/s" if estats.embedded and estats.seconds else ""
        click.echo(f"Embedded {estats.embedded} chunks ({estats.cached} cached) with {estats.model} "
                   f"in {estats.seconds:.2f}s{rate}", err=True)
    return estats
