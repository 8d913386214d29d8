"""Run git for the whole package, treating the repository's own git config as untrusted.

A repository's ``.git/config`` (and files it includes) can name programs that git runs on
ordinary read commands: ``core.fsmonitor`` on anything that reads the index (``ls-files``),
``gpg.program`` when ``log.showSignature`` is set, ``diff.external``, textconv and filter
drivers on ``diff``, ``core.pager``, hooks, ``core.sshCommand`` and credential helpers when a
promisor remote is fetched from. ctxpack is pointed at repositories it did not write (issue
18), so every git call goes through ``run_git``, which:

- overrides the fixed program-valued keys with ``-c`` (command-line config wins over the
  repository's), turns off signatures, external diffs and textconv with flags, and forbids
  every transport (no lazy fetch of a partial clone, so no ssh or credential helper);
- blanks the per-name drivers the repository's own config defines (``filter.<x>.clean``,
  ``diff.<x>.textconv`` ...), found with ``git config --list`` (which runs nothing);
- runs with ``GIT_CONFIG_NOSYSTEM``, no terminal prompt, no pager and a minimal locale.

The user's global config is the user's own and is left alone, except for the keys above.
Anything that goes wrong (no git, a timeout, a non-zero exit) returns None: callers fall
back to working without git.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["SAFE_CONFIG", "git_env", "run_git", "start_git"]

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_PIPE_BYTES = 1 << 20  # start_git's output pipe (Linux allows up to /proc/sys/fs/pipe-max-size, 1 MiB by default)

# Command-line config that beats the repository's: no program the repository names is run.
SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("core.pager", "cat"),
    ("core.editor", "true"),
    ("core.askPass", ""),
    ("core.sshCommand", "false"),
    ("core.gitProxy", ""),
    ("core.quotePath", "false"),
    ("credential.helper", ""),
    ("diff.external", ""),
    ("log.showSignature", "false"),
    ("gpg.program", "false"),
    ("gpg.openpgp.program", "false"),
    ("gpg.ssh.program", "false"),
    ("gpg.x509.program", "false"),
    ("protocol.allow", "never"),  # no transport: a partial clone's lazy fetch cannot reach ssh or helpers
    ("safe.bareRepository", "explicit"),  # a bare repository inside the tree is not picked up
    ("pager.log", "false"),
    ("pager.diff", "false"),
    ("pager.show", "false"),
    ("uploadpack.packObjectsHook", ""),
)
# Per-name keys whose value is a program (``filter.lfs.clean``, ``diff.pdf.textconv`` ...).
_DRIVER_KEY = re.compile(r"(filter\.[^\n]+\.(clean|smudge|process)|diff\.[^\n]+\.(textconv|command)|"
                         r"merge\.[^\n]+\.driver|pager\.[^\n]+|alias\.[^\n]+|credential\.[^\n]+\.helper)", re.I)
# Flags that go right after the subcommand, where it accepts them.
_SUBCOMMAND_FLAGS = {
    "log": ("--no-show-signature", "--no-ext-diff", "--no-textconv"),
    "show": ("--no-show-signature", "--no-ext-diff", "--no-textconv"),
    "diff": ("--no-ext-diff", "--no-textconv"),
}
# The variables git reads that could run something, or point it at another repository than
# the one it runs in (set when ctxpack runs inside a git hook); the rest of the user's
# environment is kept (their global config, HOME, PATH).
_DROPPED_ENV = ("GIT_EXTERNAL_DIFF", "GIT_PAGER", "PAGER", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EDITOR", "EDITOR",
                "VISUAL", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_PROXY_COMMAND", "GIT_CONFIG_SYSTEM", "GIT_DIR",
                "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX")


def git_env() -> dict[str, str]:
    """The environment every git call runs with."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update({
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_LAZY_FETCH": "1",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "LC_ALL": "C",
    })
    return env


def _config_args(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[str]:
    return [a for k, v in pairs for a in ("-c", f"{k}={v}")]


def _repository_drivers(root: Path, env: dict[str, str], timeout: float) -> list[tuple[str, str]]:
    """Blank values for the program-valued per-name keys that the repository's own config sets.

    ``git config --list`` reads config files and runs nothing."""
    try:
        p = subprocess.run(["git", *_config_args(SAFE_CONFIG), "config", "--show-scope", "-z", "--name-only",
                            "--list"], cwd=root, capture_output=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return []
    if p.returncode != 0:
        return []
    out: list[tuple[str, str]] = []
    fields = p.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    for scope, key in zip(fields[0::2], fields[1::2], strict=False):
        if scope in ("local", "worktree") and _DRIVER_KEY.fullmatch(key):
            out.append((key, ""))
            if key.lower().startswith("filter.") and key.lower().endswith((".clean", ".process")):
                out.append((key.rsplit(".", 1)[0] + ".required", "false"))
    return out


def run_git(root: str | os.PathLike[str], *args: str, timeout: float = 20.0) -> bytes | None:
    """Run ``git ARGS`` in ``root`` with the repository's config treated as untrusted.

    Args:
        root: the directory git runs in (a work tree or a folder inside one).
        args: the subcommand and its arguments, e.g. ``("ls-files", "-z")``.
        timeout: seconds before git is given up on.

    Returns:
        git's stdout, or None when git is missing, fails or times out.
    """
    return start_git(root, *args, timeout=timeout)()


def start_git(root: str | os.PathLike[str], *args: str, timeout: float = 20.0) -> Callable[[], bytes | None]:
    """``run_git`` started now, answered later: git runs while the caller works. Call the result
    (once) for git's stdout, or None (as ``run_git``); the time limit counts from now.

    The output pipe is widened (``F_SETPIPE_SZ``, up to 1 MiB on Linux) so git can write a long
    log before anyone reads it; past that it waits for the reader, which only costs the overlap.
    The answer is read with ``communicate``, which wakes as soon as git exits (``Popen.wait`` with
    a time limit polls, sleeping up to 50 ms: a 30 ms ``git status`` took twice as long).
    """
    if not args:
        raise ValueError("run_git needs a subcommand")
    cwd = Path(root)
    env = git_env()
    sub, rest = args[0], list(args[1:])
    cmd = ["git", "--no-pager", *_config_args(SAFE_CONFIG), *_config_args(_repository_drivers(cwd, env, timeout)),
           sub, *_SUBCOMMAND_FLAGS.get(sub, ()), *rest]
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("git %s failed in %s: %s", sub, cwd, exc)
        return lambda: None
    if fcntl is not None and hasattr(fcntl, "F_SETPIPE_SZ") and proc.stdout is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)

    def result() -> bytes | None:
        try:
            out, err = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            log.debug("git %s failed in %s: %s", sub, cwd, exc)
            return None
        if proc.returncode != 0:
            log.debug("git %s exited %d in %s: %s", sub, proc.returncode, cwd,
                      err.decode("utf-8", "replace").strip()[:200])
            return None
        return out

    return result
