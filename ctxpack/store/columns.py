"""The tables' schemas and columns, and the in-memory snapshot built from them (no LanceDB import)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import MissingDependency
from ..models import Chunk, FileRecord, FileRow, Symbol, Uses, count_uses
from .manifest import Manifest

TABLES = ("files", "symbols", "chunks")


def lancedb_module() -> Any:
    # Lance's Rust logger writes WARN lines to stderr ("No existing dataset ..."): keep them for errors.
    os.environ.setdefault("LANCEDB_LOG", "error")
    try:
        import lancedb
    except ImportError as exc:  # pragma: no cover - lancedb is a core dependency
        raise MissingDependency("the index needs lancedb. Install: pip install lancedb") from exc
    return lancedb


def table_schemas() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "files": pa.schema([
            ("path", pa.string()), ("sha1", pa.string()), ("language", pa.string()),
            ("size", pa.int64()), ("mtime_ns", pa.int64()), ("tokens", pa.int64()),
            ("lines", pa.int64()), ("terms", pa.list_(pa.string())), ("counts", pa.list_(pa.int32())),
            ("parse_error", pa.string()),
        ]),
        "symbols": pa.schema([
            ("path", pa.string()), ("name", pa.string()), ("kind", pa.string()),
            ("category", pa.string()), ("line", pa.int32()), ("end_line", pa.int32()),
            ("signature", pa.string()), ("parent", pa.string()), ("doc", pa.string()),
        ]),
        "chunks": pa.schema([
            ("id", pa.string()), ("path", pa.string()), ("start_line", pa.int32()),
            ("end_line", pa.int32()), ("text", pa.string()), ("tokens", pa.int32()),
            ("content_hash", pa.string()), ("symbols", pa.list_(pa.string())),
            ("search_text", pa.string()),
        ]),
    }


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """A chunk without its text (the text is the file's lines ``start``..``end``)."""

    id: str
    start_line: int
    end_line: int
    tokens: int
    content_hash: str
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IndexSnapshot:
    """The parts of the index ranking and packing need, in memory (values, no handles)."""

    files: dict[str, FileRecord]
    file_terms: dict[str, tuple[list[str], list[int]]]
    symbols: dict[str, tuple[Symbol, ...]]  # path -> its definitions (files with none are absent)
    uses: dict[str, Uses]  # path -> its references, counted (files with none are absent)
    chunks: dict[str, list[ChunkSpan]]
    manifest: Manifest


def interned(cols: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
    """``cols`` with the strings and numbers that repeat (paths, names, kinds, terms, lines) shared, in place.

    Arrow hands out a new string object per cell: for a large repository that is millions of
    copies of a few thousand paths and terms. Shared, they take a fraction of the memory, and
    the pickled snapshot cache stores each once (pickle memoizes objects).
    """
    intern = sys.intern
    for table, names in (("files", ("path", "language")), ("symbols", ("path", "name", "kind", "category", "parent")),
                         ("chunks", ("path",))):
        col = cols[table]
        for name in names:
            col[name] = [intern(v) if isinstance(v, str) else v for v in col[name]]
    cols["files"]["terms"] = [[intern(t) for t in ts] for ts in cols["files"]["terms"]]
    cols["chunks"]["symbols"] = [[intern(t) for t in ts] if ts else ts for ts in cols["chunks"]["symbols"]]
    # Line numbers and counts repeat too (ints above 256 are one object per cell otherwise).
    share: dict[int, int] = {}
    one = share.setdefault
    for table, names in (("symbols", ("line", "end_line")), ("chunks", ("start_line", "end_line", "tokens"))):
        for name in names:
            cols[table][name] = [one(v, v) for v in cols[table][name]]
    cols["files"]["counts"] = [[one(v, v) for v in cs] for cs in cols["files"]["counts"]]
    return cols


def snapshot_from_columns(cols: dict[str, dict[str, list[Any]]], man: Manifest) -> IndexSnapshot:
    f = cols["files"]
    files = {
        p: FileRecord(p, sha, lang, size, mt, tok, ln)
        for p, sha, lang, size, mt, tok, ln in zip(f["path"], f["sha1"], f["language"], f["size"], f["mtime_ns"],
                                                   f["tokens"], f["lines"], strict=True)
    }
    file_terms = {p: (t, c) for p, t, c in zip(f["path"], f["terms"], f["counts"], strict=True)}
    s = cols["symbols"]
    # Definitions as Symbols; references only counted (``Uses``): they are most rows of a big index.
    refs: dict[str, list[tuple[str, bool]]] = {}
    def_rows = []
    for k, (path, name, kind, category) in enumerate(zip(s["path"], s["name"], s["kind"], s["category"], strict=True)):
        if kind == "def":
            def_rows.append(k)
        elif (got := refs.get(path)) is not None:
            got.append((name, category == "import"))
        else:
            refs[path] = [(name, category == "import")]
    per_path: dict[str, list[Symbol]] = {}
    for k in def_rows:
        sym = Symbol(s["path"][k], s["name"][k], "def", s["category"][k], s["line"][k], s["end_line"][k],
                     s["signature"][k], s["parent"][k], s["doc"][k])
        per_path.setdefault(sym.path, []).append(sym)
    symbols = {p: tuple(v) for p, v in per_path.items()}
    uses = {p: count_uses(keys) for p, keys in refs.items()}
    c = cols["chunks"]
    chunks: dict[str, list[ChunkSpan]] = {}
    for path, a, b, tok, h, cid, syms in zip(c["path"], c["start_line"], c["end_line"], c["tokens"],
                                              c["content_hash"], c["id"], c["symbols"], strict=True):
        chunks.setdefault(path, []).append(ChunkSpan(cid, a, b, tok, h, tuple(syms or ())))
    for spans in chunks.values():
        spans.sort(key=lambda x: x.start_line)
    return IndexSnapshot(files, file_terms, symbols, uses, chunks, man)


def create_fts_index(tbl: Any) -> None:
    from lancedb.index import FTS

    tbl.create_index("search_text", config=FTS(with_position=False, base_tokenizer="whitespace", lower_case=True, stem=False, remove_stop_words=False), replace=True)


# The columns of each table that the snapshot cache keeps (the chunks table also holds text and search_text).
CACHED_COLUMNS = {
    "files": ("path", "sha1", "language", "size", "mtime_ns", "tokens", "lines", "terms", "counts", "parse_error"),
    "symbols": ("path", "name", "kind", "category", "line", "end_line", "signature", "parent", "doc"),
    "chunks": ("path", "start_line", "end_line", "tokens", "content_hash", "id", "symbols"),
}


def file_columns(rows: list[FileRow]) -> dict[str, list[Any]]:
    recs = [f.record for f in rows]
    return {
        "path": [r.path for r in recs], "sha1": [r.sha1 for r in recs], "language": [r.language for r in recs],
        "size": [r.size for r in recs], "mtime_ns": [r.mtime_ns for r in recs], "tokens": [r.tokens for r in recs],
        "lines": [r.lines for r in recs], "terms": [list(f.terms) for f in rows],
        "counts": [list(f.counts) for f in rows], "parse_error": [f.parse_error for f in rows],
    }


def symbol_columns(symbols: list[Symbol]) -> dict[str, list[Any]]:
    return {name: [getattr(s, name) for s in symbols] for name in CACHED_COLUMNS["symbols"]}


def chunk_columns(chunks: list[tuple[Chunk, str]]) -> dict[str, list[Any]]:
    cs = [c for c, _ in chunks]
    return {
        "id": [c.id for c in cs], "path": [c.path for c in cs], "start_line": [c.start_line for c in cs],
        "end_line": [c.end_line for c in cs], "text": [c.text for c in cs], "tokens": [c.tokens for c in cs],
        "content_hash": [c.content_hash for c in cs], "symbols": [list(c.symbols) for c in cs],
        "search_text": [t for _, t in chunks],
    }


def chunks_of(cols: dict[str, list[Any]]) -> list[Chunk]:
    """Chunk rows (column lists) as Chunks."""
    rows = zip(cols["id"], cols["path"], cols["start_line"], cols["end_line"], cols["text"], cols["tokens"],
               cols["content_hash"], cols["symbols"], strict=True)
    return [Chunk(cid, path, a, b, text, tok, h, tuple(syms or ())) for cid, path, a, b, text, tok, h, syms in rows]


def cached_part(cols: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
    """The snapshot cache's share of freshly written columns (no chunk texts), strings shared."""
    return interned({t: {name: cols[t][name] for name in names} for t, names in CACHED_COLUMNS.items()})


def patched_columns(prior: dict[str, dict[str, list[Any]]], changed: dict[str, set[str]], new: dict[str, dict[str, list[Any]]],
             columns: dict[str, tuple[str, ...]]) -> dict[str, dict[str, list[Any]]]:
    """``prior``'s ``columns`` with the rows of ``changed`` paths deleted and ``new`` rows appended.

    The order is the tables' own after ``delete`` then ``add`` (kept rows, then new ones), so
    a patched cache equals what reading the tables back would give, and two patches in a
    row equal one with the paths of both and the second's rows after the first's survivors.
    """
    out: dict[str, dict[str, list[Any]]] = {}
    for table, names in columns.items():
        old = prior[table]
        gone = changed[table]
        keep = [i for i, p in enumerate(old["path"]) if p not in gone]
        out[table] = {name: [old[name][i] for i in keep] + new[table][name] for name in names}
    return out
