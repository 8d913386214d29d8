"""Who may talk to the local server: Host and Origin checks against web pages (issue 18, item 4).

A server on 127.0.0.1 without a token is reachable from every web page the user opens:

- **DNS rebinding.** A page on ``attacker.example`` re-points its name to 127.0.0.1 and then
  talks to the server as "same origin"; its requests carry ``Host: attacker.example``. The
  Host must name the bound address or a loopback name.
- **Cross-site requests and WebSocket hijacking.** A page may send a POST or open a
  WebSocket to any address; the browser adds ``Origin``. A request with an ``Origin`` is
  accepted only from the server's own origin (its ``/docs`` page) or from an origin the user
  allowed (``serve --allow-origin`` / ``CTXPACK_ALLOW_ORIGINS``; none by default).
- **Simple requests.** A page may POST ``text/plain`` without a preflight: a POST must say
  ``Content-Type: application/json``, which a page can only send after a CORS preflight the
  server never grants.

Programs (httpx, curl, editors, agents) send no ``Origin`` and pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError

__all__ = ["Guard", "parse_origins"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARD = frozenset({"0.0.0.0", "::", ""})
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s]+/?")


def _host_name(host_header: str) -> str:
    """The name in a Host header (or an origin's authority), without the port, lowercased."""
    h = host_header.strip().lower()
    if h.startswith("["):  # [::1]:8765
        return h[1:].split("]", 1)[0]
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def parse_origins(values: Iterable[str]) -> tuple[str, ...]:
    """Allowed origins from flags or the environment (comma- or space-separated), normalized."""
    out: list[str] = []
    for v in values:
        for item in v.replace(",", " ").split():
            if not _ORIGIN.fullmatch(item):  # also chrome-extension://ID, vscode-webview://ID
                raise ConfigError(f"not an origin: {item!r}. Use the form http://host:port or https://host")
            out.append(_normal_origin(item))
    return tuple(dict.fromkeys(out))


class Guard:
    """Decides whether a request's Host, Origin and Content-Type are acceptable."""

    def __init__(self, bound_host: str = "127.0.0.1", allow_origins: Iterable[str] = ()) -> None:
        bound = _host_name(bound_host) if bound_host else ""
        # A wildcard bind (0.0.0.0) is only allowed with a token: any name may reach it then.
        self.hosts: frozenset[str] | None = None if bound in _WILDCARD else LOOPBACK_NAMES | {bound}
        self.origins = frozenset(_normal_origin(o) for o in allow_origins)

    def host_ok(self, host_header: str | None) -> bool:
        """The Host names the bound address or a loopback name (a missing Host is an old client)."""
        if self.hosts is None or host_header is None:
            return True
        return _host_name(host_header) in self.hosts

    def origin_ok(self, origin: str | None, host_header: str | None) -> bool:
        """No Origin (not a browser), the server's own origin, or an allowed one."""
        if origin is None:
            return True
        o = _normal_origin(origin)
        if o in self.origins:
            return True
        if host_header and self.host_ok(host_header):
            own = host_header.strip().lower()
            return o in (f"http://{own}", f"https://{own}")
        return False

    def refusal(self, headers: Any) -> tuple[int, str] | None:
        """(403, one-line reason) when the Host or Origin of a request (or WebSocket) is not
        acceptable, else None. ``headers``: a mapping with lowercase names (Starlette's ``Headers``)."""
        host = headers.get("host")
        if not self.host_ok(host):
            return 403, (f"Host {host!r} is not this server's address. Use http://127.0.0.1 or "
                         "http://localhost (a web page re-pointing its name here is refused)")
        origin = headers.get("origin")
        if not self.origin_ok(origin, host):
            return 403, (f"Origin {origin!r} is not allowed. Allow it with ctxpack serve --allow-origin "
                         "(or CTXPACK_ALLOW_ORIGINS)")
        return None

    @staticmethod
    def body_refusal(method: str, headers: Any) -> tuple[int, str] | None:
        """(415, reason) for a POST whose body is not declared JSON (a page's "simple" request), else None."""
        if method != "POST":
            return None
        ctype = (headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        return None if ctype == "application/json" else (415, "Content-Type must be application/json")
