"""HTTP and WebSocket API over a ``Service`` (FastAPI + uvicorn).

Endpoints (JSON; the OpenAPI schema is at ``/openapi.json``, docs at ``/docs``):

    POST /pack     same options and output as ``ctxpack pack --format json``
    POST /search   ranked chunks (BM25, fused with the dense lane when ready)
    GET  /files    indexed files of a repository
    GET  /health   liveness
    GET  /status   per repository: index state, lanes, last update, embedding progress
    WS   /ws/pack  streamed packs: send a request, receive header, files, summary;
                   a new request on the connection cancels the one in flight

Safety: binds 127.0.0.1 by default; with a token (``--token`` / ``CTXPACK_TOKEN``) every
request needs ``Authorization: Bearer <token>`` (a WebSocket may pass ``?token=``), and a
token is required to bind any other address. Web pages are kept out (``http_guard``): the
Host must be the bound address or a loopback name, an Origin must be the server's own or
one allowed by ``--allow-origin``, and a POST must be ``application/json``. Bodies are
capped, budgets bounded, and paths outside the served repositories refused.
"""

import asyncio
import hmac
import json
import logging
import threading
from typing import Any

from ..config import FORMATS, MAX_BUDGET, MAX_QUERY_CHARS
from ..errors import Cancelled, ConfigError, CtxpackError, MissingDependency
from ..models import Pack, PackedFile
from ..render import file_to_dict, pack_to_dict, render, search_to_dict
from .http_guard import Guard
from .service import Service

__all__ = ["bind", "create_app", "serve"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2_000_000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _fastapi() -> Any:
    try:
        import fastapi
    except ImportError as exc:
        raise MissingDependency("the server needs fastapi and uvicorn. Install: pip install 'ctxpack[server]'") from exc
    return fastapi


def _parse_pack(body: Any) -> dict[str, Any]:
    """Validate a pack request (the same fields over HTTP, WebSocket and MCP)."""
    if not isinstance(body, dict):
        raise ConfigError("request body must be a JSON object")
    unknown = set(body) - {"repo", "query", "budget", "format", "focus", "cursor", "wait_embeddings"}
    if unknown:
        raise ConfigError(f"unknown field: {sorted(unknown)[0]!r}")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("\"query\" must be a non-empty string")
    if len(query) > MAX_QUERY_CHARS:
        raise ConfigError(f"query too long: {len(query)} characters. Use at most {MAX_QUERY_CHARS}")
    budget = body.get("budget")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or not 0 < budget <= MAX_BUDGET):
        raise ConfigError(f"\"budget\" must be an integer in 1..{MAX_BUDGET}")
    fmt = body.get("format", "json")
    if fmt not in FORMATS:
        raise ConfigError(f"\"format\" must be one of {', '.join(FORMATS)}")
    focus = body.get("focus", [])
    if not isinstance(focus, list) or not all(isinstance(f, str) for f in focus) or len(focus) > 100:
        raise ConfigError("\"focus\" must be a list of at most 100 paths")
    cursor = body.get("cursor")
    if cursor is not None:
        if (not isinstance(cursor, dict) or not isinstance(cursor.get("path"), str)
                or not isinstance(cursor.get("line"), int) or cursor["line"] < 1):
            raise ConfigError("\"cursor\" must be {\"path\": str, \"line\": int >= 1}")
        cursor = (cursor["path"], cursor["line"])
    repo = body.get("repo")
    if repo is not None and not isinstance(repo, str) and not (
            isinstance(repo, list) and 0 < len(repo) <= 1000 and all(isinstance(r, str) for r in repo)):
        raise ConfigError("\"repo\" must be a name, a list of names or \"all\"")
    return {"repo": repo, "query": query, "budget": budget, "fmt": fmt, "focus": tuple(focus), "cursor": cursor,
            "wait_embeddings": bool(body.get("wait_embeddings", False))}


def create_app(service: Service, token: str | None = None, *, host: str = "127.0.0.1",
               allow_origins: tuple[str, ...] = ()) -> Any:
    """The ASGI app serving ``service``.

    Args:
        token: required as ``Authorization: Bearer`` on every request but ``/health``.
        host: the address the server is bound to: the Host header must name it (or loopback).
        allow_origins: browser origins allowed besides the server's own (none by default).
    """
    fastapi = _fastapi()
    from fastapi import Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import JSONResponse, Response

    app = fastapi.FastAPI(title="ctxpack", summary="Context packing for code edits", version=_version())

    def _authorized(header: str | None) -> bool:
        if not token:
            return True
        return bool(header) and hmac.compare_digest(header or "", f"Bearer {token}")

    web = Guard(host, allow_origins)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        refused = web.refusal(request.headers)  # a web page: DNS rebinding, a cross-site request
        if refused is not None:
            return JSONResponse({"error": refused[1]}, status_code=refused[0])
        if not _authorized(request.headers.get("authorization")) and request.url.path != "/health":
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        refused = web.body_refusal(request.method, request.headers)
        if refused is not None:
            return JSONResponse({"error": refused[1]}, status_code=refused[0])
        return await call_next(request)

    @app.exception_handler(CtxpackError)
    async def ctxpack_error(_request: Request, exc: CtxpackError) -> Any:
        return JSONResponse({"error": str(exc)}, status_code=exc.http_status)

    async def _json(request: Request) -> Any:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise ConfigError(f"request body over {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise ConfigError("request body is not valid JSON") from None

    @app.post("/pack", summary="Pack the context for an edit instruction (same JSON as `ctxpack pack --format json`)")
    async def pack(request: Request) -> Any:
        req = _parse_pack(await _json(request))
        p = await asyncio.to_thread(lambda: service.pack(req["repo"], req["query"], budget=req["budget"],
                                                         fmt=req["fmt"], focus=req["focus"], cursor=req["cursor"],
                                                         wait_embeddings=req["wait_embeddings"]))
        if req["fmt"] == "json":
            return Response(render(p, "json"), media_type="application/json")
        return Response(render(p), media_type="text/plain; charset=utf-8")

    @app.post("/search", summary="Ranked chunks for a query")
    async def search(request: Request) -> Any:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            raise ConfigError("\"query\" must be a non-empty string")
        k = body.get("k", 10)
        if not isinstance(k, int) or isinstance(k, bool):
            raise ConfigError("\"k\" must be an integer")
        hits = await asyncio.to_thread(service.search, body.get("repo"), body["query"], k)
        return search_to_dict(body["query"], hits)

    @app.get("/files", summary="Indexed files of a repository")
    async def files(repo: str | None = None) -> Any:
        r = service.get(repo).repo
        return {"repo": str(r.root), "files": [
            {"path": f.path, "language": f.language, "tokens": f.tokens, "lines": f.lines}
            for f in sorted(r.snapshot.files.values(), key=lambda f: f.path)]}

    @app.get("/health", summary="Liveness")
    async def health() -> Any:
        return {"ok": True}

    @app.get("/status", summary="Index state, lanes and last update of each repository")
    async def status() -> Any:
        return service.status()

    @app.websocket("/ws/pack")
    async def ws_pack(ws: WebSocket) -> None:
        if web.refusal(ws.headers) is not None:  # cross-site WebSocket hijacking, DNS rebinding
            await ws.close(code=1008)
            return
        if not _authorized(ws.headers.get("authorization")) and not _authorized(
                f"Bearer {ws.query_params.get('token', '')}"):
            await ws.close(code=1008)
            return
        await ws.accept()
        current: tuple[asyncio.Task[None], threading.Event] | None = None
        try:
            while True:
                text = await ws.receive_text()
                if current is not None:  # interrupt and redirect: it stops at its next step and says "cancelled"
                    current[1].set()
                cancel = threading.Event()
                current = (asyncio.create_task(_stream(ws, service, text, cancel)), cancel)
        except WebSocketDisconnect:
            pass
        finally:
            if current is not None:
                current[1].set()
                current[0].cancel()

    return app


async def _stream(ws: Any, service: Service, text: str, cancel: threading.Event) -> None:
    """One streamed pack: ``header`` (request accepted), one ``file`` message per packed file in
    the pack's order, each sent as soon as it is decided, then ``summary`` with exact totals.
    A cancelled pack sends ``cancelled``."""
    rid = None
    try:
        if len(text) > MAX_BODY_BYTES:
            raise ConfigError(f"message over {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(text)
        except ValueError:
            raise ConfigError("message is not valid JSON") from None
        rid = body.pop("id", None) if isinstance(body, dict) else None
        if cancel.is_set():
            raise Cancelled("replaced before it started")
        req = _parse_pack(body)
        rs = service.get(req["repo"])
        await ws.send_json({"type": "header", "id": rid, "query": req["query"], "repo": str(rs.root),
                            "budget": req["budget"] or rs.cfg.budget, "encoding": rs.cfg.encoding,
                            "lanes": rs.repo.lanes()})
        # The pack runs on a thread and hands over each file as soon as it is decided.
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[PackedFile | None] = asyncio.Queue()

        def on_file(pf: PackedFile) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, pf)

        def finished(job: asyncio.Future[Pack | None]) -> None:  # runs after every on_file callback
            queue.put_nowait(None)
            if not job.cancelled():
                job.exception()  # retrieved (and raised below) or, for an abandoned stream, dropped

        job = asyncio.ensure_future(asyncio.to_thread(lambda: None if cancel.is_set() else service.pack(
            req["repo"], req["query"], budget=req["budget"], fmt="json", focus=req["focus"], cursor=req["cursor"],
            wait_embeddings=req["wait_embeddings"], should_stop=cancel.is_set, on_file=on_file)))
        job.add_done_callback(finished)
        while (pf := await queue.get()) is not None:
            if cancel.is_set():
                raise asyncio.CancelledError
            await ws.send_json({"type": "file", "id": rid, **file_to_dict(pf), "text": pf.text})
        p = job.result()
        if p is None or cancel.is_set():
            raise asyncio.CancelledError
        d = pack_to_dict(p)
        d.pop("files")
        await ws.send_json({"type": "summary", "id": rid, **d})
    except (asyncio.CancelledError, Cancelled):
        try:
            await ws.send_json({"type": "cancelled", "id": rid})
        except Exception:
            pass
    except CtxpackError as exc:
        await ws.send_json({"type": "error", "id": rid, "error": str(exc), "status": exc.http_status})
    except Exception as exc:  # report, never leave the client waiting
        log.exception("streamed pack failed")
        await ws.send_json({"type": "error", "id": rid, "error": f"internal error: {type(exc).__name__}", "status": 500})


def _version() -> str:
    from .. import __version__

    return __version__


def serve(service: Service, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          allow_origins: tuple[str, ...] = (), sock: Any = None) -> None:
    """Run the server until interrupted (blocking).

    ``sock``: a socket from ``bind(host, port)`` (a caller binds first to fail fast); else bound here.

    Raises:
        ConfigError: a non-loopback ``host`` without a token.
        CtxpackError: the address cannot be bound (the port is in use, ...).
    """
    if host not in LOOPBACK and not token:
        raise ConfigError(f"binding {host} exposes your code: set --token (or CTXPACK_TOKEN) to require auth")
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependency("the server needs uvicorn. Install: pip install 'ctxpack[server]'") from exc
    sock = sock if sock is not None else bind(host, port)
    app = create_app(service, token, host=host, allow_origins=allow_origins)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ws_max_size=MAX_BODY_BYTES,
                            limit_concurrency=256)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def bind(host: str, port: int) -> Any:
    """A TCP socket bound to ``host:port`` and listening (uvicorn serves on it).

    Bound here rather than by uvicorn, which logs a raw error and exits when the port is taken.

    Raises:
        CtxpackError: the address cannot be bound.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve --host {host}: {exc.strerror}. Use an address such as 127.0.0.1") from None
    family, kind, proto, _name, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        import errno

        if exc.errno == errno.EADDRINUSE:
            raise CtxpackError(f"port {port} on {host} is already in use. Pick another with --port, "
                               "or stop the program using it") from None
        raise CtxpackError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)  # connections queue from now on, before the app is up
    sock.set_inheritable(True)
    return sock
