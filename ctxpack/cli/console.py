"""What the commands share around the library: stderr progress and messages, the query, the output, errors.

stdout carries only data; progress, summaries, warnings and errors go to stderr.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..config import Config, load_config
from ..errors import ConfigError, CtxpackError

_debug = False  # --debug: tracebacks instead of one-line errors (set once per process by the group)


def set_debug(on: bool) -> None:
    """Show tracebacks (``--debug``) instead of one-line errors."""
    global _debug
    _debug = on


def debug_on() -> bool:
    return _debug


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(quiet: bool) -> Iterator[Callable[[str, int, int], None]]:
    console = stderr_console()
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


def fail(exc: CtxpackError) -> None:
    if _debug:
        raise exc
    click.echo(f"Error: {exc}", err=True)
    sys.exit(exc.exit_code)


def config_for(path: str, **overrides: Any) -> Config:
    from .options import guards

    return load_config(path, **{**guards(), **overrides})


def read_query(query: str | None, query_file: str | None) -> str:
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


def emit(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CtxpackError(f"cannot write output file: {output}: {exc.strerror}") from exc
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def report_skipped(skipped: tuple[Any, ...], verbose: bool) -> None:
    if not skipped:
        return
    if verbose:
        for s in skipped:
            click.echo(f"Skipped {s.path}: {s.reason}", err=True)  # routine, not a warning
        return
    by_reason = Counter(re.split(r" \(| to |: ", s.reason)[0] for s in skipped)  # "symlink to X" -> "symlink"
    summary = ", ".join(f"{n} {r}" for r, n in by_reason.most_common())
    click.echo(f"Skipped {len(skipped)} files: {summary} (-v lists them)", err=True)


def has_catalog(index_dir: str | None) -> bool:
    from ..index.catalog import is_catalog

    return is_catalog(index_dir)
