"""Keep served repositories current: watch their files and re-index what changed.

Built on watchfiles (inotify/FSEvents through Rust's ``notify``). A move of git's HEAD (a
commit, checkout or reset) re-reads the history the ranking uses. Changes are debounced
(bursts such as a branch switch or a formatter run become one update) and the update is
made in memory for the reported files (``RepoService.update``): only they are re-parsed
and the ranking index is patched; the on-disk index and the embeddings follow in the
background. Requests keep being served from the previous index meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import MissingDependency
from .service import RepoService

__all__ = ["watch_repos"]

log = logging.getLogger(__name__)

_HEAD_FILES = {".git/HEAD", ".git/logs/HEAD"}  # written by every commit, checkout and reset
_IGNORED_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"}


def _filter(rs: RepoService) -> Callable[[object, str], bool]:
    index_dir = rs.repo.store.dir if rs.loaded else rs.root / ".ctxpack"

    def keep(_change: object, path: str) -> bool:
        p = Path(path)
        if p == index_dir or index_dir in p.parents:
            return False
        try:
            rel = p.relative_to(rs.root)
        except ValueError:
            return False
        if rel.as_posix() in _HEAD_FILES:
            return True  # HEAD moved: the history signals follow
        return not any(part in _IGNORED_DIRS for part in rel.parts[:-1]) and not rel.name.endswith((".swp", "~"))

    return keep


def watch_repos(repos: list[RepoService], stop: threading.Event, *, debounce_ms: int = 30,
                on_update: Callable[[RepoService, int], None] | None = None) -> list[threading.Thread]:
    """Start one watcher thread per repository; each runs until ``stop`` is set.

    Raises:
        MissingDependency: watchfiles is not installed.
    """
    try:
        import watchfiles
    except ImportError as exc:
        raise MissingDependency("watching needs watchfiles. Install: pip install 'ctxpack[server]'") from exc

    def run(rs: RepoService) -> None:
        for changes in watchfiles.watch(rs.root, watch_filter=_filter(rs), debounce=debounce_ms, step=10,
                                        stop_event=stop, yield_on_timeout=False, raise_interrupt=False):
            rels = []
            for _change, path in changes:
                try:
                    rels.append(Path(path).relative_to(rs.root).as_posix())
                except ValueError:
                    continue
            files = [r for r in rels if r not in _HEAD_FILES]
            try:
                changed = rs.update(files) if files else False
                if len(files) < len(rels):
                    changed = rs.update_history() or changed
            except Exception as exc:  # a watcher must outlive one bad update
                log.warning("update of %s failed: %s", rs.root, exc)
                continue
            if changed and on_update is not None:
                on_update(rs, len(changes))

    threads = [threading.Thread(target=run, args=(rs,), name=f"watch:{rs.root.name}", daemon=True) for rs in repos]
    for t in threads:
        t.start()
    return threads
