"""The ``ctxpack`` click group: global options and the one place errors become a line and an exit code."""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import click

from .. import __version__
from ..errors import CtxpackError
from .console import debug_on, fail, set_debug


class CtxpackGroup(click.Group):
    """Turns unexpected exceptions into one line (tracebacks only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CtxpackError as exc:
            fail(exc)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except BrokenPipeError:
            sys.exit(1)
        except Exception as exc:
            if debug_on():
                raise
            click.echo(f"Error: internal error: {type(exc).__name__}: {exc}. Rerun with --debug and report it", err=True)
            sys.exit(1)


@click.group(cls=CtxpackGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctxpack")
@click.option("--debug", is_flag=True, help="show tracebacks")
def main(debug: bool) -> None:
    """Pack the files a code edit needs into a token budget."""
    set_debug(debug)
    collect_less()
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s: %(message)s",
                        stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # a fresh "once" filter per command
        for f in [f for f in handler.filters if isinstance(f, _Once)]:
            handler.removeFilter(f)
        handler.addFilter(_Once())


# The garbage collector's thresholds for a ctxpack command (Python's are 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 10)


def collect_less() -> None:
    """Run the cyclic garbage collector less often in this process (a command, not the library).

    A command loads or builds an index in bursts of hundreds of thousands of long-lived objects
    (records, symbols, postings) that hold no cycles. At Python's default threshold the collector
    walks them again and again as they are made: ~0.2 s of the first pack after a big checkout
    of sqlalchemy (1169 collections), and of the first pack on ansible. Full collections still run,
    every 10 million objects made.
    """
    gc.set_threshold(*GC_THRESHOLDS)


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
