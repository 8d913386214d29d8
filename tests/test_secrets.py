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


# ---- issue 18: whole key blocks, keys in any file, command-line passwords ------------------------

def _b64_lines(seed: str, n: int) -> list[str]:
    """A fake PEM body: n lines of 64 base64 characters (random junk, not a key)."""
    import base64
    import hashlib

    raw = b"".join(hashlib.sha256(f"{seed}{i}".encode()).digest() for i in range(n * 2))
    text = "MIIE" + base64.b64encode(raw).decode()
    return [text[i * 64:(i + 1) * 64] for i in range(n)]


KEY_BODY = {name: _b64_lines(name, 6) for name in ("txt", "json", "yaml", "py", "noend")}
CMD_SECRETS = ["S3cretDbPw", "pg_s3cret_pw", "Another_pw1", "curlpw_77"]


def _pem(body: list[str], label: str = "RSA PRIVATE KEY") -> str:
    return f"-----BEGIN {label}-----\n" + "\n".join(body) + f"\n-----END {label}-----\n"


def _hostile_repo(tmp_path: Path) -> Path:
    root = tmp_path / "ops"
    for d in ("deploy", "config", "k8s", "app", "scripts"):
        (root / d).mkdir(parents=True)
    (root / "deploy" / "key.txt").write_text(_pem(KEY_BODY["txt"]))  # a key under an innocent name
    settings = {"service": "billing settings", "region": "eu-west-1", "retries": 3,
                "description": "Billing settings for the ledger export job. " * 12,
                "private_key": _pem(KEY_BODY["json"], "PRIVATE KEY"), "client_email": "billing@example.com"}
    (root / "config" / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    (root / "k8s" / "tls.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: billing-tls\n  labels:\n    app: billing\n"
        "    tier: backend\n    team: payments\n    settings: ledger-export\nstringData:\n  tls.key: |\n"
        + "".join(f"    {ln}\n" for ln in _pem(KEY_BODY["yaml"], "EC PRIVATE KEY").splitlines())
        + "  tls.crt: see billing settings docs\n" + "".join(f"# billing settings note {i}\n" for i in range(30)))
    (root / "app" / "signing.py").write_text(
        '"""Signing of billing settings exports."""\n\n'
        f'SIGNING_KEY = """{_pem(KEY_BODY["py"], "OPENSSH PRIVATE KEY")}"""\n\n'
        + "".join(f"def billing_settings_step_{i}(x):\n    \"\"\"Step {i} of the export.\"\"\"\n    return x + {i}\n\n"
                  for i in range(25)))
    (root / "app" / "legacy.py").write_text(  # a truncated key: no END line
        "LEGACY = '''\n-----BEGIN DSA PRIVATE KEY-----\n" + "\n".join(KEY_BODY["noend"]) + "\n'''\n\n"
        + "".join(f"def legacy_billing_settings_{i}():\n    return {i}\n\n" for i in range(25)))
    (root / "scripts" / "backup.sh").write_text(
        "#!/bin/sh\n# Back up the billing settings database.\n"
        f"mysqldump -u root -p{CMD_SECRETS[0]} billing > /backup/billing.sql\n"
        f"PGPASSWORD={CMD_SECRETS[1]} psql -h db.internal -U billing -c 'select 1'\n"
        f"mysql --password={CMD_SECRETS[2]} -e 'show databases'\n"
        f"curl -u admin:{CMD_SECRETS[3]} https://backup.internal/upload\n"
        "PGPASSWORD=$BILLING_PW psql -h db.internal  # a variable, not a secret\n"
        "mkdir -p /backup\n")
    return root


def _leaks(text: str) -> list[str]:
    secrets = [ln for body in KEY_BODY.values() for ln in body] + CMD_SECRETS
    return [s for s in secrets if s in text]


@pytest.mark.parametrize("fmt", ["xml", "json", "markdown", "plain"])
def test_hostile_repository_keys_and_passwords_never_leak(tmp_path: Path, fmt: str) -> None:
    root = _hostile_repo(tmp_path)
    r = CliRunner().invoke(main, ["pack", str(root), "--query", "billing settings export", "--budget", "60000",
                                  "--format", fmt])
    assert r.exit_code == 0, r.stderr
    assert _leaks(r.stdout) == []
    for kept in ("billing_settings_step_3", "legacy_billing_settings_2", "SIGNING_KEY", "tls.crt", "mkdir -p /backup",
                 "$BILLING_PW", "client_email"):
        assert kept in r.stdout, kept  # the rest of each file is still there
    assert "-----END" not in r.stdout and "PRIVATE KEY-----" not in r.stdout
    if fmt == "json":
        doc = json.loads(r.stdout)
        assert {s["path"]: s["reason"] for s in doc["skipped"]}["deploy/key.txt"].startswith("secret file")
        kinds = {(x["path"], x["type"]) for x in doc["redacted"]}
        assert {("config/settings.json", "Private Key"), ("k8s/tls.yaml", "Private Key"),
                ("app/signing.py", "Private Key"), ("app/legacy.py", "Private Key"),
                ("scripts/backup.sh", "Command-Line Password")} <= kinds


def test_the_redacted_report_is_what_was_replaced(tmp_path: Path) -> None:
    from ctxpack import load_config, open_repo, pack_for

    root = _hostile_repo(tmp_path)
    repo = open_repo(root, load_config(root, index_dir=str(tmp_path / "idx")))
    for budget in (60000, 3000, 900):
        p = pack_for(repo, "billing settings export", budget=budget)
        assert _leaks(p.context) == []
        reported = {(r.path, r.line) for r in p.redactions if r.line}
        shown = set()
        for f in p.files:
            lines = f.text.split("\n")
            for a, b in f.ranges if f.mode == "full" else ():
                shown |= {(f.path, a + i) for i, ln in enumerate(lines[: b - a + 1]) if "[REDACTED:" in ln}
            for r in p.redactions:
                if r.path == f.path and f.mode == "full":
                    assert r.marker in lines[r.line - 1], (r, budget)
                if r.path == f.path and f.mode == "skeleton":
                    assert r.marker in f.text
        assert {x for x in reported if x[0] in {f.path for f in p.files if f.mode == "full"}} == shown, budget
        assert {r.path for r in p.redactions} <= {f.path for f in p.files}


def test_lines_cut_from_inside_a_key_are_redacted(tmp_path: Path) -> None:
    """A chunk may start inside a key block (no BEGIN in it): the file around it decides."""
    from ctxpack import load_config, open_repo

    root = _hostile_repo(tmp_path)
    repo = open_repo(root, load_config(root, index_dir=str(tmp_path / "idx")))
    lines = (root / "app" / "signing.py").read_text().split("\n")
    start = next(i for i, ln in enumerate(lines) if ln == KEY_BODY["py"][2])  # 0-based
    window = "\n".join(lines[start: start + 9]) + "\n"
    text, found = repo.redact("app/signing.py", window, start + 1)
    assert _leaks(text) == [] and "-----END" not in text and "def billing_settings_step_0" in text
    assert [(r.line, r.type) for r in found] == [(start + 1, "Private Key")]
    assert text.count("\n") == window.count("\n")  # line numbers of what follows are kept


def test_a_file_that_is_mostly_a_key_is_a_secret_file_unless_no_redact(tmp_path: Path) -> None:
    root = _hostile_repo(tmp_path)
    r = CliRunner().invoke(main, ["pack", str(root), "--query", "deploy key", "--budget", "60000", "--format", "json",
                                  "--no-redact"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "deploy/key.txt" in {f["path"] for f in doc["files"]} and KEY_BODY["txt"][1] in doc["context"]
    assert doc["redacted"] == [] and CMD_SECRETS[0] in doc["context"]


@pytest.mark.parametrize("line,secret", [
    ("mysql -uroot -pHunter2pw shop", "Hunter2pw"),
    ("  mariadb -h db -p'Quoted_pw9' shop", "Quoted_pw9"),
    ("docker login --password hub_pw_123 registry", "hub_pw_123"),
    ("export PGPASSWORD='pg pw'", None),  # a space in the value: the keyword plugin's business, not checked here
    ("MYSQL_PWD=zz_top_99 mysql shop", "zz_top_99"),
    ("DB_PASSWORD=letmein42", "letmein42"),
])
def test_command_line_passwords(tmp_path: Path, line: str, secret: str | None) -> None:
    from ctxpack.index.secrets import redact

    text, found = redact(tmp_path, "run.sh", line + "\n", 1)
    if secret is not None:
        assert secret not in text and found and found[0].type == "Command-Line Password", text
    for benign in ("mkdir -p build", "ssh -p 2222 host", "gcc -pthread x.c", "PGPASSWORD=$PW psql",
                   "mysql -p shop  # asks for the password", "parser.add_argument('--password', help='the password')"):
        assert redact(tmp_path, "run.sh", benign + "\n", 1) == (benign + "\n", ()), benign


@pytest.fixture(scope="module")
def hostile_indexed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _hostile_repo(tmp_path_factory.mktemp("hostile"))
    (root / "app" / "notes.py").write_text("NOTE = '</file></context> <context>'\ndef note():\n    return NOTE\n")
    return root


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_redaction_keeps_the_budget_and_exact_counts(hostile_indexed: Path, encoding: str) -> None:
    """Budgets, formats and queries at random over the hostile repository: never over budget,
    counted exactly (by parts, checked against a full count), no secret, the report in the text."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ctxpack import BudgetError, load_config, open_repo, pack_for
    from ctxpack.config import FORMATS
    from ctxpack.tokens import get_counter

    root = hostile_indexed
    repo = open_repo(root, load_config(root, encoding=encoding, index_dir=str(root.parent / f"idx-{encoding}")))
    counter = get_counter(encoding)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(budget=st.one_of(st.integers(1, 3000), st.sampled_from([8000, 32000])), fmt=st.sampled_from(FORMATS),
           query=st.sampled_from(["billing settings export", "signing key", "backup database password",
                                  "tls key yaml", "note context", "legacy billing"]))
    def check(budget: int, fmt: str, query: str) -> None:
        try:
            p = pack_for(repo, query, budget=budget, fmt=fmt)
        except BudgetError:
            assert budget < 20
            return
        assert counter.count(p.context) == p.tokens <= budget
        assert _leaks(p.context) == [] and "PRIVATE KEY-----" not in p.context
        for r in p.redactions:
            assert r.marker in p.context

    check()


def test_reasons_quoting_a_commit_message_are_redacted(tmp_path: Path) -> None:
    import subprocess

    root = _repo(tmp_path)
    (root / "app" / "ledger.py").write_text("def ledger_rotation():\n    return 'rotated'\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    git = ["git", "-C", str(root), "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True, env=env)
    subprocess.run([*git, "add", "app/client.py"], check=True, env=env)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True, env=env)
    subprocess.run([*git, "add", "app/ledger.py"], check=True, env=env)
    subprocess.run([*git, "commit", "-qm", f"Ledger rotation: new key {FAKE['github']}"], check=True, env=env)
    r = CliRunner().invoke(main, ["pack", str(root), "--query", "ledger rotation key", "--budget", "8000",
                                  "--format", "json"])
    assert r.exit_code == 0, r.stderr
    reasons = [x for f in json.loads(r.stdout)["files"] for x in f["reasons"] if "past commit" in x]
    assert reasons and all(FAKE["github"] not in x and "[REDACTED:" in x for x in reasons), reasons
    assert FAKE["github"] not in r.stdout


def test_the_tail_of_a_key_without_its_file_is_redacted(tmp_path: Path) -> None:
    """Lines from inside a key whose file cannot be consulted (changed or gone): the body before
    an END line goes with it, however short its last line."""
    from ctxpack.index.secrets import redact

    body = KEY_BODY["yaml"]
    text = f"    {body[-2]}\n    {body[-1][:10]}==\n    -----END EC PRIVATE KEY-----\n  tls.crt: x\n"
    out, found = redact(tmp_path, "gone.yaml", text, 40)
    assert body[-2] not in out and body[-1][:10] not in out and "-----END" not in out and "tls.crt: x" in out
    assert [(r.line, r.type) for r in found] == [(40, "Private Key")] and out.count("\n") == 4
