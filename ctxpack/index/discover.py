"""Find the files of a repository worth indexing, and say why others are left out.

In a git work tree: tracked plus untracked-but-not-ignored files (``git ls-files``);
elsewhere: a sorted walk honouring every ``.gitignore``. Both then honour
``.ctxpackignore`` (the ``include``/``exclude`` globs filter at query time: ``filters``).
Symlinks are never followed (so loops and links out of the repository are harmless), unreadable paths are
reported, and binary, oversized, minified, generated, lock and vendored files are
skipped with a reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pathspec

from ..config import Config
from ..errors import ConfigError
from ..gitcmd import run_git
from ..languages import language_for, name_and_suffix
from ..models import Skipped, SourceFile
from .guard import check_file_count, check_scope
from .secrets import is_mostly_key, is_secret_file

__all__ = ["Candidate", "list_candidates", "read_source"]

log = logging.getLogger(__name__)

VENDORED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".ctxpack", "node_modules", "bower_components", "vendor",
    "third_party", "third-party", "__pycache__", ".venv", "venv", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", ".idea", ".gradle",
    "site-packages", ".eggs", ".next", ".nuxt", ".cache",
})
LOCK_FILES = frozenset({
    "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json", "bun.lockb",
    "Cargo.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "go.sum",
    "composer.lock", "Gemfile.lock", "mix.lock", "flake.lock", "packages.lock.json",
    "Podfile.lock", "pubspec.lock",
})
_MINIFIED_SUFFIXES = (".min.js", ".min.css", ".min.mjs", ".bundle.js", ".js.map", ".css.map", ".map")
_BINARY_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".webp", ".bmp", ".pdf", ".zip", ".gz", ".tgz",
    ".bz2", ".xz", ".7z", ".jar", ".war", ".class", ".so", ".dylib", ".dll", ".exe", ".o",
    ".a", ".pyc", ".whl", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4", ".wav",
    ".mov", ".avi", ".sqlite", ".db", ".lance", ".npy", ".npz", ".pkl", ".parquet", ".bin",
})
_SNIFF = 8192


@dataclass(frozen=True, slots=True)
class Candidate:
    """A regular file that passed the path-level filters; content not read yet."""

    path: str
    size: int
    mtime_ns: int


def _spec(lines: list[str]) -> pathspec.PathSpec | None:
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _git_files(root: Path) -> list[str] | None:
    """Tracked + untracked-not-ignored files under ``root``, or None outside git.

    Also None when git's work tree does not hold ``root``: a repository's ``core.worktree``
    can point git at another folder, whose listing would not be this tree's files."""
    top = run_git(root, "rev-parse", "--show-toplevel", timeout=10)
    if top is None:
        return None
    try:
        root.resolve().relative_to(Path(top.decode("utf-8", "surrogateescape").strip()).resolve())
    except (ValueError, OSError):
        log.debug("git's work tree for %s is elsewhere (core.worktree); walking the folder instead", root)
        return None
    out = run_git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--deduplicate", timeout=120)
    if out is None:
        return None
    names = out.decode("utf-8", errors="surrogateescape").split("\0")
    return sorted({n for n in names if n and not n.startswith("/") and ".." not in n.split("/")})


def _walk(root: Path, skipped: list[Skipped], cfg: Config,
          progress: Callable[[str, int, int], None] | None = None) -> list[str]:
    """Sorted walk honouring nested .gitignore files, never following symlinks; stops past ``cfg.max_files``."""
    found: list[str] = []
    stack: list[tuple[str, list[tuple[str, pathspec.PathSpec]]]] = [("", [])]
    while stack:
        rel_dir, specs = stack.pop()
        abs_dir = root / rel_dir if rel_dir else root
        spec = _spec(_read_lines(abs_dir / ".gitignore"))
        if spec is not None:
            specs = [*specs, (rel_dir, spec)]
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(rel_dir or ".", f"unreadable directory: {exc.strerror or exc}"))
            continue
        subdirs: list[str] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if _ignored(rel, is_dir, specs):
                continue
            if is_dir:
                if entry.name in VENDORED_DIRS:
                    if entry.name not in (".git", ".ctxpack", "__pycache__"):
                        skipped.append(Skipped(rel + "/", "vendored or tool directory"))
                    continue
                subdirs.append(rel)
            else:
                found.append(rel)
                if len(found) % 2000 == 0:
                    check_file_count(root, len(found), cfg)
                    if progress is not None:
                        progress("discover", len(found), 0)
        stack.extend((d, specs) for d in reversed(subdirs))
    return sorted(found)


def _ignored(rel: str, is_dir: bool, specs: list[tuple[str, pathspec.PathSpec]]) -> bool:
    for base, spec in specs:
        sub = rel[len(base) + 1:] if base else rel
        if spec.match_file(sub + "/" if is_dir else sub):
            return True
    return False


def _path_reason(path: str) -> str | None:
    *dirs, name = path.split("/")
    for part in dirs:
        if part in VENDORED_DIRS:
            return f"vendored or tool directory ({part}/)"
    if name in LOCK_FILES:
        return "lock file"
    lower = name.lower()
    if lower.endswith(_MINIFIED_SUFFIXES):
        return "minified or generated file (by name)"
    if name_and_suffix(lower)[1] in _BINARY_SUFFIXES:
        return "binary file (by extension)"
    return None


def list_candidates(root: Path, cfg: Config, extra_excludes: tuple[str, ...] = (),
                    progress: Callable[[str, int, int], None] | None = None) -> tuple[list[Candidate], list[Skipped]]:
    """Path-level discovery: which regular files to consider, and what was left out.

    Args:
        root: repository root (must be a directory).
        cfg: the size limit, redaction and the guards (include/exclude apply at query time: ``filters``).
        extra_excludes: more gitignore-style patterns (e.g. the index directory).
        progress: called as ``progress("discover", files found, 0)`` during a long walk.

    Returns:
        Candidates sorted by path, and skipped paths with reasons.

    Raises:
        ConfigError: ``root`` is not a directory, is a filesystem root or home directory
            (without ``cfg.allow_broad``), or holds more than ``cfg.max_files`` files.
    """
    if not root.is_dir():
        raise ConfigError(f"no such directory: {root}. Pass the repository root")
    check_scope(root, cfg)
    skipped: list[Skipped] = []
    names = _git_files(root)
    if names is None:
        names = _walk(root, skipped, cfg, progress)
    check_file_count(root, len(names), cfg)
    ctxignore = _spec(_read_lines(root / ".ctxpackignore"))
    # cfg.include/exclude are applied at query time (filters.py): the index holds every file found here.
    exclude = _spec(list(extra_excludes))
    out: list[Candidate] = []
    for rel in names:
        if rel.startswith(".ctxpack/") or (ctxignore is not None and ctxignore.match_file(rel)):
            continue
        if exclude is not None and exclude.match_file(rel):
            continue
        reason = _path_reason(rel)
        if reason is None and cfg.redact and is_secret_file(rel):
            reason = "secret file (excluded by default; --no-redact includes it)"
        if reason:
            skipped.append(Skipped(rel, reason))
            continue
        try:
            st = os.lstat(root / rel)
        except OSError as exc:
            skipped.append(Skipped(rel, f"unreadable: {exc.strerror or exc}"))
            continue
        if stat.S_ISLNK(st.st_mode):
            skipped.append(Skipped(rel, _link_reason(root, rel)))
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # submodule directories, sockets, fifos
        if st.st_size > cfg.max_file_bytes:
            skipped.append(Skipped(rel, f"over size limit ({st.st_size} bytes > {cfg.max_file_bytes})"))
            continue
        out.append(Candidate(rel, st.st_size, st.st_mtime_ns))
    return out, skipped


def _link_reason(root: Path, rel: str) -> str:
    try:
        target = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return "symlink: broken or looping"
    try:
        inside = target.relative_to(root.resolve()).as_posix()
    except ValueError:
        return "symlink points outside the repository"
    return f"symlink to {inside} (not followed)"


def _content_reason(path: str, data: bytes) -> tuple[str | None, str]:
    if b"\0" in data[:_SNIFF]:
        return "binary file (NUL bytes)", ""
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    bad = text.count("\ufffd")
    if bad and bad > max(8, len(text) // 100):
        return "not UTF-8 text (undecodable bytes)", ""
    if len(data) > 4096:
        lines = text.count("\n") + 1
        if len(text) / lines > 300 or (lines < 30 and max(map(len, text.splitlines())) > 10_000):
            return "minified or generated (very long lines)", ""
    head = text[:1024]
    if ("Code generated" in head and "DO NOT EDIT" in head) or "@generated" in head:
        return "generated file (header says so)", ""
    return None, text


def read_source(root: Path, cand: Candidate, redact: bool = True) -> SourceFile | Skipped:
    """Read and vet one candidate.

    Args:
        redact: leave out a file that is mostly a private key, whatever its name.

    Returns:
        The decoded SourceFile, or a Skipped with the reason (binary, non-UTF-8,
        minified, generated, a private key, unreadable, vanished).
    """
    try:
        with open(root / cand.path, "rb") as fh:
            data = fh.read(cand.size + 1)
            st = os.fstat(fh.fileno())
    except FileNotFoundError:
        return Skipped(cand.path, "vanished during indexing")
    except OSError as exc:
        return Skipped(cand.path, f"unreadable: {exc.strerror or exc}")
    reason, text = _content_reason(cand.path, data)
    if reason:
        return Skipped(cand.path, reason)
    if redact and is_mostly_key(text):
        return Skipped(cand.path, "secret file: a private key (excluded by default; --no-redact includes it)")
    return SourceFile(
        path=cand.path,
        language=language_for(cand.path),
        size=len(data),
        mtime_ns=st.st_mtime_ns,
        sha1=hashlib.sha1(data).hexdigest(),
        text=text,
    )
