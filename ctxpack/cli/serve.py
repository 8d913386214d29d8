"""Long-running commands: ``serve`` (HTTP), ``watch``, ``mcp`` and the hidden ``daemon``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, CtxpackError
from .console import fail, progress_bar
from .group import main
from .options import SERVE_OPTIONS, apply_options, guards


def service_for(paths: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None,
             index_dir: str | None, no_redact: bool) -> Any:
    from ..pipeline import is_catalog, select
    from ..serve.service import Service
    from ..serve.worker import steady_heap

    steady_heap()  # a long-running process: keep big freed blocks from staying resident

    overrides = {"embed": False if no_embed else None, "model": model, "encoding": encoding,
                 "redact": False if no_redact else None, **guards()}
    if index_dir and is_catalog(index_dir):  # a multi-repository index: PATHS are its names (or all)
        targets = [(t.name, t.root, t.cfg) for t in select(index_dir, list(paths), **overrides)]
        svc = Service([], targets)
    else:
        if index_dir and len(paths) > 1:
            raise ConfigError("--index-dir works with one repository (or a multi-repository index: "
                              "ctxpack index --index-dir DIR REPO...)")
        svc = Service(list(paths), index_dir=index_dir, **overrides)
    with progress_bar(False) as progress:  # a first index of a big repository takes a while: show it on stderr
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
@apply_options(SERVE_OPTIONS)
def serve(paths: tuple[str, ...], host: str, port: int, token: str | None, no_watch: bool,
          allow_origin: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None,
          index_dir: str | None, no_redact: bool) -> None:
    """Serve packs over HTTP and WebSocket, keeping the repositories' indexes warm and current."""
    import signal
    import threading

    from ..serve.http import LOOPBACK, bind
    from ..serve.http import serve as run_server
    from ..serve.http_guard import parse_origins
    from ..serve.watch import watch_repos

    try:
        origins = parse_origins(allow_origin)
        if host not in LOOPBACK and not token:
            raise ConfigError(f"binding {host} exposes your code: set --token (or CTXPACK_TOKEN) to require auth")
        sock = bind(host, port)  # before loading: a busy port fails at once, in one line
        try:
            svc = service_for(paths, no_embed, model, encoding, index_dir, no_redact)
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
        fail(exc)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@apply_options(SERVE_OPTIONS)
def watch(paths: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None, index_dir: str | None,
          no_redact: bool) -> None:
    """Keep the repositories' indexes current as files change (until Ctrl-C)."""
    import signal
    import threading

    from ..render import lanes_text
    from ..serve.watch import watch_repos

    def report(rs: Any, n: int) -> None:
        st = rs.status()
        click.echo(f"Updated {rs.name}: {n} change{'' if n == 1 else 's'}; {st.get('files')} files indexed; "
                   f"lanes: {lanes_text(st.get('lanes') or {})}", err=True)

    try:
        svc = service_for(paths, no_embed, model, encoding, index_dir, no_redact)
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
        fail(exc)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@apply_options(SERVE_OPTIONS)
def mcp(paths: tuple[str, ...], no_embed: bool, model: str | None, encoding: str | None, index_dir: str | None,
        no_redact: bool) -> None:
    """Run an MCP server on stdio (tools: pack_context, search_code, index_status)."""
    from ..serve.mcp import run_mcp

    try:
        run_mcp(service_for(paths, no_embed, model, encoding, index_dir, no_redact))
    except CtxpackError as exc:
        fail(exc)


@main.command(hidden=True)
@click.argument("index_dir", type=click.Path(file_okay=False))
@click.option("--stop", is_flag=True, help="stop the daemon of INDEX_DIR instead")
@click.option("--load", "load", default=None, metavar="JSON",
              help='load this repository first: {"root": PATH, "overrides": {...}}, as a pack request names it')
def daemon(index_dir: str, stop: bool, load: str | None) -> None:
    """Serve ``pack --daemon`` requests for INDEX_DIR (started by ``pack --daemon``), or stop that daemon."""
    import json

    from ..serve.daemon_client import stop_daemon
    from ..serve.daemon_server import serve

    where = Path(index_dir).expanduser().resolve()
    if stop:
        click.echo("stopped" if stop_daemon(where) else "no daemon running", err=True)
        return
    request = None
    if load is not None:
        try:
            request = json.loads(load)
        except ValueError as exc:
            fail(ConfigError(f"--load is not JSON: {exc}. Pass {{\"root\": PATH, \"overrides\": {{}}}}"))
        if not (isinstance(request, dict) and isinstance(request.get("root"), str)
                and isinstance(request.get("overrides", {}), dict)):
            fail(ConfigError('--load needs {"root": PATH, "overrides": {...}}'))
        request.setdefault("overrides", {})
    logging.getLogger().setLevel(logging.INFO)
    sys.exit(serve(where, load=request))
