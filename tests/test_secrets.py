"""No secret reaches the output by default: secret files are excluded, secret strings redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ctxpack.cli import main
from ctxpack.index.secrets import is_secret_file
from ctxpack.render import render

# Fake credentials of the common kinds (well-known documentation examples or random junk).
FAKE = {
    "aws_key_id": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github": "ghp_R2d2C3poR2d2C3poR2d2C3poR2d2C3po1234",
    "slack": "xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx",
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "google": "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "db_password": "s3cr3tP4ssw0rd!",
    "api_token": "9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc",
}
PRIVATE_KEY = "MIIEowIBAAKCAQEA7yn3bRHQ5FHMQ0Zq0Kc6vPGRlS1W1XHP9pSNlJ7Zx1"


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "svc"
    (root / "app").mkdir(parents=True)
    (root / "app" / "settings.py").write_text(
        '"""Service settings for the billing client."""\n\n'
        f'AWS_ACCESS_KEY_ID = "{FAKE["aws_key_id"]}"\n'
        f'AWS_SECRET_ACCESS_KEY = "{FAKE["aws_secret"]}"\n'
        f'GITHUB_TOKEN = "{FAKE["github"]}"\n'
        f'SLACK_BOT_TOKEN = "{FAKE["slack"]}"\n'
        f'STRIPE_KEY = "{FAKE["stripe"]}"\n'
        f'GOOGLE_API_KEY = "{FAKE["google"]}"\n'
        f'SESSION_JWT = "{FAKE["jwt"]}"\n'
        f'DATABASE_URL = "postgres://billing:{FAKE["db_password"]}@db.internal:5432/billing"\n'
        f'api_token = "{FAKE["api_token"]}"\n\n'
        "def billing_client_config():\n    \"\"\"Settings for the billing client.\"\"\"\n"
        "    return {'region': 'eu-west-1', 'retries': 3}\n"
    )
    (root / "app" / "client.py").write_text(
        "from app.settings import billing_client_config\n\n"
        "def make_billing_client():\n    return billing_client_config()\n"
    )
    (root / ".env").write_text(f"STRIPE_KEY={FAKE['stripe']}\nOTHER=1\n")
    (root / ".env.example").write_text("STRIPE_KEY=changeme\n")
    (root / "deploy.pem").write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{PRIVATE_KEY}\n-----END RSA PRIVATE KEY-----\n")
    return root


def test_secret_file_names() -> None:
    for p in (".env", "conf/.env.production", "id_rsa", "keys/server.pem", "a/credentials.json", ".npmrc"):
        assert is_secret_file(p), p
    for p in (".env.example", "id_rsa.pub", "src/secrets.py", "keyboard.py", "tokens.go"):
        assert not is_secret_file(p), p


@pytest.mark.parametrize("fmt", ["xml", "json", "markdown", "plain"])
def test_nothing_secret_reaches_the_output(tmp_path: Path, fmt: str) -> None:
    root = _repo(tmp_path)
    r = CliRunner().invoke(main, ["pack", str(root), "--query", "billing client settings", "--budget", "8000",
                                  "--format", fmt])
    assert r.exit_code == 0, r.stderr
    for name, secret in {**FAKE, "private_key": PRIVATE_KEY}.items():
        assert secret not in r.stdout, f"{name} leaked"
    assert "[REDACTED:" in r.stdout
    assert "billing_client_config" in r.stdout  # the code itself is still there
    if fmt == "json":
        doc = json.loads(r.stdout)
        assert {s["path"] for s in doc["skipped"] if s["reason"].startswith("secret file")} == {".env", "deploy.pem"}
        kinds = {x["type"] for x in doc["redacted"]}
        assert {"AWS Access Key", "Slack Token", "Stripe Access Key", "JSON Web Token", "Basic Auth Credentials"} <= kinds
        assert all(x["path"] == "app/settings.py" and x["line"] > 0 for x in doc["redacted"])
        assert all(set(x) == {"path", "line", "type"} for x in doc["redacted"])
        assert ".env.example" in {f["path"] for f in doc["files"]}
    assert "secrets redacted" in r.stderr


def test_no_redact_turns_it_off(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    r = CliRunner().invoke(main, ["pack", str(root), "--query", "billing client settings", "--budget", "8000",
                                  "--format", "json", "--no-redact"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert FAKE["aws_secret"] in doc["context"] and doc["redacted"] == []
    assert ".env" in {f["path"] for f in doc["files"]}


def test_server_prescan_redacts_the_same(tmp_path: Path) -> None:
    from ctxpack.serve.service import Service

    root = _repo(tmp_path)
    cold = CliRunner().invoke(main, ["pack", str(root), "--query", "billing client settings", "--budget", "8000",
                                     "--format", "json"])
    svc = Service([str(root)])
    svc.load()
    try:
        rs = svc.get(None)
        rs._prepare()  # what load() started in the background, run to the end here
        memo = rs.repo._redacted
        assert {k[0] for k in memo} >= set(rs.repo.snapshot.files)  # every file scanned by the worker
        assert memo[next(k for k in memo if k[0] == "app/settings.py")] is not None  # its secrets are recorded
        assert "app/settings.py" not in rs.repo._clean_files and rs.repo._clean_files  # clean files are known
        warm = render(svc.pack(None, "billing client settings", budget=8000), "json")
    finally:
        svc.close()
    assert json.loads(warm)["context"] == json.loads(cold.stdout)["context"]
    for secret in FAKE.values():
        assert secret not in warm


def test_lines_of_a_file_scanned_clean_skip_the_scan_until_it_changes(tmp_path: Path) -> None:
    import os

    from ctxpack import load_config, open_repo

    root = tmp_path / "svc"
    (root / "app").mkdir(parents=True)
    client = root / "app" / "client.py"
    client.write_text("def fetch(url):\n    return get(url)\n\n\ndef post(url, body):\n    return send(url, body)\n")
    repo = open_repo(root, load_config(root, index_dir=str(tmp_path / "idx")))
    repo.adopt(repo.prepare())
    assert "app/client.py" in repo._clean_files
    assert repo.redact("app/client.py", "def post(url, body):\n", 5) == ("def post(url, body):\n", ())
    # Edited to hold a secret: the stat moved, so its lines are scanned again.
    client.write_text(client.read_text() + f'\nTOKEN = "{FAKE["github"]}"\n')
    os.utime(client, ns=(1, 1))
    text, found = repo.redact("app/client.py", f'TOKEN = "{FAKE["github"]}"\n', 8)
    assert found and FAKE["github"] not in text


def test_a_later_process_skips_texts_found_clean_but_never_a_secret(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What one `pack` scanned and found clean is recorded in the index directory: the next
    process skips scanning it (and importing the scanner). Texts with secrets are never recorded."""
    from ctxpack import load_config, open_repo
    from ctxpack import repo as repo_module
    from ctxpack.index import secrets

    root = _repo(tmp_path)
    cfg = load_config(root, index_dir=str(tmp_path / "idx"))
    clean = "def load(token_store):\n    token = token_store.get('current')\n    return token\n"  # a candidate line
    leaky = (root / "app" / "settings.py").read_text()
    first = open_repo(root, cfg)
    assert first.redact("app/auth.py", clean, 1) == (clean, ())
    assert first.redact("app/settings.py", leaky, 1)[1]
    first.remember_clean()

    def no_scan(*_args: object) -> object:
        raise AssertionError("scanned again")

    later = open_repo(root, cfg)
    monkeypatch.setattr(repo_module, "redact_secrets", no_scan)
    assert later.redact("app/auth.py", clean, 1) == (clean, ())
    with pytest.raises(AssertionError, match="scanned again"):
        later.redact("app/settings.py", leaky, 1)  # had secrets: not recorded, scanned every time
    with pytest.raises(AssertionError, match="scanned again"):
        later.redact("app/other.py", clean, 1)  # the record is per path and text
    # A record from another scanner (ctxpack or detect-secrets changed) is not trusted; nor a damaged one.
    monkeypatch.setattr(secrets, "_scanner_id", lambda: "another scanner")
    assert secrets.load_clean(tmp_path / "idx") == {}
    monkeypatch.undo()
    # The record keeps the most recent keys.
    monkeypatch.setattr(secrets, "_CLEAN_MAX", 3)
    secrets.save_clean(tmp_path / "idx", dict.fromkeys(("p", i, b"") for i in range(5)))
    assert list(secrets.load_clean(tmp_path / "idx")) == [("p", 2, b""), ("p", 3, b""), ("p", 4, b"")]
    (tmp_path / "idx" / "clean-scans.pkl").write_bytes(b"\x80garbage")
    assert secrets.load_clean(tmp_path / "idx") == {}
