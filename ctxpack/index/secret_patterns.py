"""Secrets that line-by-line scanners miss: whole private key blocks and command-line passwords.

detect-secrets reports a private key by its ``-----BEGIN ... PRIVATE KEY-----`` line only, so
the base64 body and the END line stayed in packs (issue 18, item 2). Here a key block is
found whole, in the forms it takes in repositories:

- PEM lines (``deploy/key.txt``, a YAML block scalar, a Python triple-quoted string, string
  concatenation with ``"...\\n"`` pieces): from the BEGIN line through the END line, or, with
  no END, through the last line of its base64 body;
- one line holding the whole block with ``\\n`` escapes (a key inside a JSON string).

Command-line password forms that no detect-secrets plugin matches: ``mysql -pSECRET``,
``--password=SECRET`` / ``--password SECRET``, ``PGPASSWORD=SECRET`` and other
``*PASSWORD=`` / ``MYSQL_PWD=`` environment assignments, ``curl -u user:SECRET``.

Everything here is a pure function of text: no file system, no imports beyond ``re``.
"""

from __future__ import annotations

import re

__all__ = ["CMD_TYPE", "KEY_TYPE", "find_command_passwords", "find_key_blocks", "has_base64_lines", "key_lines_in",
           "key_share", "might_hold"]

KEY_TYPE = "Private Key"  # the name detect-secrets gives the same finding
CMD_TYPE = "Command-Line Password"

_LABEL = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?"
_BEGIN = re.compile(rf"-----BEGIN {_LABEL}-----")
_END = re.compile(rf"-----END {_LABEL}-----")
# One line after BEGIN (a key written with \n escapes): base64, escapes, armor headers.
_ESCAPED_BODY = re.compile(r"(?:\\[rnt]|\\/|[A-Za-z0-9+/=:,\- ])*")
# Nothing more on the BEGIN line than the end of a string literal: the body is on the next lines.
_LINE_END = re.compile(r"""(?:\\[rn])*[\s"'`,;+)\\]*""")
# A PEM body line, possibly inside a string literal (quotes, \n escapes, concatenation).
_BODY_LINE = re.compile(r"""[\s"'`(]*=?(?P<b64>[A-Za-z0-9+/]+)={0,2}(?:\\[rn])*[\s"'`,+;)\\]*""")
_HEADER_LINE = re.compile(r"""[\s"'`]*[A-Za-z][A-Za-z0-9-]*: [^\n]*""")  # Proc-Type:, DEK-Info:, Version:
_BLANK_LINE = re.compile(r"""[\s"'`,+]*(?:\\[rn])*[\s"'`,+]*""")
_FULL_BODY = 40  # a PEM body line is 64 characters (OpenSSH: 70); only the last one is shorter
# A line that could be part of a key's base64 body (what makes a text worth a look for keys).
_BASE64_LINE = re.compile(r"""^[\s"'`]*[A-Za-z0-9+/]{40,}={0,2}(?:\\[rn])*[\s"'`,+;\\]*$""", re.M)

_NOT_A_VALUE = "$%<{[(*`"  # a variable, a template, a placeholder, a substitution: not a literal secret
_MYSQL = re.compile(
    r"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mysqlpump|mysqlsh|mariadb(?:-dump|-admin)?)\b"
    r"[^\n;|&]*?[ \t]-p(?P<q>['\"]?)(?P<v>[^\s'\";|&`]+)(?P=q)")
_PASSWORD_FLAG = re.compile(
    r"(?<![\w-])--?(?:password|passwd|pass|pwd|db-password|db-pass|admin-password|root-password)"
    r"(?:=|[ \t]+)(?P<q>['\"]?)(?P<v>[^\s'\";|&`]+)(?P=q)")
_PASSWORD_ENV = re.compile(
    r"(?<![\w.])(?:PGPASSWORD|MYSQL_PWD|[A-Z][A-Z0-9_]*_(?:PASSWORD|PASSWD|PWD|PASS)|PASSWORD|PASSWD)"
    r"=(?P<q>['\"]?)(?P<v>[^\s'\";|&`]+)(?P=q)")
_CURL_USER = re.compile(
    r"\bcurl\b[^\n;|&]*?[ \t](?:-u|--user)[ \t=]*(?P<q>['\"]?)[^\s:'\"]+:(?P<v>[^\s'\";|&`]+)(?P=q)")
# Each pattern runs only on the lines holding one of its literal triggers (Python's re has no
# literal prefilter: a pattern over a whole 400 KB text costs ~60 ms, the triggers ~1 ms).
_CMD_PATTERNS = (
    (("mysql", "mariadb"), _MYSQL),
    (("-pass", "-pwd"), _PASSWORD_FLAG),
    (("PASSWORD=", "PASSWD=", "PWD=", "PASS="), _PASSWORD_ENV),
    (("curl",), _CURL_USER),
)


def might_hold(text: str) -> bool:
    """False when ``text`` certainly holds neither a key block nor a command-line password."""
    return ("PRIVATE KEY" in text or any(n in text for needles, _ in _CMD_PATTERNS for n in needles)
            or bool(_BASE64_LINE.search(text)))


def has_base64_lines(text: str) -> bool:
    """True when ``text`` has a line that could be part of a key's body (a chunk cut from inside a key)."""
    return bool(_BASE64_LINE.search(text))


Span = tuple[int, int, int, int]  # (first line, start column, last line, end column): lines 0-based, end exclusive


def find_key_blocks(lines: list[str]) -> list[Span]:
    """The private key blocks in ``lines``, whole: BEGIN through END, or through the end of the body."""
    spans: list[Span] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _BEGIN.search(line)
        if m is None:
            end = _END.search(line)
            if end is not None:  # an END whose BEGIN is before these lines: back over its body
                first = spans[-1][2] + 1 if spans else 0
                k = i
                while k > first and (_BODY_LINE.fullmatch(lines[k - 1]) or _HEADER_LINE.fullmatch(lines[k - 1])
                                     or _BLANK_LINE.fullmatch(lines[k - 1])):
                    k -= 1
                spans.append((k, 0, i, end.end()) if k < i else (i, 0, i, end.end()))
            i += 1
            continue
        end = _END.search(line, m.end())
        if end is not None:  # the whole block on one line (\n escapes)
            spans.append((i, m.start(), i, end.end()))
            i += 1
            continue
        if not _LINE_END.fullmatch(line, m.end()):  # the body follows on this line, escaped, with no END
            rest = _ESCAPED_BODY.match(line, m.end())
            spans.append((i, m.start(), i, rest.end() if rest is not None else len(line)))
            i += 1
            continue
        # PEM lines: the body is on the next lines, up to END or to its last line.
        last, last_col = i, len(line)
        headers_allowed, prev_full = True, False
        for j in range(i + 1, len(lines)):
            nxt = lines[j]
            e = _END.search(nxt)
            if e is not None:
                last, last_col = j, e.end()
                break
            body = _BODY_LINE.fullmatch(nxt)
            if body is not None:
                n = len(body.group("b64"))
                following = lines[j + 1] if j + 1 < len(lines) else ""
                if n >= 16 or prev_full or _END.search(following):
                    headers_allowed, prev_full = False, n >= _FULL_BODY
                    last, last_col = j, len(nxt)
                    continue
                break
            if headers_allowed and _HEADER_LINE.fullmatch(nxt):
                last, last_col = j, len(nxt)
            elif not _BLANK_LINE.fullmatch(nxt):
                break  # the body ended without an END line
        spans.append((i, m.start(), last, last_col))
        i = last + 1
    return spans


def key_lines_in(file_lines: list[str], first: int, count: int) -> list[Span]:
    """Key blocks of a whole file that overlap its lines ``first .. first + count - 1`` (0-based),
    clipped to them and shifted so that ``first`` is line 0 (a chunk cut from inside a key)."""
    out: list[Span] = []
    for a, ca, b, cb in find_key_blocks(file_lines):
        if b < first or a >= first + count:
            continue
        lo, hi = max(a, first), min(b, first + count - 1)
        out.append((lo - first, ca if lo == a else 0, hi - first, cb if hi == b else len(file_lines[hi])))
    return out


def key_share(text: str) -> float:
    """The share of ``text``'s non-blank characters inside private key blocks (0 without one)."""
    if "PRIVATE KEY" not in text:
        return 0.0
    lines = text.split("\n")
    inside = 0
    for a, ca, b, cb in find_key_blocks(lines):
        for k in range(a, b + 1):
            seg = lines[k][ca if k == a else 0: cb if k == b else len(lines[k])]
            inside += sum(1 for ch in seg if not ch.isspace())
    total = sum(1 for ch in text if not ch.isspace())
    return inside / total if total else 0.0


def _lines_with(text: str, needles: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) offsets of the lines of ``text`` holding any of ``needles``, in order."""
    starts: set[int] = set()
    for n in needles:
        i = text.find(n)
        while i >= 0:
            starts.add(text.rfind("\n", 0, i) + 1)
            i = text.find(n, i + len(n))
    out = []
    for a in sorted(starts):
        b = text.find("\n", a)
        out.append((a, len(text) if b < 0 else b))
    return out


def find_command_passwords(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of passwords given on a command line or in an environment assignment
    (no match crosses a line end), sorted, overlapping matches merged into the first, longest."""
    found = []
    for needles, pat in _CMD_PATTERNS:
        for a, b in _lines_with(text, needles):
            for m in pat.finditer(text, a, b):
                v = m.group("v")
                if len(v) >= 3 and v[0] not in _NOT_A_VALUE:
                    found.append((m.start("v"), m.end("v")))
    kept: list[tuple[int, int]] = []
    for start, end in sorted(found, key=lambda se: (se[0], -se[1])):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept
