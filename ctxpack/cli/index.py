"""``ctxpack index``: build or update indexes, then fill the dense lane."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from ..config import Config
from ..errors import ConfigError, CtxpackError
from .console import config_for, emit, fail, has_catalog, progress_bar, report_skipped
from .group import main
from .options import COMMON_OPTIONS, EMBED_OPTIONS, apply_options, embed_overrides


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
            _index_many(paths, repos_file, engine, address, workers, rebuild, format_, quiet, verbose,
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
    from ..pipeline import build_index, stats_dict

    estats = None
    try:
        cfg = config_for(path, encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                      redact=False if no_redact else None, **embed_overrides(no_embed, model, embed_backend))
        with progress_bar(quiet) as progress:
            stats = build_index(path, cfg, rebuild=rebuild, progress=progress)
        if not quiet:
            report_skipped(stats.skipped, verbose)
            click.echo(
                f"Indexed {stats.files} files ({stats.parsed} parsed, {stats.unchanged} unchanged, {stats.removed} removed; "
                f"{stats.chunks} chunks, {stats.symbols} symbols) in {stats.seconds:.2f}s -> {stats.index_dir}",
                err=True,
            )
        if cfg.embed:
            estats = _embed_lane(path, cfg, quiet)
    except CtxpackError as exc:
        fail(exc)
        return
    if format_ == "json":
        doc = stats_dict(stats)
        doc["embeddings"] = None if estats is None else {
            "model": estats.model, "chunks": estats.chunks, "embedded": estats.embedded, "cached": estats.cached,
            "seconds": round(estats.seconds, 3), "complete": estats.complete}
        emit(json.dumps(doc, indent=2) + "\n", None)


def _index_many(paths: tuple[str, ...], repos_file: str | None, engine_name: str, address: str | None,
                workers: int | None, rebuild: bool, format_: str, quiet: bool, verbose: bool, **overrides: Any) -> None:
    """Index with an engine: one repository in its own index, or several into a catalog (issue 7)."""
    from ..engines.base import Target
    from ..engines.local import make_engine
    from ..engines.run import index_targets
    from ..index.catalog import read_repo_list, targets_for
    from ..pipeline import stats_dict

    roots = [Path(p) for p in paths] + (read_repo_list(repos_file) if repos_file else [])
    index_dir = overrides.get("index_dir")
    eng = make_engine(engine_name, address, workers)
    if not verbose:
        for name in ("ray", "ray.data"):  # Ray logs every execution and its settings (-v shows them)
            logging.getLogger(name).setLevel(logging.ERROR)
    start = getattr(eng, "start", None)
    if start is not None:
        start()  # before lancedb is imported (Ray forks its processes)
    try:
        if len(roots) > 1 or repos_file or has_catalog(index_dir):
            if not index_dir:
                raise ConfigError("several repositories need --index-dir DIR (the multi-repository index)")
            targets = targets_for(index_dir, roots, **{k: v for k, v in overrides.items() if k != "index_dir"})
        else:
            root = roots[0]
            if not root.is_dir():
                raise ConfigError(f"not a directory: {root}. Pass the repository root")
            targets = [Target(root.resolve().name, root.resolve(), config_for(str(root), **overrides))]
        with progress_bar(quiet) as progress:
            run = index_targets(targets, eng, rebuild=rebuild, progress=progress)
    finally:
        eng.close()
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
        e = run.embeddings
        doc = {"schema": 1, "engine": run.engine, "files_sent": run.files_sent,
               "repos": {n: stats_dict(st) for n, st in run.repos.items()},
               "embeddings": None if e is None else {
                   "model": e.model, "chunks": e.chunks, "embedded": e.embedded, "cached": e.cached,
                   "seconds": round(e.seconds, 3), "complete": e.complete}}
        emit(json.dumps(doc, indent=2) + "\n", None)


def _embed_lane(path: str, cfg: Config, quiet: bool) -> Any:
    """Run the embedding lane after indexing; Ctrl-C stops it and keeps what was done."""
    from ..embed.backends import DEFAULT_MODEL, dense_available
    from ..pipeline import embed_index

    if not dense_available() and cfg.model == DEFAULT_MODEL:
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
