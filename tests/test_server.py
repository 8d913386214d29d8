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
from websockets.exceptions import InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from ctxpack.cli import main  # noqa: E402
from ctxpack.errors import ConfigError  # noqa: E402
from ctxpack.server import create_app, serve  # noqa: E402
from ctxpack.service import Service  # noqa: E402
from ctxpack.tokens import get_counter  # noqa: E402
from ctxpack.watch import watch_repos  # noqa: E402

QUERY = "add a discount code to checkout"
TOKEN = "s3cret-token"


class _Server:
    def __init__(self, svc: Service, token: str | None = None) -> None:
        self.svc = svc
        cfg = uvicorn.Config(create_app(svc, token), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
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
    deadline = time.monotonic() + 15
    while True:
        doc = httpx.post(f"{live.url}/pack", json={"query": "change zanzibar_surcharge", "budget": 4000}).json()
        top = doc["files"][0]
        if top["path"] == "shop/services/pricing.py" and any("zanzibar_surcharge" in r for r in top["reasons"]):
            break
        assert time.monotonic() < deadline, f"edit never reflected: {top}"
        time.sleep(0.05)
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
    from ctxpack.cli import _service

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
        assert line.startswith("Updated shop_api: ") and "29 files" in line, line
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr is not None:
            proc.stderr.close()
    from ctxpack import load_config, open_repo

    assert "shop/services/loyalty.py" in open_repo(shop, load_config(shop), refresh=False).snapshot.files
