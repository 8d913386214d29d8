"""The warm server over real HTTP and WebSocket on an ephemeral loopback port, and MCP over stdio."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
import uvicorn  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from helpers import wait_for
from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from ctxpack.cli import main  # noqa: E402
from ctxpack.errors import ConfigError  # noqa: E402
from ctxpack.serve.http import create_app, serve  # noqa: E402
from ctxpack.serve.service import Service  # noqa: E402
from ctxpack.serve.watch import watch_repos  # noqa: E402
from ctxpack.tokens import get_counter  # noqa: E402

QUERY = "add a discount code to checkout"
TOKEN = "s3cret-token"


class _Server:
    def __init__(self, svc: Service, token: str | None = None) -> None:
        self.svc = svc
        cfg = uvicorn.Config(create_app(svc, token), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 20, 0.02, "the server to start")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live(shop: Path) -> Iterator[_Server]:
    svc = Service([str(shop)])
    svc.load()
    stop = threading.Event()
    watch_repos(list(svc.repos.values()), stop)
    srv = _Server(svc)
    yield srv
    stop.set()
    srv.stop()
    svc.close()


def test_pack_is_the_cli_json(live: _Server, shop: Path) -> None:
    r = httpx.post(f"{live.url}/pack", json={"query": QUERY, "budget": 6000})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    cli = CliRunner().invoke(main, ["pack", str(shop), "--query", QUERY, "--budget", "6000", "--format", "json"])
    assert r.json() == json.loads(cli.stdout)
    doc = r.json()
    assert doc["tokens"] == get_counter("o200k_base").count(doc["context"]) <= 6000


def test_search_files_health_status(live: _Server, shop: Path) -> None:
    hits = httpx.post(f"{live.url}/search", json={"query": "charge_with_retry", "k": 3}).json()["hits"]
    assert len(hits) == 3 and any("charge_with_retry" in h["symbols"] for h in hits)
    files = httpx.get(f"{live.url}/files").json()["files"]
    assert {"shop/services/checkout.py", "shop/models/cart.py"} <= {f["path"] for f in files}
    assert httpx.get(f"{live.url}/health").json() == {"ok": True}
    st = httpx.get(f"{live.url}/status").json()["repos"][0]
    assert st["state"] == "ready" and st["files"] == len(files) and st["lanes"]["lexical"] is True
    assert st["root"] == str(shop.resolve())
    assert httpx.get(f"{live.url}/openapi.json").json()["paths"].keys() >= {"/pack", "/search", "/files", "/status"}


def test_focus_and_cursor_favour_the_edited_file(live: _Server) -> None:
    base = httpx.post(f"{live.url}/pack", json={"query": "rename a field", "budget": 3000}).json()
    focused = httpx.post(f"{live.url}/pack", json={"query": "rename a field", "budget": 3000,
                                                   "focus": ["shop/models/customer.py"],
                                                   "cursor": {"path": "shop/models/customer.py", "line": 12}}).json()
    assert focused["files"][0]["path"] == "shop/models/customer.py"
    assert "focus file (being edited)" in focused["files"][0]["reasons"]
    assert base["files"][0]["path"] != "shop/models/customer.py"


def test_an_edit_shows_in_the_next_pack(live: _Server, shop: Path) -> None:
    target = shop / "shop/services/pricing.py"
    target.write_text(target.read_text() + "\n\ndef zanzibar_surcharge(total):\n    return total * 2\n")
    got: dict = {}

    def reflected() -> bool:
        got["doc"] = httpx.post(f"{live.url}/pack", json={"query": "change zanzibar_surcharge", "budget": 4000}).json()
        top = got["doc"]["files"][0]
        return top["path"] == "shop/services/pricing.py" and any("zanzibar_surcharge" in r for r in top["reasons"])

    wait_for(reflected, 15, what="the edit to reach the served pack")
    doc = got["doc"]
    assert "zanzibar_surcharge" in doc["context"]


def test_websocket_streams_header_files_summary_and_cancels(live: _Server) -> None:
    with connect(f"ws://127.0.0.1:{live.port}/ws/pack") as ws:
        ws.send(json.dumps({"id": "a", "query": QUERY, "budget": 6000}))
        msgs = []
        while not msgs or msgs[-1]["type"] not in ("summary", "error"):
            msgs.append(json.loads(ws.recv(timeout=20)))
        assert [m["type"] for m in msgs][0] == "header" and msgs[-1]["type"] == "summary"
        files = [m for m in msgs if m["type"] == "file"]
        http = httpx.post(f"{live.url}/pack", json={"query": QUERY, "budget": 6000}).json()
        assert [f["path"] for f in files] == [f["path"] for f in http["files"]]
        assert msgs[-1]["tokens"] == http["tokens"] <= 6000 and msgs[-1]["context"] == http["context"]

        slow = "checkout " * 100_000  # a long instruction: still being ranked when the next one arrives
        ws.send(json.dumps({"id": "slow", "query": slow, "budget": 6000}))
        ws.send(json.dumps({"id": "b", "query": QUERY, "budget": 3000}))
        seen = []  # the replaced request says "cancelled" when it reaches its next step: maybe after b is done
        while not ({"type": "cancelled", "id": "slow"} in seen
                   and any(m["type"] == "summary" and m["id"] == "b" for m in seen)):
            seen.append(json.loads(ws.recv(timeout=60)))
        assert not [m for m in seen if m["id"] == "slow" and m["type"] in ("file", "summary")]
        assert next(m for m in seen if m["type"] == "summary" and m["id"] == "b")["tokens"] <= 3000


def test_bad_requests_get_one_line_errors(live: _Server) -> None:
    u = live.url
    assert httpx.post(f"{u}/pack", content=b"{not json", headers={"Content-Type": "application/json"}).json() == {
        "error": "request body is not valid JSON"}
    r = httpx.post(f"{u}/pack", json={"query": "x", "budget": 10**9})
    assert r.status_code == 400 and "budget" in r.json()["error"]
    assert httpx.post(f"{u}/pack", json={"query": "x", "colour": 1}).status_code == 400
    assert httpx.post(f"{u}/pack", json={"query": ""}).status_code == 400
    assert httpx.post(f"{u}/pack", content=b"x" * 2_100_000).status_code == 413
    r = httpx.post(f"{u}/pack", json={"query": "x", "focus": ["../../etc/passwd"]})
    assert r.status_code == 400 and r.json()["error"].startswith("path outside the repository")
    r = httpx.post(f"{u}/pack", json={"query": "x", "repo": "/etc"})
    assert r.status_code == 400 and "not served" in r.json()["error"]
    assert httpx.get(f"{u}/files", params={"repo": "/"}).status_code == 400


def test_bearer_token_required_when_set(shop: Path) -> None:
    svc = Service([str(shop)])
    svc.load()
    srv = _Server(svc, token=TOKEN)
    try:
        assert httpx.post(f"{srv.url}/pack", json={"query": QUERY}).status_code == 401
        assert httpx.get(f"{srv.url}/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.post(f"{srv.url}/pack", json={"query": QUERY, "budget": 2000},
                        headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["tokens"] <= 2000
        assert httpx.get(f"{srv.url}/health").status_code == 200  # liveness stays open
        with pytest.raises(InvalidStatus) as refused:
            with connect(f"ws://127.0.0.1:{srv.port}/ws/pack") as ws:
                ws.send(json.dumps({"query": QUERY}))
                ws.recv(timeout=5)
        assert refused.value.response.status_code == 403
        with connect(f"ws://127.0.0.1:{srv.port}/ws/pack",
                     additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            ws.send(json.dumps({"query": QUERY, "budget": 2000}))
            assert json.loads(ws.recv(timeout=20))["type"] == "header"
        with connect(f"ws://127.0.0.1:{srv.port}/ws/pack?token={TOKEN}") as ws:  # documented for browsers
            ws.send(json.dumps({"query": QUERY, "budget": 2000}))
            assert json.loads(ws.recv(timeout=20))["type"] == "header"
    finally:
        srv.stop()
        svc.close()


def test_binding_beyond_loopback_needs_a_token(shop: Path) -> None:
    svc = Service([str(shop)])
    with pytest.raises(ConfigError, match="--token"):
        serve(svc, host="0.0.0.0", port=0, token=None)


def test_several_repositories_are_named(indexed_samples: dict[str, Path]) -> None:
    svc = Service([str(indexed_samples["shop_api"]), str(indexed_samples["ratelimit_go"])])
    svc.load()
    with pytest.raises(ConfigError, match="several repositories"):
        svc.pack(None, QUERY)
    p = svc.pack("ratelimit_go", "token bucket refill rate", budget=3000)
    assert p.files[0].path.startswith("internal/limiter/")
    srv = _Server(svc)
    try:  # one request across both: each ranked alone, merged by score, paths prefixed by repository
        body = {"query": "limit checkout requests with a token bucket", "budget": 6000, "repo": "all"}
        got = httpx.post(f"{srv.url}/pack", json=body).json()
        assert {f["path"].split("/", 1)[0] for f in got["files"] if f["mode"] != "map"} == {"shop_api", "ratelimit_go"}
        assert got["tokens"] <= 6000
        same = httpx.post(f"{srv.url}/pack", json={**body, "repo": ["ratelimit_go", "shop_api"]}).json()
        assert same["context"] == got["context"]
        bad = httpx.post(f"{srv.url}/pack", json={**body, "repo": ["shop_api", "nope"]})
        assert bad.status_code == 400 and "not served: nope" in bad.json()["error"]
        bad = httpx.post(f"{srv.url}/pack", json={**body, "focus": ["shop_api/../../etc/passwd"]})
        assert bad.status_code == 400 and "outside" in bad.json()["error"]
    finally:
        srv.stop()
        svc.close()


def test_serve_a_multi_repository_index(indexed_samples: dict[str, Path], tmp_path: Path) -> None:
    from ctxpack.cli.serve import service_for as _service

    roots = [str(indexed_samples["shop_api"]), str(indexed_samples["ratelimit_go"])]
    idx = tmp_path / "idx"
    r = CliRunner().invoke(main, ["index", "--index-dir", str(idx), *roots], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    svc = _service(("all",), True, None, None, str(idx), False)
    try:
        st = svc.status()["repos"]
        assert sorted(x["name"] for x in st) == ["ratelimit_go", "shop_api"]
        assert all(x["index_dir"].startswith(str(idx / "repos")) for x in st)
        p = svc.pack("all", "token bucket refill rate", budget=3000)
        assert p.files[0].path.startswith("ratelimit_go/internal/limiter/")
    finally:
        svc.close()
    with pytest.raises(ConfigError, match="unknown repository"):
        _service(("nope",), True, None, None, str(idx), False)


def test_mcp_stdio_session(shop: Path) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async def session() -> tuple[list[str], str, str]:
        params = StdioServerParameters(command=sys.executable, args=["-m", "ctxpack", "mcp", str(shop)],
                                       env={**os.environ, "CTXPACK_EMBED": "0"})
        async with Client(params) as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            packed = await client.call_tool("pack_context", {"query": QUERY, "budget": 4000})
            status = await client.call_tool("index_status", {})
            return tools, packed.content[0].text, status.content[0].text

    tools, packed, status = asyncio.run(asyncio.wait_for(session(), 120))
    assert {"pack_context", "search_code", "index_status"} <= set(tools)
    assert '<file path="shop/services/checkout.py"' in packed
    summary = json.loads(packed.rsplit("\n", 1)[1])
    assert summary["tokens"] <= 4000 and summary["files"][0]["path"] == "shop/services/checkout.py"
    assert json.loads(status)["repos"][0]["state"] == "ready"


def test_watch_command_reindexes_on_save(shop: Path) -> None:
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "ctxpack", "watch", str(shop)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CTXPACK_EMBED": "0"})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("Watching"), line
        (shop / "shop/services/loyalty.py").write_text("def award_points(order):\n    return order.total // 100\n")
        line = proc.stderr.readline()  # blocks until the watcher reports the update
        # One readable line, not a Python dict (issue 18).
        import re

        assert re.fullmatch(r"Updated shop_api: \d+ changes?; 29 files indexed; lanes: lexical\n", line), line
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr is not None:
            proc.stderr.close()
    from ctxpack import load_config, open_repo

    assert "shop/services/loyalty.py" in open_repo(shop, load_config(shop), refresh=False).snapshot.files


# ---- issue 18: web pages, search redaction, MCP errors, shutdown ---------------------------------

def test_web_pages_cannot_reach_a_token_less_server(live: _Server) -> None:
    """DNS rebinding (a foreign Host), cross-site requests and WebSocket hijacking (a foreign
    Origin) and "simple" text/plain POSTs are refused; programs (httpx, no Origin) still work."""
    u = live.url
    body = json.dumps({"query": QUERY, "budget": 2000})
    r = httpx.post(f"{u}/pack", content=body, headers={"Host": "attacker.example", "Content-Type": "application/json"})
    assert r.status_code == 403 and "Host" in r.json()["error"]
    assert httpx.get(f"{u}/status", headers={"Host": "attacker.example:8765"}).status_code == 403
    r = httpx.post(f"{u}/pack", content=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json() == {"error": "Content-Type must be application/json"}
    assert httpx.post(f"{u}/pack", content=body).status_code == 415  # no type at all
    r = httpx.post(f"{u}/search", json={"query": "checkout"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "Origin" in r.json()["error"]
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"ws://127.0.0.1:{live.port}/ws/pack", origin="https://evil.example") as ws:
            ws.send(body)
            ws.recv(timeout=5)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        with connect(f"ws://127.0.0.1:{live.port}/ws/pack", additional_headers={"Host": "attacker.example"}) as ws:
            ws.recv(timeout=5)
    # The server's own origin (its /docs page) and plain clients pass.
    own = httpx.post(f"{u}/pack", content=body, headers={"Content-Type": "application/json; charset=utf-8",
                                                          "Origin": u})
    assert own.status_code == 200 and own.json()["tokens"] <= 2000
    assert httpx.post(f"http://localhost:{live.port}/pack", json={"query": QUERY, "budget": 2000}).status_code == 200
    with connect(f"ws://127.0.0.1:{live.port}/ws/pack") as ws:
        ws.send(body)
        assert json.loads(ws.recv(timeout=20))["type"] == "header"


def test_allowed_origins_are_configurable(shop: Path) -> None:
    from ctxpack.serve.http_guard import parse_origins

    svc = Service([str(shop)])
    svc.load()
    srv = _Server.__new__(_Server)
    srv.svc = svc
    cfg = uvicorn.Config(create_app(svc, allow_origins=parse_origins(["http://localhost:3000, https://ide.example"])),
                         host="127.0.0.1", port=0, log_level="warning")
    srv.server = uvicorn.Server(cfg)
    srv.thread = threading.Thread(target=srv.server.run, daemon=True)
    srv.thread.start()
    try:
        while not srv.server.started:
            time.sleep(0.02)
        port = srv.server.servers[0].sockets[0].getsockname()[1]
        with connect(f"ws://127.0.0.1:{port}/ws/pack", origin="https://ide.example") as ws:
            ws.send(json.dumps({"query": QUERY, "budget": 2000}))
            assert json.loads(ws.recv(timeout=20))["type"] == "header"
        ok = httpx.get(f"http://127.0.0.1:{port}/status", headers={"Origin": "http://localhost:3000"})
        assert ok.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/status", headers={"Origin": "null"}).status_code == 403
    finally:
        srv.stop()
        svc.close()
    with pytest.raises(ConfigError, match="not an origin"):
        parse_origins(["evil.example"])
    r = CliRunner().invoke(main, ["serve", str(shop), "--allow-origin", "ide.example"])
    assert r.exit_code == 2 and r.stderr.startswith("Error: not an origin: 'ide.example'")


def _secret_repo(shop: Path) -> Path:
    (shop / "shop" / "deploy_settings.py").write_text(
        '"""Deployment settings for checkout."""\n\n'
        'CHECKOUT_GATEWAY_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n'
        'CHECKOUT_GITHUB_TOKEN = "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234"\n'
        "CHECKOUT_DB_COMMAND = 'mysql -u shop -pCheckoutDbPw9 shop'\n")
    return shop


SEARCH_SECRETS = ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234", "CheckoutDbPw9")


def test_search_is_redacted_like_pack(shop: Path) -> None:
    root = _secret_repo(shop)
    svc = Service([str(root)])
    svc.load()
    srv = _Server(svc)
    try:
        r = httpx.post(f"{srv.url}/search", json={"query": "checkout gateway key github token db command", "k": 50})
        assert r.status_code == 200
        hits = r.json()["hits"]
        assert any(h["path"] == "shop/deploy_settings.py" for h in hits)
        assert not [s for s in SEARCH_SECRETS if s in r.text]
        assert "[REDACTED:" in r.text
    finally:
        srv.stop()
        svc.close()
    # --no-redact (the user's choice) keeps the text as it is.
    raw = Service([str(root)], redact=False)
    raw.load()
    try:
        assert SEARCH_SECRETS[0] in json.dumps(raw.search(None, "checkout gateway key", 50))
    finally:
        raw.close()


def test_mcp_errors_are_tool_errors_for_agents(shop: Path) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from ctxpack import __version__

    root = _secret_repo(shop)

    async def session() -> dict[str, object]:
        params = StdioServerParameters(command=sys.executable, args=["-m", "ctxpack", "mcp", str(root)],
                                       env={**os.environ, "CTXPACK_EMBED": "0"})
        async with Client(params) as client:
            out: dict[str, object] = {"info": client.server_info}
            out["unknown_repo"] = await client.call_tool("pack_context", {"query": QUERY, "repo": "nope"})
            out["empty"] = await client.call_tool("pack_context", {"query": "  "})
            out["bad_k"] = await client.call_tool("search_code", {"query": "checkout", "k": 0})
            out["ok"] = await client.call_tool("pack_context", {"query": QUERY, "budget": 4000})
            out["search"] = await client.call_tool("search_code", {"query": "checkout gateway key token", "k": 50})
            return out

    got = asyncio.run(asyncio.wait_for(session(), 120))
    info = got["info"]
    assert info.name == "ctxpack" and info.version == __version__  # type: ignore[attr-defined]
    for name in ("unknown_repo", "empty", "bad_k"):
        res = got[name]
        text = res.content[0].text  # type: ignore[attr-defined]
        assert res.is_error, (name, text)  # type: ignore[attr-defined]
        assert "--" not in text and "ctxpack " not in text, text  # no command-line hints for an agent
    assert "Pass repo as one of the served repositories" in got["unknown_repo"].content[0].text  # type: ignore[attr-defined]
    assert "call it again" in got["bad_k"].content[0].text  # type: ignore[attr-defined]
    ok = got["ok"]
    assert not ok.is_error and ok.structured_content is None and len(ok.content) == 1  # type: ignore[attr-defined]
    search = got["search"].content[0].text  # type: ignore[attr-defined]
    assert "deploy_settings.py" in search and not [s for s in SEARCH_SECRETS if s in search]


def test_a_busy_port_is_a_one_line_error(shop: Path) -> None:
    import socket
    import subprocess

    env = {**os.environ, "CTXPACK_EMBED": "0"}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "ctxpack", "serve", str(shop), "--port", str(port)],
                           capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"Error: port {port} on 127.0.0.1 is already in use. Pick another with --port, " \
                       "or stop the program using it\n"


def test_sigterm_stops_the_server_cleanly(shop: Path) -> None:
    """uvicorn re-raises SIGTERM after its shutdown: the service must close first (else the
    worker pool's semaphores leaked, with a warning on every stop)."""
    import signal
    import socket
    import subprocess

    env = {**os.environ, "CTXPACK_EMBED": "0"}
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ctxpack", "serve", str(shop), "--port", str(port)],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("Serving 1 repository")
        deadline = time.monotonic() + 30
        while True:  # (listening as soon as "Serving" is printed; a retry keeps this test about shutdown)
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json() == {"ok": True}
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)  # as `kill`, systemd or docker stop it
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "leaked" not in err and "Traceback" not in err, err


def test_guard_parses_hosts_and_origins() -> None:
    from ctxpack.serve.http_guard import Guard, parse_origins

    g = Guard("127.0.0.1", parse_origins(["vscode-webview://abc, http://localhost:3000/"]))
    for ok in ("127.0.0.1:8765", "localhost:8765", "LOCALHOST.:1", "[::1]:8765", "127.0.0.1", None):
        assert g.host_ok(ok), ok
    for bad in ("attacker.example", "127.0.0.1.nip.io:8765", "localhost.attacker.example", "[::2]:8765"):
        assert not g.host_ok(bad), bad
    assert g.origin_ok(None, "127.0.0.1:8765") and g.origin_ok("http://127.0.0.1:8765", "127.0.0.1:8765")
    assert g.origin_ok("vscode-webview://abc", "127.0.0.1:8765") and g.origin_ok("http://localhost:3000", None)
    assert not g.origin_ok("http://127.0.0.1:9999", "127.0.0.1:8765")  # another local port is another site
    assert not g.origin_ok("http://attacker.example:8765", "attacker.example:8765")  # rebinding
    assert not g.origin_ok("null", "127.0.0.1:8765")
    assert Guard("0.0.0.0").host_ok("build-box.internal:8765")  # a wildcard bind (token required) takes any name
    assert Guard("127.0.0.1").body_refusal("POST", {"content-type": "text/plain;charset=UTF-8"})[0] == 415
    assert Guard("127.0.0.1").body_refusal("GET", {}) is None
