"""An MCP server (the official ``mcp`` SDK, stdio transport) over a ``Service``.

Tools: ``pack_context(query, budget, focus_files, repo)``, ``search_code(query, k, repo)``
and ``index_status()``. The repositories are watched and kept current while it runs.
Logs go to stderr; stdout carries only the protocol.

A failed call is an MCP tool error (``isError: true``) worded for the calling agent: what
failed, and which argument to change or whether to retry; never a command-line hint.
Results are text only: no ``structuredContent`` repeating the pack.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from ..errors import (
    BudgetError,
    ConfigError,
    CtxpackError,
    IndexCorrupt,
    IndexLocked,
    IndexNotFound,
    IndexOutdated,
    MissingDependency,
)
from ..render import render
from .service import Service

__all__ = ["agent_message", "build_mcp", "run_mcp"]

_MIN_BUDGET = re.compile(r"Use --budget (\d+) or more")


def agent_message(exc: CtxpackError, tool: str) -> str:
    """``exc`` as an agent can act on it: what failed, then what to do with the tool's arguments."""
    text = str(exc)
    what = text.split(". ")[0].rstrip(".")
    m = _MIN_BUDGET.search(text)
    if isinstance(exc, BudgetError) or m:
        return f"{what}. Call {tool} again with budget={m.group(1) if m else 'a larger value'} or more."
    if isinstance(exc, ConfigError):
        if "not served" in text or "several repositories" in text:
            served = text.split("Served: ", 1)[1] if "Served: " in text else ""
            return f"{what}. Pass repo as one of the served repositories{': ' + served if served else ''}" \
                   " (index_status lists them)."
        return f"{what}. Fix this argument of {tool} and call it again."
    if isinstance(exc, (IndexNotFound, IndexOutdated, IndexCorrupt, IndexLocked)) or "still loading" in text:
        return f"{what}. The index is not ready: call index_status, wait a few seconds and retry."
    if isinstance(exc, MissingDependency):
        return f"{what}. The ctxpack server lacks a component; tell the user: {text.split('. ', 1)[-1]}"
    return f"{what}. This is a problem of the ctxpack server, not of the request; tell the user."


def _tool_error(exc: CtxpackError, tool: str) -> Exception:
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(agent_message(exc, tool))


def build_mcp(service: Service) -> Any:
    """The MCP server object with ctxpack's tools registered."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as exc:
        raise MissingDependency("MCP needs the mcp SDK. Install: pip install 'ctxpack[server]'") from exc

    from .. import __version__

    mcp = MCPServer(name="ctxpack", version=__version__, instructions=(
        "ctxpack packs the files a code edit needs into a token budget. Call pack_context with the edit "
        "instruction before editing; use search_code to find code by meaning or identifiers."))

    @mcp.tool(structured_output=False)
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
            raise _tool_error(exc, "pack_context") from None
        summary = {"tokens": p.tokens, "budget": p.budget, "lanes": p.lanes,
                   "files": [{"path": f.path, "mode": f.mode, "tokens": f.tokens, "reasons": list(f.reasons)}
                             for f in p.files]}
        return render(p) + "\n" + json.dumps(summary)

    @mcp.tool(structured_output=False)
    def search_code(query: str, k: int = 10, repo: str | None = None) -> str:
        """Find code chunks for a query (identifier-aware BM25 fused with semantic search). JSON list."""
        try:
            if not query.strip():
                raise ConfigError("query is empty")
            return json.dumps(service.search(repo, query, k))
        except CtxpackError as exc:
            raise _tool_error(exc, "search_code") from None

    @mcp.tool(structured_output=False)
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
