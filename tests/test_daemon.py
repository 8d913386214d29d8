"""``pack --daemon``: the same output as an in-process pack, current with the files, and
never a reason for a pack to fail."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import wait_for

from ctxpack import build_index, load_config
from ctxpack.pipeline import open_repo, pack_for
from ctxpack.render import render
from ctxpack.serve.daemon_client import is_running, pack_via_daemon, socket_path, stop_daemon
from ctxpack.serve.daemon_server import Daemon

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")

QUERY = "apply a discount code at checkout"


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A short private runtime directory for the sockets (Unix socket paths are limited to ~100 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="cpd", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _cli(*args: str, daemon: bool, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, **(env or {})}
    e.pop("CTXPACK_DAEMON", None)
    return subprocess.run([sys.executable, "-m", "ctxpack", "pack", *args, *(["--daemon"] if daemon else [])],
                          capture_output=True, text=True, env=e, timeout=120)


def test_daemon_packs_exactly_what_the_command_packs(shop: Path, tmp_path: Path, runtime: Path) -> None:
    index = tmp_path / "index"
    args = (str(shop), "--query", QUERY, "--budget", "3000", "--format", "json", "--index-dir", str(index))
    env = {"CTXPACK_DAEMON_IDLE": "120"}
    reference = _cli(*args, daemon=False)  # builds the index
    first = _cli(*args, daemon=True, env=env)  # no daemon yet: packs in-process and starts one
    assert first.returncode == 0, first.stderr
    assert (first.stdout, first.stderr) == (reference.stdout, reference.stderr)
    sock = socket_path(index.resolve())
    assert sock is not None and wait_for(lambda: is_running(index.resolve())), "the daemon did not start"

    log = sock.with_suffix(".log")
    # It loads the repository as it starts, so the next request finds it warm.
    assert wait_for(lambda: "loaded " in log.read_text()), log.read_text()
    served = _cli(*args, daemon=True, env=env)
    assert served.returncode == 0, served.stderr
    assert served.stdout == first.stdout
    assert served.stderr == first.stderr
    assert wait_for(lambda: "packed" in log.read_text())  # the answer came from the daemon
    text = log.read_text()
    assert text.index("loaded ") < text.index("packed")

    # An edit is seen on the next request, exactly as a fresh process sees it.
    checkout = shop / "shop" / "services" / "checkout.py"
    checkout.write_text(checkout.read_text() + "\n\ndef apply_discount_code(order, code):\n    return order\n")
    after = _cli(*args, daemon=True, env=env)
    assert "apply_discount_code" in after.stdout
    assert after.stdout == _cli(*args, daemon=False).stdout

    # Another checkout sharing the index: the daemon starts from the loaded one; a binary
    # file added there is reported as skipped, as an in-process pack reports it.
    other = tmp_path / "other" / "shop_api"
    shutil.copytree(shop, other)
    (other / "shop" / "blob.py").write_bytes(b"\x00\x01binary" * 50)
    (other / "shop" / "services" / "inventory.py").write_text("def reserve_discount_stock():\n    pass\n")
    other_args = (str(other), *args[1:])
    via_daemon = _cli(*other_args, daemon=True, env=env)
    assert via_daemon.returncode == 0, via_daemon.stderr
    assert '"shop/blob.py"' in via_daemon.stdout
    assert via_daemon.stdout == _cli(*other_args, daemon=False).stdout

    # Errors read as they would without the daemon.
    bad = _cli(str(shop), "--query", "   ", "--index-dir", str(index), daemon=True, env=env)
    direct = _cli(str(shop), "--query", "   ", "--index-dir", str(index), daemon=False)
    assert (bad.returncode, bad.stderr) == (direct.returncode, direct.stderr) == (2, direct.stderr)
    assert direct.stderr.startswith("Error: ") and direct.stderr.count("\n") == 1

    # A client from another environment does not use it: the daemon exits, the pack is made in-process.
    other_env = _cli(*args, daemon=True, env={**env, "CTXPACK_CHUNK_NOTE": "x"})
    assert other_env.returncode == 0 and other_env.stdout == after.stdout
    assert wait_for(lambda: not is_running(index.resolve()) or "mismatch" in log.read_text())
    _stop(index.resolve(), sock)


def test_a_daemon_told_to_load_a_bad_repository_still_serves(tmp_path: Path, runtime: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    env = {**os.environ, "CTXPACK_DAEMON_IDLE": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "ctxpack", "daemon", str(index), "--load",
                             json.dumps({"root": str(tmp_path / "missing"), "overrides": {}})],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert wait_for(lambda: is_running(index.resolve())), "the daemon did not start"
    finally:
        assert stop_daemon(index.resolve())
        _, err = proc.communicate(timeout=30)
    assert "could not load" in err and proc.returncode == 0
    bad = subprocess.run([sys.executable, "-m", "ctxpack", "daemon", str(index), "--load", "{not json"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: --load is not JSON") and bad.stderr.count("\n") == 1


def _stop(index: Path, sock: Path) -> None:
    """Stop the daemon (the one the last in-process fallback may have started) and wait for its socket to go."""
    if wait_for(lambda: is_running(index), 5):
        assert stop_daemon(index)
    assert not sock.exists()


def test_no_daemon_or_a_dead_one_means_pack_in_process(tmp_path: Path, runtime: Path) -> None:
    index = tmp_path / "index"
    assert pack_via_daemon(index, {"root": "x"}) is None  # nothing listening
    sock = socket_path(index)
    assert sock is not None
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))  # a socket file left by a daemon that died
    dead.close()
    assert pack_via_daemon(index, {"root": "x"}) is None


def test_runtime_dir_open_to_others_is_not_used(runtime: Path) -> None:
    d = runtime / f"ctxpack-{os.getuid()}"
    d.mkdir(mode=0o700)
    os.chmod(d, 0o777)
    assert socket_path(Path("/some/index")) is None


def test_a_sibling_checkout_starts_from_the_loaded_one(shop: Path, tmp_path: Path) -> None:
    """In memory, without a subprocess: a second tree under the same index reuses the loaded
    repository and re-parses only what differs, and packs what a fresh load of it packs."""
    index = tmp_path / "index"
    cfg = load_config(shop, index_dir=str(index), budget=4000)
    build_index(shop, cfg)
    d = Daemon(index)
    first = d.repo_for(shop.resolve(), cfg)
    other = tmp_path / "b" / "shop_api"
    shutil.copytree(shop, other)
    (other / "shop" / "services" / "pricing.py").unlink()
    (other / "shop" / "coupons.py").write_text("def redeem_coupon(code):\n    return code.upper()\n")
    (other / "shop" / "minified.js").write_text("var a=1;" * 20_000)
    cfg_b = load_config(other, index_dir=str(index), budget=4000)
    served = d.repo_for(other.resolve(), cfg_b)
    assert served.root == other.resolve() and "shop/coupons.py" in served.snapshot.files
    assert "shop/services/pricing.py" not in served.snapshot.files
    assert served._redacted is first._redacted  # content-keyed memos carry over
    fresh = open_repo(other, cfg_b)
    assert served.snapshot.manifest.skipped == fresh.snapshot.manifest.skipped
    for query in ("redeem a coupon code", QUERY):
        assert render(pack_for(served, query)) == render(pack_for(fresh, query))
    # A pack-only option (the budget) does not reload anything.
    again = d.repo_for(other.resolve(), load_config(other, index_dir=str(index), budget=9000))
    assert again.rank_index is served.rank_index and again.cfg.budget == 9000


def test_vectors_embedded_meanwhile_join_the_served_lane(shop: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`ctxpack index` embeds while the daemon holds the repository: the next request uses the
    new vectors, as a new process would (the files did not change, so nothing else reloads)."""
    from ctxpack import embed_index
    from ctxpack.embed.backends import HashEmbedder

    emb = HashEmbedder(64)
    monkeypatch.setattr("ctxpack.embed.lane.dense_ref", lambda cfg, embedder: emb.model_id if cfg.embed else None)
    cfg = load_config(shop, index_dir=str(tmp_path / "index"), embed=True)
    build_index(shop, cfg)
    d = Daemon(tmp_path / "index")
    before = d.repo_for(shop.resolve(), cfg)
    assert before.lanes()["dense"].startswith("0/")
    embed_index(shop, cfg, embedder=emb)
    after = d.repo_for(shop.resolve(), cfg)
    assert after.lanes()["dense"] is True
