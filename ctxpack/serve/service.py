"""Warm, live repositories for long-running front ends (``serve``, ``watch``, ``mcp``).

``Service`` holds several ``repo_service.RepoService`` objects (one per repository, each
keeping its loaded index warm and current) and refuses paths it does not serve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..errors import ConfigError
from ..models import Pack, PackedFile, Progress
from ..pipeline import Repo, pack_for, search_repo
from ..render import hit_to_dict
from .repo_service import RepoService
from .worker import Worker

__all__ = ["RepoService", "Service", "check_rel_path", "symbol_at"]

log = logging.getLogger(__name__)


class Service:
    """The repositories one process serves.

    Background index writes and the secret pre-scan run in a spawned worker process, so a
    script that creates a Service must guard its entry point (``if __name__ == "__main__":``),
    as for any ``multiprocessing`` use.
    """

    def __init__(self, paths: list[str], targets: list[tuple[str, Path, Config]] | None = None,
                 **overrides: Any) -> None:
        """Serve the repositories at ``paths``, or ``targets`` (name, root, settings: a multi-repository index's)."""
        if not paths and not targets:
            raise ConfigError("no repository given. Pass one or more PATHs")
        self.repos: dict[str, RepoService] = {}
        self.worker = Worker()
        for name, root, cfg in targets or ():
            self.repos[str(root)] = RepoService(root, cfg, name, worker=self.worker)
        for p in paths if not targets else ():
            root = Path(p).expanduser().resolve()
            if not root.is_dir():
                raise ConfigError(f"not a directory: {p}. Pass repository roots")
            self.repos[str(root)] = RepoService(root, load_config(root, **overrides), worker=self.worker)

    def load(self, progress: Progress | None = None) -> None:
        for rs in self.repos.values():
            rs.load(progress)

    def get(self, repo: str | None) -> RepoService:
        """The served repository named by ``repo`` (a path or folder name; may be omitted with one repo).

        Raises:
            ConfigError: not one of the served repositories.
        """
        if repo is None or repo == "":
            if len(self.repos) == 1:
                return next(iter(self.repos.values()))
            raise ConfigError(f"several repositories are served: name one with \"repo\" ({', '.join(self.names())})")
        p = Path(repo).expanduser()
        key = str(p.resolve()) if p.is_absolute() else None
        if key in self.repos:
            return self.repos[key]
        matches = [rs for rs in self.repos.values() if rs.name == repo] or [
            rs for rs in self.repos.values() if rs.root.name == repo]
        if len(matches) == 1 and not p.is_absolute():
            return matches[0]
        raise ConfigError(f"repository not served: {repo}. Served: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [str(rs.root) if rs.name == rs.root.name else f"{rs.name} ({rs.root})" for rs in self.repos.values()]

    def pack(self, repo: str | list[str] | None, query: str, *, budget: int | None = None, fmt: str | None = "json",
             focus: tuple[str, ...] = (), cursor: tuple[str, int] | None = None,
             wait_embeddings: bool = False, should_stop: Callable[[], bool] | None = None,
             on_file: Callable[[PackedFile], None] | None = None) -> Pack:
        """Pack for one served repository, or across several (``repo``: a list of names, or ``"all"``).

        Across several, each is ranked alone, the rankings are merged by score and paths
        (and ``focus`` paths) carry the repository's name as first component.
        ``on_file`` (one repository): each packed file as soon as it is decided, in order.
        """
        if repo == "all" or isinstance(repo, list):
            chosen = list(self.repos.values()) if repo == "all" else [self.get(n) for n in dict.fromkeys(repo)]
            if len(chosen) > 1:
                if cursor is not None or wait_embeddings:
                    raise ConfigError("\"cursor\" and \"wait_embeddings\" work with one repository")
                names = [rs.name for rs in chosen]
                if len(set(names)) < len(names):
                    raise ConfigError(f"served repositories share a name: {', '.join(sorted(names))}")
                from ..pipeline import pack_many

                repos = {rs.name: rs.repo for rs in chosen}
                for f in focus:
                    name, _, rel = f.partition("/")
                    if name not in repos:
                        raise ConfigError(f"focus path must start with a repository name: {f}")
                    check_rel_path(repos[name], rel)
                p = pack_many(repos, query, budget=budget, fmt=fmt, focus=focus)
                for f in p.files if on_file is not None else ():
                    if f.mode != "map":
                        on_file(f)
                return p
            repo = chosen[0].name if chosen else None
        rs = self.get(repo)  # type: ignore[arg-type]
        r = rs.repo
        focus = tuple(check_rel_path(r, f) for f in focus)
        cursor_path = check_rel_path(r, cursor[0]) if cursor is not None else None
        if cursor_path is not None:
            focus = tuple(dict.fromkeys((*focus, cursor_path)))
        r = rs.current(focus)  # the files being edited, as saved
        if cursor is not None and cursor_path is not None:
            name = symbol_at(r, cursor_path, cursor[1])
            if name:
                query = f"{query}\n{name}"  # the symbol under the cursor is named in the instruction
        return pack_for(r, query, budget=budget, fmt=fmt, focus=focus, wait_embeddings=wait_embeddings,
                        should_stop=should_stop, on_file=on_file)

    def search(self, repo: str | None, query: str, k: int = 10) -> list[dict[str, Any]]:
        if not 1 <= k <= 200:
            raise ConfigError(f"k must be between 1 and 200: {k}")
        r = self.get(repo).repo
        return [hit_to_dict(c, s, digits=6, text=True) for c, s in search_repo(r, query, k)]

    def status(self) -> dict[str, Any]:
        return {"repos": [rs.status() for rs in self.repos.values()]}

    def close(self) -> None:
        for rs in self.repos.values():
            rs.close()
        self.worker.close()


def check_rel_path(repo: Repo, path: str) -> str:
    """A repository-relative POSIX path inside the repository, or ConfigError."""
    p = path.replace("\\", "/").removeprefix("./")
    if Path(p).is_absolute():
        try:
            p = Path(p).resolve().relative_to(repo.root).as_posix()
        except ValueError:
            raise ConfigError(f"path outside the repository: {path}") from None
    if not p or p.startswith("/") or ".." in p.split("/"):
        raise ConfigError(f"path outside the repository: {path}")
    return p


def symbol_at(repo: Repo, path: str, line: int) -> str | None:
    """The innermost definition of ``path`` that spans ``line`` (1-based)."""
    best = None
    for s in repo.symbols_by_path.get(path, []):
        if s.line <= line <= s.end_line and (best is None or s.end_line - s.line < best.end_line - best.line):
            best = s
    return best.name if best else None
