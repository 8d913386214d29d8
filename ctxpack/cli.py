"""The ``ctxpack`` command line: parse options, call the pipeline, render, exit.

stdout carries only data; progress, warnings and errors go to stderr.
Exit codes: 0 success, 1 runtime error, 2 usage or config error.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import ENCODINGS, FORMATS, Config, load_config
from .errors import ConfigError, CtxpackError
from .focus import cli_focus

_debug = False


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str, int, int], None]]:
    console = _stderr_console()
    if quiet or not console.is_terminal:
        yield lambda _s, _d, _t: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield update


def _fail(exc: CtxpackError) -> None:
    if _debug:
        raise exc
    click.echo(f"Error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _config(path: str, **overrides: Any) -> Config:
    return load_config(path, **{**_guards(), **overrides})


def _keep_guard(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        ctx.meta[f"ctxpack.{param.name}"] = value
    return value


def _guards() -> dict[str, Any]:
    """The guard options (``--allow-broad``, ``--max-files``) of the running command, as config overrides."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.meta if ctx is not None else {}
    return {"allow_broad": True if meta.get("ctxpack.allow_broad") else None,
            "max_files": meta.get("ctxpack.max_files")}


# Options every command that reads a repository takes; kept out of the command signatures (issue 18).
_guard_opts = [
    click.option("--allow-broad", is_flag=True, expose_value=False, callback=_keep_guard,
                 help="allow a filesystem root or home directory as the repository"),
    click.option("--max-files", type=click.IntRange(min=1), default=None, expose_value=False, callback=_keep_guard,
                 help="stop when discovery finds more files than this [200000]"),
]


def _read_query(query: str | None, query_file: str | None) -> str:
    if query is not None and query_file is not None:
        raise ConfigError("both --query and --query-file given. Pass one")
    if query_file is not None:
        if query_file == "-":
            return sys.stdin.read()
        try:
            return Path(query_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ConfigError(f"cannot read query file: {query_file}: {exc.strerror}") from exc
    if query == "-" or query is None:
        if query is None and sys.stdin.isatty():
            raise ConfigError("no query. Pass --query TEXT, --query-file FILE, or pipe it on stdin")
        return sys.stdin.read()
    return query


def _emit(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CtxpackError(f"cannot write output file: {output}: {exc.strerror}") from exc
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _report_skipped(skipped: tuple[Any, ...], verbose: bool) -> None:
    if not skipped:
        return
    if verbose:
        for s in skipped:
            click.echo(f"Skipped {s.path}: {s.reason}", err=True)  # routine, not a warning
        return
    by_reason = Counter(re.split(r" \(| to |: ", s.reason)[0] for s in skipped)  # "symlink to X" -> "symlink"
    summary = ", ".join(f"{n} {r}" for r, n in by_reason.most_common())
    click.echo(f"Skipped {len(skipped)} files: {summary} (-v lists them)", err=True)


_common = [
    click.option("--encoding", type=click.Choice(ENCODINGS), default=None, help="tiktoken encoding [o200k_base]"),
    click.option("--index-dir", type=click.Path(file_okay=False), envvar="CTXPACK_INDEX_DIR", default=None,
                 help="where the index lives [REPO/.ctxpack]"),
    click.option("--include", multiple=True, help="only files matching this glob (repeatable)"),
    click.option("--exclude", multiple=True, help="leave out files matching this glob (repeatable)"),
    click.option("--no-redact", is_flag=True, help="include secret files and do not redact secret strings"),
    click.option("-q", "--quiet", is_flag=True, help="no progress or summaries on stderr"),
    click.option("-v", "--verbose", is_flag=True, help="list skipped files and log details"),
    *_guard_opts,
]

_embed_opts = [
    click.option("--no-embed", is_flag=True, help="lexical lane only: no embeddings computed or used"),
    click.option("--model", default=None, help="sentence-transformers model name or directory [all-MiniLM-L6-v2, bundled]"),
    click.option("--embed-backend", type=click.Choice(["auto", "onnx", "torch"]), default=None,
                 help="embedding runtime [auto: onnx int8 when available]"),
]


def _embed_cfg(no_embed: bool, model: str | None, embed_backend: str | None) -> dict[str, Any]:
    return {"embed": False if no_embed else None, "model": model, "embed_backend": embed_backend}


_pack_opts = [
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


def _apply(opts: list[Callable[..., Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


class _Group(click.Group):
    """Turns unexpected exceptions into one line (tracebacks only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CtxpackError as exc:
            _fail(exc)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except BrokenPipeError:
            sys.exit(1)
        except Exception as exc:
            if _debug:
                raise
            click.echo(f"Error: internal error: {type(exc).__name__}: {exc}. Rerun with --debug and report it", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctxpack")
@click.option("--debug", is_flag=True, help="show tracebacks")
def main(debug: bool) -> None:
    """Pack the files a code edit needs into a token budget."""
    global _debug
    _debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s: %(message)s",
                        stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # a fresh "once" filter per command
        for f in [f for f in handler.filters if isinstance(f, _Once)]:
            handler.removeFilter(f)
        handler.addFilter(_Once())


class _Once(logging.Filter):
    """Each warning once per command (the config is loaded more than once on some paths)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.getMessage())
        if record.levelno < logging.WARNING:
            return True
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


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
@_apply(_embed_opts)
@_apply(_common)
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
    from .catalog import is_catalog

    try:
        if not paths and not repos_file:
            raise ConfigError("no repository given. Pass REPO... or --repos FILE")
        if len(paths) > 1 or repos_file or engine != "local" or is_catalog(index_dir):
            _index_many(paths, repos_file, engine, address, workers, rebuild, format_, quiet, verbose, **_guards(),
                        encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                        redact=False if no_redact else None, **_embed_cfg(no_embed, model, embed_backend))
            return
        if address or workers:
            raise ConfigError("--address and --workers need --engine ray")
    except CtxpackError as exc:
        _fail(exc)
        return
    _index_one(paths[0], rebuild, format_, no_embed, model, embed_backend, encoding, index_dir, include, exclude,
               no_redact, quiet, verbose)


def _index_one(path: str, rebuild: bool, format_: str, no_embed: bool, model: str | None, embed_backend: str | None,
               encoding: str | None, index_dir: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
               no_redact: bool, quiet: bool, verbose: bool) -> None:
    from .pipeline import build_index, stats_dict

    estats = None
    try:
        cfg = _config(path, encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                      redact=False if no_redact else None, **_embed_cfg(no_embed, model, embed_backend))
        with _progress(quiet) as progress:
            stats = build_index(path, cfg, rebuild=rebuild, progress=progress)
        if not quiet:
            _report_skipped(stats.skipped, verbose)
            click.echo(
                f"Indexed {stats.files} files ({stats.parsed} parsed, {stats.unchanged} unchanged, {stats.removed} removed; "
                f"{stats.chunks} chunks, {stats.symbols} symbols) in {stats.seconds:.2f}s -> {stats.index_dir}",
                err=True,
            )
        if cfg.embed:
            estats = _embed_lane(path, cfg, quiet)
    except CtxpackError as exc:
        _fail(exc)
        return
    if format_ == "json":
        doc = stats_dict(stats)
        doc["embeddings"] = None if estats is None else {
            "model": estats.model, "chunks": estats.chunks, "embedded": estats.embedded, "cached": estats.cached,
            "seconds": round(estats.seconds, 3), "complete": estats.complete}
        _emit(json.dumps(doc, indent=2) + "\n", None)


def _index_many(paths: tuple[str, ...], repos_file: str | None, engine_name: str, address: str | None,
                workers: int | None, rebuild: bool, format_: str, quiet: bool, verbose: bool, **overrides: Any) -> None:
    """Index with an engine: one repository in its own index, or several into a catalog (issue 7)."""
    from .catalog import read_repo_list, targets_for
    from .engine import Target, index_targets, make_engine
    from .pipeline import stats_dict

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
        if len(roots) > 1 or repos_file or _has_catalog(index_dir):
            if not index_dir:
                raise ConfigError("several repositories need --index-dir DIR (the multi-repository index)")
            targets = targets_for(index_dir, roots, **{k: v for k, v in overrides.items() if k != "index_dir"})
        else:
            root = roots[0]
            if not root.is_dir():
                raise ConfigError(f"not a directory: {root}. Pass the repository root")
            targets = [Target(root.resolve().name, root.resolve(), _config(str(root), **overrides))]
        with _progress(quiet) as progress:
            run = index_targets(targets, eng, rebuild=rebuild, progress=progress)
    finally:
        eng.close()
    if not quiet:
        for name, st in run.repos.items():
            _report_skipped(tuple(type(s)(f"{name}/{s.path}", s.reason) for s in st.skipped), verbose)
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
        _emit(json.dumps(doc, indent=2) + "\n", None)


def _has_catalog(index_dir: str | None) -> bool:
    from .catalog import is_catalog

    return is_catalog(index_dir)


def _embed_lane(path: str, cfg: Config, quiet: bool) -> Any:
    """Run the embedding lane after indexing; Ctrl-C stops it and keeps what was done."""
    from .embed import DEFAULT_MODEL, dense_available
    from .pipeline import embed_index

    if not dense_available() and cfg.model == DEFAULT_MODEL:
        if not quiet:
            click.echo("Dense lane off: no embedding backend installed (pip install 'ctxpack[embed]')", err=True)
        return None
    stop = {"now": False}
    try:
        with _progress(quiet) as progress:
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


def _do_pack(paths: tuple[str, ...], query: str | None, query_file: str | None, budget: int | None,
             format_: str | None, focus: tuple[str, ...], no_map: bool, wait_embeddings: bool, no_embed: bool,
             model: str | None, embed_backend: str | None, encoding: str | None, index_dir: str | None,
             include: tuple[str, ...], exclude: tuple[str, ...], no_redact: bool, quiet: bool,
             query_text: str | None = None, diff: bool = False) -> Any:
    from .pipeline import open_repo, pack_for

    if _has_catalog(index_dir):
        if diff:
            raise ConfigError("--diff works with one repository, not a multi-repository index")
        return _pack_many(index_dir, paths, query, query_file, budget, format_, focus, no_map, wait_embeddings,
                          quiet, **_guards(), encoding=encoding, include=include or None, exclude=exclude or None,
                          redact=False if no_redact else None, **_embed_cfg(no_embed, model, embed_backend))
    if len(paths) != 1:
        raise ConfigError(f"{len(paths)} repositories given. Pass one, or several with --index-dir DIR "
                          "holding a multi-repository index (ctxpack index --index-dir DIR REPO...)")
    path = paths[0]
    cfg = _config(path, encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                  budget=budget, format=format_, repo_map=False if no_map else None, diff=True if diff else None,
                  redact=False if no_redact else None, **_embed_cfg(no_embed, model, embed_backend))
    text = _read_query(query, query_file) if query_text is None else query_text
    with _progress(quiet) as progress:
        repo = open_repo(path, cfg, progress=progress)
    p = pack_for(repo, text, focus=cli_focus(focus),
                 wait_embeddings=wait_embeddings)
    repo.remember_clean()
    return p


def _pack_via_daemon(path: str, overrides: dict[str, Any], query_text: str, focus: tuple[str, ...],
                     output: str | None, quiet: bool) -> Path | None:
    """Have the index's daemon pack (see ``daemon``).

    Returns:
        None when it answered (printed here); else the index directory, whose daemon the
        caller starts once it has packed in-process.
    """
    from .config import index_dir_for, repo_root
    from .daemon import pack_via_daemon

    root = repo_root(path)
    cfg = load_config(root, **overrides)  # invalid options fail here as they would in-process
    index_dir = index_dir_for(root, cfg)
    if cfg.index_dir:
        overrides = {**overrides, "index_dir": str(index_dir)}  # resolved here: the daemon runs in another cwd
    reply = pack_via_daemon(index_dir, {"root": str(root), "overrides": overrides, "query": query_text,
                                        "focus": list(cli_focus(focus))})
    if reply is None:
        return index_dir
    for line in reply.get("messages", []):
        click.echo(line, err=True)
    if reply["status"] == "error":
        click.echo(f"Error: {reply['error']}", err=True)
        sys.exit(int(reply.get("exit_code", 1)))
    _emit(reply["text"], output)
    if not quiet:
        click.echo(reply["summary"], err=True)
    return None


def _pack_many(index_dir: str, names: tuple[str, ...], query: str | None, query_file: str | None, budget: int | None,
               format_: str | None, focus: tuple[str, ...], no_map: bool, wait_embeddings: bool, quiet: bool,
               **overrides: Any) -> Any:
    """Pack across repositories of a multi-repository index (REPO names, or ``all``)."""
    from .catalog import pack_many, select
    from .pipeline import open_repo

    targets = select(index_dir, list(names), budget=budget, format=format_, repo_map=False if no_map else None,
                     **overrides)
    text = _read_query(query, query_file)
    if wait_embeddings:
        raise ConfigError("--wait-embeddings works with one repository; run ctxpack index --index-dir DIR first")
    with _progress(quiet) as progress:
        repos = {t.name: open_repo(t.root, t.cfg, progress=progress) for t in targets}
    return pack_many(repos, text, focus=tuple(f.replace("\\", "/").removeprefix("./") for f in focus))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_apply(_pack_opts)
@_apply(_embed_opts)
@_apply(_common)
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
    started: Path | None = None
    query_text: str | None = None
    try:
        if daemon and len(paths) == 1 and not wait_embeddings and not _has_catalog(index_dir):
            overrides = dict(encoding=encoding, index_dir=index_dir, include=include or None,
                             exclude=exclude or None, budget=budget, format=format_, **_guards(),
                             repo_map=False if no_map else None, redact=False if no_redact else None,
                             diff=True if diff else None, **_embed_cfg(no_embed, model, embed_backend))
            query_text = _read_query(query, query_file)
            started = _pack_via_daemon(paths[0], overrides, query_text, focus, output, quiet)
            if started is None:
                return
    except CtxpackError as exc:
        _fail(exc)
        return
    from .render import render, summary_line

    try:
        p = _do_pack(paths, query, query_file, budget, format_, focus, no_map, wait_embeddings, no_embed, model,
                     embed_backend, encoding, index_dir, include, exclude, no_redact, quiet, query_text=query_text,
                     diff=diff)
        _emit(render(p), output)
    except CtxpackError as exc:
        _fail(exc)
        return
    finally:
        if started is not None:  # no daemon answered: start one for the next runs
            from .daemon import start_daemon

            start_daemon(started)
    if not quiet:
        click.echo(summary_line(p), err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_apply(_pack_opts)
@_apply(_embed_opts)
@_apply(_common)
def preview(paths: tuple[str, ...], query: str | None, query_file: str | None, budget: int | None, format_: str | None,
            output: str | None, focus: tuple[str, ...], no_map: bool, diff: bool, wait_embeddings: bool, no_embed: bool,
            model: str | None, embed_backend: str | None, encoding: str | None, index_dir: str | None,
            include: tuple[str, ...], exclude: tuple[str, ...], no_redact: bool, quiet: bool, verbose: bool) -> None:
    """Show what would be packed, and why (a table on stdout; --format json: the pack's JSON without the
    context; -o FILE: the table or JSON to FILE). PATHS: as for ``pack``."""
    from rich.console import Console

    from .preview import preview_json, preview_renderable, preview_text

    try:
        p = _do_pack(paths, query, query_file, budget, format_, focus, no_map, wait_embeddings, no_embed, model,
                     embed_backend, encoding, index_dir, include, exclude, no_redact, quiet, diff=diff)
        if format_ == "json" or output:
            _emit(preview_json(p) if format_ == "json" else preview_text(p, verbose), output)
            return
    except CtxpackError as exc:
        _fail(exc)
        return
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
    console.print(preview_renderable(p, verbose))


@main.command()
@click.argument("path", type=click.Path())
@click.option("--query", required=True, help="what to look for")
@click.option("-k", "k", type=int, default=10, help="number of chunks")
@click.option("--format", "format_", type=click.Choice(["text", "json"]), default="text")
@_apply(_embed_opts)
@_apply(_common)
def search(path: str, query: str, k: int, format_: str, no_embed: bool, model: str | None, embed_backend: str | None,
           encoding: str | None, index_dir: str | None, include: tuple[str, ...], exclude: tuple[str, ...],
           no_redact: bool, quiet: bool, verbose: bool) -> None:
    """Search the index's chunks: BM25 (identifier-aware), fused with the dense lane when it is ready."""
    from .pipeline import search_chunks

    try:
        cfg = _config(path, encoding=encoding, index_dir=index_dir, include=include or None, exclude=exclude or None,
                      redact=False if no_redact else None, **_embed_cfg(no_embed, model, embed_backend))
        with _progress(quiet) as progress:
            hits = search_chunks(path, cfg, query, k, progress=progress)
    except CtxpackError as exc:
        _fail(exc)
        return
    if format_ == "json":
        doc = {"schema": 1, "query": query, "hits": [
            {"path": c.path, "start_line": c.start_line, "end_line": c.end_line, "score": round(s, 4),
             "symbols": list(c.symbols), "tokens": c.tokens} for c, s in hits]}
        _emit(json.dumps(doc, indent=2) + "\n", None)
    else:
        _emit("".join(f"{s:8.3f}  {c.path}:{c.start_line}-{c.end_line}  {', '.join(c.symbols[:4])}\n" for c, s in hits), None)


_serve_opts = [
    click.option("--no-embed", is_flag=True, help="lexical lane only"),
    click.option("--model", default=None, help="sentence-transformers model name or directory"),
    click.option("--encoding", type=click.Choice(ENCODINGS), default=None, help="tiktoken encoding [o200k_base]"),
    click.option("--index-dir", type=click.Path(file_okay=False), default=None,
                 help="index location (one repository only) [REPO/.ctxpack]"),
    click.option("--no-redact", is_flag=True, help="include secret files and do not redact secret strings"),
    *_guard_opts,
]


def _service(paths: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None,
             index_dir: str | None, no_redact: bool) -> Any:
    from .catalog import is_catalog, select
    from .service import Service

    overrides = {"embed": False if no_embed else None, "model": model, "encoding": encoding,
                 "redact": False if no_redact else None, **_guards()}
    if index_dir and is_catalog(index_dir):  # a multi-repository index: PATHS are its names (or all)
        targets = [(t.name, t.root, t.cfg) for t in select(index_dir, list(paths), **overrides)]
        svc = Service([], targets)
    else:
        if index_dir and len(paths) > 1:
            raise ConfigError("--index-dir works with one repository (or a multi-repository index: "
                              "ctxpack index --index-dir DIR REPO...)")
        svc = Service(list(paths), index_dir=index_dir, **overrides)
    with _progress(False) as progress:  # a first index of a big repository takes a while: show it on stderr
        svc.load(progress)
    return svc


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (non-loopback needs --token)")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--token", envvar="CTXPACK_TOKEN", default=None, help="require 'Authorization: Bearer TOKEN'")
@click.option("--no-watch", is_flag=True, help="do not watch the files (the index changes only on restart)")
@click.option("--allow-origin", "allow_origin", multiple=True, envvar="CTXPACK_ALLOW_ORIGINS",
              help="a browser origin allowed to call the server, e.g. http://localhost:3000 "
                   "(repeatable; none by default)")
@_apply(_serve_opts)
def serve(paths: tuple[str, ...], host: str, port: int, token: str | None, no_watch: bool,
          allow_origin: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None,
          index_dir: str | None, no_redact: bool) -> None:
    """Serve packs over HTTP and WebSocket, keeping the repositories' indexes warm and current."""
    import signal
    import threading

    from .http_guard import parse_origins
    from .server import LOOPBACK, bind
    from .server import serve as run_server
    from .watch import watch_repos

    try:
        origins = parse_origins(allow_origin)
        if host not in LOOPBACK and not token:
            raise ConfigError(f"binding {host} exposes your code: set --token (or CTXPACK_TOKEN) to require auth")
        sock = bind(host, port)  # before loading: a busy port fails at once, in one line
        try:
            svc = _service(paths, no_embed, model, encoding, index_dir, no_redact)
            stop = threading.Event()
            if not no_watch:
                watch_repos(list(svc.repos.values()), stop)
            click.echo(f"Serving {len(svc.repos)} repositor{'y' if len(svc.repos) == 1 else 'ies'} on "
                       f"http://{host}:{sock.getsockname()[1]} (docs at /docs)"
                       f"{'' if no_watch else ', watching for changes'}", err=True)
            # uvicorn stops on SIGTERM, then raises it again: with the default handler that killed
            # the process before the service closed (its worker's semaphores leaked, issue 18).
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                run_server(svc, host, port, token, origins, sock=sock)
            except KeyboardInterrupt:
                pass
            finally:
                stop.set()
                svc.close()
        finally:
            sock.close()
    except CtxpackError as exc:
        _fail(exc)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_apply(_serve_opts)
def watch(paths: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None, index_dir: str | None,
          no_redact: bool) -> None:
    """Keep the repositories' indexes current as files change (until Ctrl-C)."""
    import signal
    import threading

    from .render import lanes_text
    from .watch import watch_repos

    def report(rs: Any, n: int) -> None:
        st = rs.status()
        click.echo(f"Updated {rs.name}: {n} change{'' if n == 1 else 's'}; {st.get('files')} files indexed; "
                   f"lanes: {lanes_text(st.get('lanes') or {})}", err=True)

    try:
        svc = _service(paths, no_embed, model, encoding, index_dir, no_redact)
        stop = threading.Event()
        threads = watch_repos(list(svc.repos.values()), stop, on_update=report)
        click.echo(f"Watching {', '.join(svc.names())} (Ctrl-C stops)", err=True)
        signal.signal(signal.SIGTERM, _interrupt)  # stop as on Ctrl-C: what is indexed in memory is written
        try:
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            svc.close()
    except CtxpackError as exc:
        _fail(exc)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_apply(_serve_opts)
def mcp(paths: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None, index_dir: str | None,
        no_redact: bool) -> None:
    """Run an MCP server on stdio (tools: pack_context, search_code, index_status)."""
    from .mcp_server import run_mcp

    try:
        run_mcp(_service(paths, no_embed, model, encoding, index_dir, no_redact))
    except CtxpackError as exc:
        _fail(exc)


@main.command(hidden=True)
@click.argument("index_dir", type=click.Path(file_okay=False))
@click.option("--stop", is_flag=True, help="stop the daemon of INDEX_DIR instead")
def daemon(index_dir: str, stop: bool) -> None:
    """Serve ``pack --daemon`` requests for INDEX_DIR (started by ``pack --daemon``), or stop that daemon."""
    from .daemon import serve, stop_daemon

    where = Path(index_dir).expanduser().resolve()
    if stop:
        click.echo("stopped" if stop_daemon(where) else "no daemon running", err=True)
        return
    logging.getLogger().setLevel(logging.INFO)
    sys.exit(serve(where))


if __name__ == "__main__":  # pragma: no cover
    main()
