"""A multi-repository index: one directory, one index per repository, one embedding cache (issue 7).

Layout of ``--index-dir DIR`` when it holds several repositories::

    catalog.json      {"schema": 1, "repos": {name: {"root": "/abs/path", "index": "repos/<name>"}}}
    repos/<name>/     that repository's index (``store.IndexStore``: manifest + LanceDB tables)
    vectors/          the shared, content-addressed embedding cache (``vectors.VectorStore``)

Why a catalog of per-repository indexes rather than a ``repo`` column in shared tables:
each index keeps its atomic manifest, its write lock, its incremental update and its
snapshot cache unchanged, so one repository is re-indexed without rewriting or locking
the others and a repository is dropped by deleting its folder. The part that is costly
to compute, the vectors, *is* shared: chunks are content-addressed, so a file vendored in
ten repositories is embedded once.

``pack_many`` packs across selected repositories: each is ranked on its own, the ranked
lists are merged by score, and paths are prefixed with the repository's name.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, load_config
from .errors import ConfigError, IndexNotFound
from .models import Chunk, Pack, RankedFile, Redaction, Skipped, Symbol

if TYPE_CHECKING:  # the engine loads the pipeline (numpy): `is_catalog` must stay cheap
    from .engine import Target

__all__ = ["CATALOG", "Catalog", "is_catalog", "pack_many", "read_repo_list", "select", "targets_for"]

CATALOG = "catalog.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Catalog:
    """The repositories of a multi-repository index directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory).expanduser().resolve()
        self.path = self.dir / CATALOG
        self.repos: dict[str, Path] = {}
        if self.path.is_file():
            try:
                doc = json.loads(self.path.read_text(encoding="utf-8"))
                self.repos = {str(k): Path(v["root"]) for k, v in doc["repos"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"repository catalog unreadable: {self.path}. Delete it and index again") from exc

    def index_dir(self, name: str) -> Path:
        return self.dir / "repos" / name

    @property
    def vectors_dir(self) -> Path:
        return self.dir / "vectors"

    def add(self, name: str, root: Path) -> None:
        """Register ``root`` as ``name``.

        Raises:
            ConfigError: the name is taken by another root, or is not a plain name.
        """
        if not _NAME.fullmatch(name):
            raise ConfigError(f"repository name not usable: {name!r}. Rename the folder (letters, digits, . _ -)")
        have = self.repos.get(name)
        if have is not None and have != root:
            raise ConfigError(f"repository name {name!r} is already used for {have} in {self.path}. "
                              "Rename one folder or use another --index-dir")
        self.repos[name] = root

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        repos = {n: {"root": str(r), "index": f"repos/{n}"} for n, r in sorted(self.repos.items())}
        doc = {"schema": 1, "repos": repos}
        tmp = self.dir / f"{CATALOG}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def is_catalog(index_dir: str | os.PathLike[str] | None) -> bool:
    """True when ``index_dir`` holds a multi-repository index."""
    return bool(index_dir) and (Path(index_dir).expanduser() / CATALOG).is_file()  # type: ignore[arg-type]


def read_repo_list(path: str | os.PathLike[str]) -> list[Path]:
    """Repository paths from a manifest file: one a line, ``#`` comments, relative to the file.

    Raises:
        ConfigError: the file cannot be read or lists nothing.
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read repository list: {path}: {exc.strerror}. "
                          "Pass a file with one path a line") from exc
    out = [(p.parent / s).resolve() for line in lines if (s := line.split("#", 1)[0].strip())]
    if not out:
        raise ConfigError(f"repository list is empty: {path}. Put one repository path on each line")
    return out


def _root(path: Path) -> Path:
    if not path.is_dir():
        raise ConfigError(f"not a directory: {path}. Pass repository roots")
    return path.resolve()


def targets_for(index_dir: str | os.PathLike[str], roots: list[Path], **overrides: Any) -> list[Target]:
    """Register ``roots`` in the catalog at ``index_dir`` and return them as index targets.

    Each repository keeps its own settings (``load_config(root)``), with ``overrides`` on top;
    its index goes to ``repos/<name>`` and its vectors to the shared ``vectors/``.

    Raises:
        ConfigError: a root is not a directory, two roots share a name, bad settings.
    """
    cat = Catalog(index_dir)
    targets: list[Target] = []
    seen: dict[str, Path] = {}
    for r in roots:
        root = _root(r)
        name = root.name
        if name in seen and seen[name] != root:
            raise ConfigError(f"two repositories named {name!r}: {seen[name]} and {root}. "
                              "Rename one folder or index them into separate --index-dir")
        if name in seen:
            continue
        seen[name] = root
        cat.add(name, root)
        targets.append(_target(cat, name, root, overrides))
    cat.save()
    return targets


def _target(cat: Catalog, name: str, root: Path, overrides: dict[str, Any]) -> Target:
    ov = {k: v for k, v in overrides.items() if k not in ("index_dir", "vectors_dir")}
    cfg = load_config(root, **ov)
    cfg = replace(cfg, index_dir=str(cat.index_dir(name)), vectors_dir=str(cat.vectors_dir))
    from .engine import Target

    return Target(name, root, cfg)


def select(index_dir: str | os.PathLike[str], names: list[str], **overrides: Any) -> list[Target]:
    """The catalogued repositories called ``names`` (``all``: every one), as targets.

    Raises:
        IndexNotFound: no catalog at ``index_dir``.
        ConfigError: a name the catalog does not have.
    """
    if not is_catalog(index_dir):
        raise IndexNotFound(f"no multi-repository index in {index_dir}. "
                            f"Run: ctxpack index --index-dir {index_dir} REPO...")
    cat = Catalog(index_dir)
    if not names or names == ["all"]:
        names = sorted(cat.repos)
    out = []
    for n in dict.fromkeys(names):
        key = n if n in cat.repos else Path(n).name if Path(n).resolve() == cat.repos.get(Path(n).name) else None
        if key is None:
            known = ", ".join(sorted(cat.repos)) or "none"
            raise ConfigError(f"unknown repository: {n!r} in {cat.path}. Known: {known} (or all)")
        out.append(_target(cat, key, cat.repos[key], overrides))
    return out


# ---- packing across repositories ----------------------------------------------------------


def pack_many(repos: dict[str, Any], query: str, *, budget: int | None = None, fmt: str | None = None,
              focus: tuple[str, ...] = ()) -> Pack:
    """Pack the context for ``query`` from several loaded repositories (``pipeline.Repo``).

    Each repository is ranked alone; the lists are merged by score (then path), and
    every path is prefixed with the repository's name (``name/path``). ``focus`` paths
    are given the same way.

    Raises:
        ConfigError, BudgetError: as ``pipeline.pack_for``.
    """
    from .filters import path_filter
    from .pack import PackInputs, pack_files
    from .pipeline import _check_query, rank_for
    from .tokens import get_counter

    query = _check_query(query)
    names = sorted(repos)
    cfg: Config = repos[names[0]].cfg
    budget = cfg.budget if budget is None else budget
    if not isinstance(budget, int) or budget <= 0:
        raise ConfigError(f"budget must be a positive integer: {budget!r}. Use e.g. --budget 32000")

    def split(path: str) -> tuple[Any, str]:
        name, _, rel = path.partition("/")
        return repos[name], rel

    ranked: list[RankedFile] = []
    for n in names:
        own = tuple(f.partition("/")[2] for f in focus if f.partition("/")[0] == n)
        ranked += [replace(r, path=f"{n}/{r.path}") for r in rank_for(repos[n], query, own)]
    ranked.sort(key=lambda r: (-r.score, r.path))
    allowed = {n: path_filter(repos[n].cfg) for n in names}  # include/exclude, as rank_for applied them
    records = {f"{n}/{p}": replace(rec, path=f"{n}/{p}") for n in names for p, rec in repos[n].snapshot.files.items()
               if allowed[n] is None or allowed[n](p)}

    def chunks_for(paths: list[str]) -> list[Chunk]:
        out: list[Chunk] = []
        for p in paths:
            repo, rel = split(p)
            out += [replace(c, path=p) for c in repo.chunks_for([rel])]
        return out

    def symbols_for(p: str) -> list[Symbol]:
        repo, rel = split(p)
        return [replace(s, path=p) for s in repo.symbols_by_path.get(rel, [])]

    def read_text(p: str) -> str | None:
        repo, rel = split(p)
        return repo.read_text(rel)  # type: ignore[no-any-return]

    def redact(p: str, text: str, first: int) -> tuple[str, tuple[Redaction, ...]]:
        repo, rel = split(p)
        red, found = repo.redact(rel, text, first)
        return red, tuple(replace(r, path=p) for r in found)

    skipped = tuple(Skipped(f"{n}/{s.path}", s.reason) for n in names for s in repos[n].snapshot.manifest.skipped)
    inputs = PackInputs(records=records, read_text=read_text, chunks_for=chunks_for, symbols_for=symbols_for,
                        redact=redact if cfg.redact else None)
    pack = pack_files(query=query, ranked=ranked, inputs=inputs, budget=budget, counter=get_counter(cfg.encoding),
                      fmt=fmt or cfg.format, skipped=skipped, repo_map=cfg.repo_map,
                      outline_share=cfg.outline_share, chunk_share=cfg.chunk_share, skeleton_share=cfg.skeleton_share,
                      map_share=cfg.map_share, size_exponent=cfg.size_exponent)
    lanes = [repos[n].lanes() for n in names]
    dense = [ln["dense"] for ln in lanes]
    commits = sum(ln["history"] for ln in lanes if ln["history"] is not False)
    pack.lanes.update({"lexical": True, "dense": True if all(d is True for d in dense) else
                       False if all(d is False for d in dense) else "partial",
                       "history": commits if any(ln["history"] is not False for ln in lanes) else False})
    return pack
