"""Keep secrets out of prompts: secret files are never indexed, secret strings are redacted.

Detection is detect-secrets (its plugins for cloud keys, tokens, private keys, basic-auth
URLs, JWTs, keyword assignments and high-entropy strings, with its false-positive
filters). Running every plugin on every line costs ~0.4 ms a line, so only lines a cheap
pattern marks as candidates are handed to it; a line without any of these shapes cannot
hold what the plugins look for.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from ..models import RankedFile, Redaction
from .secret_patterns import (
    CMD_TYPE,
    KEY_TYPE,
    Span,
    find_command_passwords,
    find_key_blocks,
    has_base64_lines,
    key_lines_in,
    key_share,
    might_hold,
)

__all__ = ["Redaction", "is_mostly_key", "is_secret_file", "load_clean", "redact", "redact_reasons", "save_clean",
           "warm"]

# Reasons quoting repository text that is not code: a past commit's subject (history signals).
_QUOTING_REASONS = ("changed by a past commit",)

log = logging.getLogger(__name__)

_SECRET_NAMES = frozenset({
    ".env", ".netrc", "_netrc", ".pgpass", ".npmrc", ".pypirc", ".git-credentials", ".htpasswd",
    "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "credentials", "credentials.json", "client_secret.json",
    "service-account.json", "secrets.yml", "secrets.yaml", "secrets.json", "secrets.toml",
})
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".ppk", ".asc", ".gpg")
_URL_USERINFO = re.compile(r"://[^\s/:@]+:([^\s/@]{3,})@")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./+=~")
_ENV_EXAMPLES = (".example", ".sample", ".template", ".dist", ".defaults")

_CANDIDATE = re.compile(
    r"(?i:key|secret|token|passw|pwd|auth|credential|bearer)[\w.\-]*[\"'`\]]?\s*(?::=|=>|[:=])\s*[^\s,;)]{6,}"
    r"|PRIVATE KEY"
    r"|://[^\s/:@]+:[^\s/@]+@"
    r"|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abposr]-|[sr]k_live_|AIza|glpat-|npm_[A-Za-z0-9]{20}"
    r"|eyJ[A-Za-z0-9_-]{10,}"
    r"|[\"'`][A-Za-z0-9+/=_\-.]{20,}[\"'`]"
)


def is_secret_file(path: str) -> bool:
    """True for files that typically hold credentials (``.env``, private keys, ...)."""
    name = path.rpartition("/")[2].lower()
    if name in _SECRET_NAMES:
        return True
    if name.startswith(".env.") or name.endswith(".env"):
        return not name.endswith(_ENV_EXAMPLES)
    return name.endswith(_SECRET_SUFFIXES) and not name.endswith(".pub")


def is_mostly_key(text: str) -> bool:
    """True for a text that is mostly private key blocks (a key saved under any name): a secret file."""
    return key_share(text) >= 0.5


def warm() -> None:
    """Load the secret scanner now (detect-secrets' import takes ~0.1 s), not at the first scan."""
    _detector()


@lru_cache(maxsize=1)
def _detector():  # type: ignore[no-untyped-def]
    from detect_secrets.core.scan import scan_diff
    from detect_secrets.settings import default_settings

    return scan_diff, default_settings


def _scan(abs_path: Path, lines: dict[int, str]) -> list[tuple[int, str, str]]:
    """(line, type, secret) for the candidate lines, via detect-secrets' line scanner."""
    scan_diff, default_settings = _detector()
    # detect-secrets scans a diff's added lines and checks that the file exists on disk.
    p = abs_path.as_posix()
    parts = [f"diff --git a/{p} b/{p}", f"--- a/{p}", f"+++ b/{p}"]
    for ln, text in sorted(lines.items()):
        parts += [f"@@ -0,0 +{ln},1 @@", "+" + text]
    found = []
    with default_settings():
        for s in scan_diff("\n".join(parts) + "\n"):
            if s.secret_value:
                found.append((s.line_number, s.type, s.secret_value))
    return found


def _marker(kind: str) -> str:
    return Redaction("", 0, kind).marker


def _key_spans(root: Path, path: str, lines: list[str], first_line: int) -> list[Span]:
    """The private key blocks in ``lines``; for lines of a file from ``first_line`` > 1 that
    may start inside a key (a chunk), the blocks as the whole file has them."""
    text = "\n".join(lines)
    spans = find_key_blocks(lines) if "PRIVATE KEY" in text else []
    if first_line > 1 and (spans or has_base64_lines(text)):
        try:
            file_lines = (root / path).read_text("utf-8", errors="replace").removeprefix("\ufeff").split("\n")
        except OSError:
            return spans
        n = len(lines) - (lines[-1] == "")  # a text ending with a newline: its last "line" is empty
        if n and file_lines[first_line - 1: first_line - 1 + n] == lines[:n]:  # the file still holds these lines
            return key_lines_in(file_lines, first_line - 1, n)
    return spans


def _redact_patterns(root: Path, path: str, lines: list[str], first_line: int) -> list[tuple[int, str]]:
    """Replace, in place, whole private key blocks and command-line passwords; (line index, type) of each."""
    found: list[tuple[int, str]] = []
    key = _marker(KEY_TYPE)
    for a, ca, b, cb in sorted(_key_spans(root, path, lines, first_line), reverse=True):
        if a == b:
            lines[a] = lines[a][:ca] + key + lines[a][cb:]
        else:  # the lines keep their numbers: the block's first line says what it held, the rest go empty
            lines[a] = lines[a][:ca] + key
            for k in range(a + 1, b):
                lines[k] = ""
            lines[b] = lines[b][cb:]
        found.append((a, KEY_TYPE))
    cmd = _marker(CMD_TYPE)
    text = "\n".join(lines)
    spans = find_command_passwords(text)
    if spans:
        found += [(text.count("\n", 0, start), CMD_TYPE) for start, _ in spans]
        for start, end in reversed(spans):
            text = text[:start] + cmd + text[end:]
        lines[:] = text.split("\n")  # no match spans a line end: the lines keep their numbers
    return sorted(found)


def redact(root: Path, path: str, text: str, first_line: int = 1) -> tuple[str, tuple[Redaction, ...]]:
    """Replace secret-looking strings in ``text`` (lines of ``path`` from ``first_line``;
    ``first_line=0``: not file lines, reported as line 0).

    Returns:
        The text with each secret replaced by ``[REDACTED:<type>]`` (a private key block
        whole, its lines kept as empty lines), and what was replaced: one entry per
        replacement's first line and type.
    """
    lines = text.split("\n")
    base = first_line or 1
    redactions: list[Redaction] = []
    if might_hold(text):
        for i, kind in _redact_patterns(root, path, lines, first_line):
            redactions.append(Redaction(path, base + i if first_line else 0, kind))
    cand = {base + i: ln for i, ln in enumerate(lines) if len(ln) < 4000 and _CANDIDATE.search(ln)}
    found: list[tuple[int, str, str]] = []
    if cand and (root / path).is_file():
        try:
            found = _scan(root / path, cand)
        except Exception as exc:  # the detector failing must not leak: drop candidate lines instead
            log.warning("secret scan failed on %s (%s); candidate lines withheld", path, type(exc).__name__)
            found = [(ln, "unscanned line", body.strip()) for ln, body in cand.items() if body.strip()]
    # URL credentials with RFC 3986 sub-delimiters ("p@ss!" style) escape detect-secrets' pattern.
    for ln, body in cand.items():
        for m in _URL_USERINFO.finditer(body):
            found.append((ln, "Basic Auth Credentials", m.group(1)))
    # Per line: longest value first; for equal values the specific detector (Slack, Stripe ...)
    # names the redaction rather than the generic entropy/keyword ones.
    generic = ("High Entropy", "Keyword")
    for ln, kind, secret in sorted(found, key=lambda f: (f[0], -len(f[2]), any(g in f[1] for g in generic))):
        i = ln - base
        if not (0 <= i < len(lines)) or len(secret) < 3:
            continue
        marker = _marker(kind)
        line = lines[i]
        start = line.find(secret)
        if start < 0:
            continue  # already replaced under a longer value a plugin reported
        # Plugins may report part of a token (a prefix, a JWT without its signature): take it whole.
        end = start + len(secret)
        while start > 0 and line[start - 1] in _TOKEN_CHARS:
            start -= 1
        while end < len(line) and line[end] in _TOKEN_CHARS:
            end += 1
        lines[i] = line[:start] + marker + line[end:]
        redactions.append(Redaction(path, ln if first_line else 0, kind))
    if not redactions:
        return text, ()
    return "\n".join(lines), tuple(dict.fromkeys(sorted(redactions, key=lambda r: (r.line, r.type))))


def redact_reasons(ranked: list[RankedFile],
                   redact_text: Callable[[str, str, int], tuple[str, tuple[Redaction, ...]]]) -> list[RankedFile]:
    """``ranked`` with the reasons that quote commit messages redacted (a subject may name a key)."""
    out = ranked
    for i, r in enumerate(ranked):
        if any(x.startswith(_QUOTING_REASONS) for x in r.reasons):
            reasons = tuple(redact_text(r.path, x, 0)[0] if x.startswith(_QUOTING_REASONS) else x for x in r.reasons)
            if reasons != r.reasons:
                out = out if out is not ranked else list(ranked)
                out[i] = replace(r, reasons=reasons)
    return out


# ---- "found clean", remembered across processes --------------------------------------------------

_CLEAN_FILE = "clean-scans.pkl"
_CLEAN_MAX = 20_000  # keys kept, the most recent (~50 bytes each; loading 20,000 takes ~15 ms)
CleanKey = tuple[str, int, bytes]  # (path, first line, BLAKE2b-128 of the text)


@lru_cache(maxsize=1)
def _scanner_id() -> str:
    """What a "clean" verdict depends on: this module's code and the installed detect-secrets."""
    import importlib.util

    spec = importlib.util.find_spec("detect_secrets")
    origin = spec.origin if spec is not None and spec.origin else ""
    try:
        ds = f"{origin}:{os.stat(origin).st_mtime_ns}" if origin else ""
        own = Path(__file__).read_bytes() + (Path(__file__).parent / "secret_patterns.py").read_bytes()
    except OSError:
        return ""
    return hashlib.sha1(own + ds.encode("utf-8", "surrogatepass")).hexdigest()


def load_clean(directory: Path) -> dict[CleanKey, None]:
    """Texts an earlier process scanned and found clean, oldest first (empty when the record
    is missing, damaged, or from another scanner: then they are scanned again)."""
    try:
        with open(directory / _CLEAN_FILE, "rb") as fh:
            got = pickle.load(fh)
        if isinstance(got, dict) and got.get("scanner") == _scanner_id() and isinstance(got.get("keys"), dict):
            return got["keys"]
    except FileNotFoundError:
        pass
    except Exception as exc:  # a damaged record only costs a rescan
        log.debug("ignoring %s: %s", directory / _CLEAN_FILE, exc)
    return {}


def save_clean(directory: Path, keys: dict[CleanKey, None]) -> None:
    """Record ``keys`` (oldest first) as found clean, keeping the most recent ``_CLEAN_MAX``
    (atomically; a read-only directory only costs speed)."""
    scanner = _scanner_id()
    if not scanner or not directory.is_dir():
        return
    if len(keys) > _CLEAN_MAX:
        keys = dict.fromkeys(list(keys)[-_CLEAN_MAX:])
    tmp = directory / f".{_CLEAN_FILE}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            pickle.dump({"scanner": scanner, "keys": keys}, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, directory / _CLEAN_FILE)
    except OSError as exc:
        log.debug("cannot record clean scans in %s: %s", directory, exc)
        tmp.unlink(missing_ok=True)
