"""``ctxpack pack`` and ``ctxpack preview``: the context for an edit, or a table of what would go in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import load_config
from ..errors import ConfigError, CtxpackError
from ..rank.focus import cli_focus
from .console import config_for, emit, fail, has_catalog, progress_bar, read_query
from .group import main
from .options import COMMON_OPTIONS, EMBED_OPTIONS, PACK_OPTIONS, apply_options, embed_overrides, guards

if TYPE_CHECKING:
    from ..repo import Repo


def _do_pack(paths: tuple[str, ...], query: str | None, query_file: str | None, budget: int | None,
             format_: str | None, focus: tuple[str, ...], no_map: bool, wait_embeddings: bool, no_embed: bool,
             model: str | None, embed_backend: str | None, encoding: str | None, index_dir: str | None,
             include: tuple[str, ...], exclude: tuple[str, ...], no_redact: bool, quiet: bool,
             query_text: str | None = None, diff: bool = False) -> tuple[Any, Repo | None]:
    """The pack, and the repository it came from (None for a multi-repository index)."""
    from ..pipeline import open_repo, pack_for

    if has_catalog(index_dir):
        if diff:
            raise ConfigError("--diff works with one repository, not a multi-repository index")
        return _pack_many(index_dir, paths, query, query_file, budget, format_, focus, no_map, wait_embeddings,
                          quiet, **guards(), encoding=encoding, include=include or None, exclude=exclude or None,
                          redact=False if no_redact else None, **embed_overrides(no_embed, model, embed_backend)), None
    if len(paths) != 1:
        raise ConfigError(f"{len(paths)} repositories given. Pass one, or several with --index-dir DIR "
                          "holding a multi-repository index (ctxpack index --index-dir DIR REPO...)")
    path = paths[0]
    cfg = config_for(path, encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                  budget=budget, format=format_, repo_map=False if no_map else None, diff=True if diff else None,
                  redact=False if no_redact else None, **embed_overrides(no_embed, model, embed_backend))
    text = read_query(query, query_file) if query_text is None else query_text
    with progress_bar(quiet) as progress:
        repo = open_repo(path, cfg, progress=progress, answer_first=True)
    p = pack_for(repo, text, focus=cli_focus(focus), wait_embeddings=wait_embeddings)
    repo.remember_clean()
    return p, repo


def _write_tables_behind(repo: Repo) -> None:
    """Write the index after the answer: a big change (a checkout, a pull) that the pack answered
    from memory (``open_repo``'s answer_first: ``build_index`` parses and writes it), or a big
    journal (written to the tables).

    In a detached child when this process may fork (one thread: see ``pool``), so the command
    returns now and the next runs find the index written; else here. Only the index waits
    for it: the pack already answered. A failure costs nothing (the next update does it).
    While the child runs, ``BEHIND_PID`` in the index directory holds its pid.
    """
    import logging
    import os

    from ..index.pool import single_threaded
    from ..pipeline import build_index, save_rank_index
    from ..store.tables import BEHIND_PID

    store = repo.store

    def work() -> None:
        if repo.unsaved:
            build_index(repo.root, repo.cfg)
            save_rank_index(repo.root, repo.cfg)  # the next pack loads it
        else:
            with store.lock():
                store.fold()

    if not repo.unsaved and not store.fold_due():
        return
    # LanceDB's runtime threads would not follow a fork: a process that loaded it folds here
    if hasattr(os, "fork") and single_threaded() and "lancedb" not in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        marker = store.dir / BEHIND_PID  # before the fork: it exists until the child is done
        try:
            marker.write_text(str(os.getpid()), encoding="ascii")
        except OSError:
            pass
        if os.fork():
            return
        try:  # the child: no terminal, no pipe of the caller's held open
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            work()
        finally:
            try:
                marker.unlink()
            except OSError:
                pass
            os._exit(0)
    try:
        work()
    except (CtxpackError, OSError) as exc:
        logging.getLogger(__name__).debug("index tables not written behind the pack (%s); the next update will", exc)


def _pack_via_daemon(path: str, overrides: dict[str, Any], query_text: str, focus: tuple[str, ...],
                     output: str | None, quiet: bool) -> tuple[Path, dict[str, Any]] | None:
    """Have the index's daemon pack (see ``daemon``).

    Returns:
        None when it answered (printed here); else the index directory and the repository to
        load (``{"root", "overrides"}``), for the daemon the caller starts once it has packed in-process.
    """
    from ..config import index_dir_for, repo_root
    from ..serve.daemon_client import pack_via_daemon

    root = repo_root(path)
    cfg = load_config(root, **overrides)  # invalid options fail here as they would in-process
    index_dir = index_dir_for(root, cfg)
    if cfg.index_dir:
        overrides = {**overrides, "index_dir": str(index_dir)}  # resolved here: the daemon runs in another cwd
    load = {"root": str(root), "overrides": overrides}
    reply = pack_via_daemon(index_dir, {**load, "query": query_text, "focus": list(cli_focus(focus))})
    if reply is None:
        return index_dir, load
    for line in reply.get("messages", []):
        click.echo(line, err=True)
    if reply["status"] == "error":
        click.echo(f"Error: {reply['error']}", err=True)
        sys.exit(int(reply.get("exit_code", 1)))
    emit(reply["text"], output)
    if not quiet:
        click.echo(reply["summary"], err=True)
    return None


def _pack_many(index_dir: str, names: tuple[str, ...], query: str | None, query_file: str | None, budget: int | None,
               format_: str | None, focus: tuple[str, ...], no_map: bool, wait_embeddings: bool, quiet: bool,
               **overrides: Any) -> Any:
    """Pack across repositories of a multi-repository index (REPO names, or ``all``)."""
    from ..pipeline import open_repo, pack_many, select

    targets = select(index_dir, list(names), budget=budget, format=format_, repo_map=False if no_map else None,
                     **overrides)
    text = read_query(query, query_file)
    if wait_embeddings:
        raise ConfigError("--wait-embeddings works with one repository; run ctxpack index --index-dir DIR first")
    with progress_bar(quiet) as progress:
        repos = {t.name: open_repo(t.root, t.cfg, progress=progress) for t in targets}
    return pack_many(repos, text, focus=tuple(f.replace("\\", "/").removeprefix("./") for f in focus))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@apply_options(PACK_OPTIONS)
@apply_options(EMBED_OPTIONS)
@apply_options(COMMON_OPTIONS)
@click.option("--daemon", is_flag=True, envvar="CTXPACK_DAEMON",
              help="answer through a background process that keeps the index loaded (started on first use; "
                   "exits after 15 idle minutes) [CTXPACK_DAEMON]")
def pack(paths: tuple[str, ...], query: str | None, query_file: str | None, budget: int | None, format_: str | None,
         output: str | None, focus: tuple[str, ...], no_map: bool, diff: bool, wait_embeddings: bool, no_embed: bool,
         model: str | None, embed_backend: str | None, encoding: str | None, index_dir: str | None,
         include: tuple[str, ...], exclude: tuple[str, ...], no_redact: bool, quiet: bool, verbose: bool,
         daemon: bool) -> None:
    """Pack the context for an edit instruction (stdout, or -o FILE).

    PATHS is one repository, or, with --index-dir DIR holding a multi-repository index,
    repository names (or ``all``): paths in the pack are then prefixed by the name.
    """
    started: tuple[Path, dict[str, Any]] | None = None
    query_text: str | None = None
    try:
        if daemon and len(paths) == 1 and not wait_embeddings and not has_catalog(index_dir):
            overrides = dict(encoding=encoding, index_dir=index_dir, include=include or None,
                             exclude=exclude or None, budget=budget, format=format_, **guards(),
                             repo_map=False if no_map else None, redact=False if no_redact else None,
                             diff=True if diff else None, **embed_overrides(no_embed, model, embed_backend))
            query_text = read_query(query, query_file)
            started = _pack_via_daemon(paths[0], overrides, query_text, focus, output, quiet)
            if started is None:
                return
    except CtxpackError as exc:
        fail(exc)
        return
    from ..render import render, summary_line

    try:
        p, repo = _do_pack(paths, query, query_file, budget, format_, focus, no_map, wait_embeddings, no_embed,
                            model, embed_backend, encoding, index_dir, include, exclude, no_redact, quiet,
                            query_text=query_text, diff=diff)
        emit(render(p), output)
    except CtxpackError as exc:
        fail(exc)
        return
    finally:
        if started is not None:  # no daemon answered: start one for the next runs, loading this repository
            from ..serve.daemon_client import start_daemon

            start_daemon(*started)
    if not quiet:
        click.echo(summary_line(p), err=True)
    if repo is not None:
        _write_tables_behind(repo)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@apply_options(PACK_OPTIONS)
@apply_options(EMBED_OPTIONS)
@apply_options(COMMON_OPTIONS)
def preview(paths: tuple[str, ...], query: str | None, query_file: str | None, budget: int | None, format_: str | None,
            output: str | None, focus: tuple[str, ...], no_map: bool, diff: bool, wait_embeddings: bool,
            no_embed: bool, model: str | None, embed_backend: str | None, encoding: str | None, index_dir: str | None,
            include: tuple[str, ...], exclude: tuple[str, ...], no_redact: bool, quiet: bool, verbose: bool) -> None:
    """Show what would be packed, and why (a table on stdout; --format json: the pack's JSON without the
    context; -o FILE: the table or JSON to FILE). PATHS: as for ``pack``."""
    from rich.console import Console

    from ..preview import preview_json, preview_renderable, preview_text

    try:
        p, repo = _do_pack(paths, query, query_file, budget, format_, focus, no_map, wait_embeddings, no_embed, model,
                           embed_backend, encoding, index_dir, include, exclude, no_redact, quiet, diff=diff)
        if format_ == "json" or output:
            emit(preview_json(p) if format_ == "json" else preview_text(p, verbose), output)
        else:
            console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
            console.print(preview_renderable(p, verbose))
    except CtxpackError as exc:
        fail(exc)
        return
    if repo is not None:
        _write_tables_behind(repo)
