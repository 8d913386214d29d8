"""An MCP server (the official ``mcp`` SDK, stdio transport) over a ``Service``.

Tools: ``pack_context(query, budget, focus_files, repo)``, ``search_code(query, k, repo)``
and ``index_status()``. The repositories are watched and kept current while it runs.
Logs go to stderr; stdout carries only the protocol.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ..errors import CtxpackError, MissingDependency
from ..render import render
from .service import Service

__all__ = ["build_mcp", "run_mcp"]


def build_mcp(service: Service) -> Any:
    """The MCP server object with ctxpack's tools registered."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as exc:
        raise MissingDependency("MCP needs the mcp SDK. Install: pip install 'ctxpack[server]'") from exc

    mcp = MCPServer(name="ctxpack", instructions=(
        "ctxpack packs the files a code edit needs into a token budget. Call pack_context with the edit "
        "instruction before editing; use search_code to find code by meaning or identifiers."))

    @mcp.tool()
    def pack_context(query: str, budget: int = 32000, focus_files: list[str] | None = None,
                     repo: str | None = None) -> str:
        """Pack the repository context an edit needs, within `budget` tokens (o200k_base by default).

        Returns the packed files as XML (<file path=... mode=full|chunks|skeleton>), followed by a JSON
        line listing each file's mode, tokens and the reasons it was chosen. `focus_files` are the files
        being edited (repository-relative); they and their neighbours are favoured. `repo` names one
        served repository, or "all" to pack across every one (paths then start with the repository's name).
        """
        try:
            p = service.pack(repo, query, budget=budget, fmt="xml", focus=tuple(focus_files or ()))
        except CtxpackError as exc:
            return f"Error: {exc}"
        summary = {"tokens": p.tokens, "budget": p.budget, "lanes": p.lanes,
                   "files": [{"path": f.path, "mode": f.mode, "tokens": f.tokens, "reasons": list(f.reasons)}
                             for f in p.files]}
        return render(p) + "\n" + json.dumps(summary)

    @mcp.tool()
    def search_code(query: str, k: int = 10, repo: str | None = None) -> str:
        """Find code chunks for a query (identifier-aware BM25 fused with semantic search). JSON list."""
        try:
            return json.dumps(service.search(repo, query, k))
        except CtxpackError as exc:
            return f"Error: {exc}"

    @mcp.tool()
    def index_status() -> str:
        """State of each served repository's index: files, chunks, lanes, last update. JSON."""
        return json.dumps(service.status())

    return mcp


def run_mcp(service: Service, watch: bool = True) -> None:
    """Serve MCP over stdio until the client disconnects."""
    mcp = build_mcp(service)
    stop = threading.Event()
    if watch:
        from .watch import watch_repos

        watch_repos(list(service.repos.values()), stop)
    try:
        mcp.run("stdio")
    finally:
        stop.set()
        service.close()
