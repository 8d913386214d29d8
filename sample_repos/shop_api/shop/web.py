"""A deliberately tiny, flask-flavoured routing layer.

It is just enough to declare handlers with decorators and dispatch a
:class:`Request` to them, so the shop can be exercised without a real web
framework. ``Router.route`` patterns support ``<name>`` path parameters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from shop.errors import ShopError

Handler = Callable[..., "Response"]


@dataclass
class Request:
    method: str
    path: str
    json: Dict[str, Any] = field(default_factory=dict)
    args: Dict[str, str] = field(default_factory=dict)
    headers: Dict[str, str] = field(default_factory=dict)

    @property
    def session_id(self) -> Optional[str]:
        return self.headers.get("X-Session-Id")


@dataclass
class Response:
    body: Any
    status: int = 200

    def json_text(self) -> str:
        return json.dumps(self.body, default=str)


def jsonify(body: Any, status: int = 200) -> Response:
    return Response(body=body, status=status)


def error_response(exc: ShopError) -> Response:
    return Response(body=exc.to_dict(), status=exc.http_status)


class Router:
    """Collects ``(method, pattern, handler)`` triples under a URL prefix."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.rstrip("/")
        self.routes: List[Tuple[str, re.Pattern, Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        regex = re.compile("^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", self.prefix + pattern) + "$")

        def decorator(handler: Handler) -> Handler:
            self.routes.append((method.upper(), regex, handler))
            return handler

        return decorator

    def get(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route("GET", pattern)

    def post(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route("POST", pattern)

    def delete(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route("DELETE", pattern)


class App:
    def __init__(self) -> None:
        self.routers: List[Router] = []

    def register(self, router: Router) -> None:
        self.routers.append(router)

    def dispatch(self, request: Request) -> Response:
        """Find the matching handler; ShopErrors become JSON error responses."""
        for router in self.routers:
            for method, regex, handler in router.routes:
                match = regex.match(request.path)
                if match and method == request.method.upper():
                    try:
                        return handler(request, **match.groupdict())
                    except ShopError as exc:
                        return error_response(exc)
        return Response(body={"error": "not_found", "message": f"no route for {request.path}"}, status=404)
