"""`import ctxpack` and `ctxpack --help` stay light: no torch, lancedb or grammars."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "lancedb", "sentence_transformers", "tree_sitter", "tiktoken", "pyarrow")


def _loaded(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint('MODULES:' + ' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("MODULES:")][-1]
    return set(line.removeprefix("MODULES:").split())


def test_import_ctxpack_is_light() -> None:
    mods = _loaded("import ctxpack")
    assert not [m for m in HEAVY if m in mods]


def test_help_is_light() -> None:
    code = (
        "import sys\nfrom ctxpack.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "for n in ('pack', 'index', 'preview'):\n"
        "    try:\n        main([n, '--help'])\n    except SystemExit:\n        pass"
    )
    mods = _loaded(code)
    assert not [m for m in HEAVY if m in mods]


def test_console_script_help_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "ctxpack", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "pack" in out.stdout and "index" in out.stdout and out.stderr == ""
