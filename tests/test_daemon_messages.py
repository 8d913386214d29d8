"""Through ``pack --daemon``: the same warnings as in-process, once each, and focus paths from any cwd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ctxpack.serve.daemon_client import is_running, socket_path, stop_daemon

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")


def _cli(*args: str, daemon: bool, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    e = {**os.environ, **env}
    e.pop("CTXPACK_DAEMON", None)
    return subprocess.run([sys.executable, "-m", "ctxpack", "pack", *args, *(["--daemon"] if daemon else [])],
                          capture_output=True, text=True, env=e, timeout=120, cwd=cwd)


def test_daemon_reports_warnings_once_and_takes_cwd_relative_focus(shop: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="cpd", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    env = {"CTXPACK_DAEMON_IDLE": "120", "CTXPACK_EMBED": "0", "XDG_RUNTIME_DIR": str(runtime)}
    index = (tmp_path / "index").resolve()
    (shop / ".ctxpack.toml").write_text("redact = false\n", encoding="utf-8")
    args = (str(shop), "--query", "send a receipt email", "--budget", "3000", "--format", "json",
            "--index-dir", str(index), "--focus", "product.py", "--focus", "gone.py")
    cwd = shop / "shop" / "models"
    try:
        first = _cli(*args, daemon=True, env=env, cwd=cwd)  # in-process; starts the daemon
        assert first.returncode == 0, first.stderr
        assert socket_path(index) is not None
        end = time.monotonic() + 30
        while not is_running(index) and time.monotonic() < end:
            time.sleep(0.1)
        assert is_running(index)
        served = _cli(*args, daemon=True, env=env, cwd=cwd)
        assert served.returncode == 0, served.stderr
        assert (served.stdout, served.stderr) == (first.stdout, first.stderr)
        assert served.stderr.count("ignored redact in .ctxpack.toml") == 1
        assert served.stderr.count("focus file not found: gone.py") == 1
        assert '"focus file (being edited)"' in served.stdout  # shop/models/product.py, named from its folder
    finally:
        stop_daemon(index)
        shutil.rmtree(runtime, ignore_errors=True)
