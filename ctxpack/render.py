"""Render packed files as xml, markdown, plain text or JSON.

Every file block starts with a printable non-space character and ends with a newline,
so the tokens of a whole rendering are exactly the sum of its blocks' (``tokens.joins_cleanly``):
the packer adds up counts instead of re-counting the whole text.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .models import Chunk, EmbedStats, IndexStats, Pack, PackedFile

if TYPE_CHECKING:
    from .engines.run import IndexRun

__all__ = ["JSON_SCHEMA_VERSION", "block", "block_parts", "context_parts", "embed_stats_to_dict", "file_to_dict", "footer",
           "header", "hit_to_dict", "index_run_to_dict", "index_stats_to_dict", "lanes_text", "pack_to_dict", "render",
           "render_context", "search_to_dict", "summary_line", "to_json", "xml_body"]

JSON_SCHEMA_VERSION = 1


# The tags of the xml wrapper. Issue 18: a file holding "</file></context>" closed the wrapper
# and what followed read as the prompt's own text. Any opening or closing tag of these names
# inside a body loses its "<" to "&lt;"; nothing else in the code is touched.
_WRAPPER_TAG = re.compile(r"<(?=/?(?:file|context|repo_map)(?![\w.:-]))", re.IGNORECASE)


def xml_body(body: str) -> str:
    """``body`` unable to open or close a tag of the xml wrapper (``<file``, ``</context`` ...)."""
    return _WRAPPER_TAG.sub("&lt;", body) if "<" in body else body


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return fence


def _ranges_attr(ranges: tuple[tuple[int, int], ...]) -> str:
    return ",".join(f"{a}-{b}" for a, b in ranges)


def header(fmt: str) -> str:
    """Text before the first file block."""
    return {"xml": "<context>\n", "markdown": "", "plain": ""}[_ctx_fmt(fmt)]


def footer(fmt: str) -> str:
    """Text after the last file block."""
    return {"xml": "</context>\n", "markdown": "", "plain": ""}[_ctx_fmt(fmt)]


def _ctx_fmt(fmt: str) -> str:
    return "xml" if fmt == "json" else fmt


def block(fmt: str, path: str, mode: str, body: str, language: str = "text", ranges: tuple[tuple[int, int], ...] = ()) -> str:
    """One file's block. ``body`` must end with a newline (or be empty)."""
    return "".join(block_parts(fmt, path, mode, body, language, ranges))


def block_parts(fmt: str, path: str, mode: str, body: str, language: str = "text",
                ranges: tuple[tuple[int, int], ...] = ()) -> tuple[str, str, str]:
    """``block`` as (opening, body, closing): the body can be counted on its own (and memoized)."""
    if body and not body.endswith("\n"):
        body += "\n"
    fmt = _ctx_fmt(fmt)
    if fmt == "xml":
        body = xml_body(body)
        if mode == "map":
            return "<repo_map>\n", body, "</repo_map>\n"
        if mode == "diff":
            return "<diff>\n", body, "</diff>\n"
        extra = f' lines="{_ranges_attr(ranges)}"' if mode == "chunks" else ""
        return f'<file path="{_xml_attr(path)}" mode="{mode}"{extra}>\n', body, "</file>\n"
    if fmt == "markdown":
        lang = "" if language == "text" else language
        if mode == "diff":
            f = _fence(body)
            return f"## Uncommitted changes\n\n{f}diff\n", body, f"{f}\n\n"
        title = "Repository map" if mode == "map" else f"{path}" + ("" if mode == "full" else f" ({mode}{', lines ' + _ranges_attr(ranges) if mode == 'chunks' else ''})")
        f = _fence(body)
        return f"## {title}\n\n{f}{lang}\n", body, f"{f}\n\n"
    if mode == "diff":
        return "==> uncommitted changes (diff) <==\n", body, "\n"
    title = "repository map" if mode == "map" else path + ("" if mode == "full" else f" [{mode}{' ' + _ranges_attr(ranges) if mode == 'chunks' else ''}]")
    return f"==> {title} <==\n", body, "\n"


def render_context(pack: Pack) -> str:
    """The prompt text of a pack in its format (xml for json)."""
    return "".join(context_parts(pack))


def context_parts(pack: Pack) -> list[str]:
    """``render_context`` before joining: header, one block per file, footer."""
    return [header(pack.format), *(block(pack.format, f.path, f.mode, f.text, f.language, f.ranges) for f in pack.files),
            footer(pack.format)]


def file_to_dict(f: PackedFile) -> dict[str, Any]:
    """One packed file's entry in the JSON document (and in a streamed ``file`` message)."""
    return {"path": f.path, "mode": f.mode, "tokens": f.tokens, "score": f.score, "reasons": list(f.reasons),
            "ranges": [list(r) for r in f.ranges]}


def pack_to_dict(pack: Pack) -> dict[str, Any]:
    """The stable JSON document (schema 1) shared by the CLI and the server."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "query": pack.query,
        "budget": pack.budget,
        "tokens": pack.tokens,
        "encoding": pack.encoding,
        "lanes": pack.lanes,
        "files": [file_to_dict(f) for f in pack.files if f.mode not in ("map", "diff")],
        "repo_map_tokens": sum(f.tokens for f in pack.files if f.mode == "map"),
        "diff_tokens": sum(f.tokens for f in pack.files if f.mode == "diff"),
        "omitted": [{"path": s.path, "reason": s.reason} for s in pack.omitted],
        "redacted": [{"path": r.path, "line": r.line, "type": r.type} for r in pack.redactions],
        "skipped": [{"path": s.path, "reason": s.reason} for s in pack.skipped],
        "context": pack.context,
    }


def render(pack: Pack, fmt: str | None = None) -> str:
    """The text to print for ``pack``: its context, or the JSON document."""
    fmt = fmt or pack.format
    if fmt == "json":
        return json.dumps(pack_to_dict(pack), indent=2, ensure_ascii=False) + "\n"
    return pack.context


def summary_line(p: Pack) -> str:
    """One line for stderr: what the pack holds."""
    counts: dict[str, int] = {}
    for f in p.files:
        counts[f.mode] = counts.get(f.mode, 0) + 1
    return (f"Packed {p.tokens}/{p.budget} tokens ({p.encoding}): {counts.get('full', 0)} full, "
            f"{counts.get('chunks', 0)} chunked, {counts.get('skeleton', 0)} skeletons"
            + (", repo map" if counts.get("map") else "") + (", uncommitted diff" if counts.get("diff") else "")
            + (f"; {len(p.redactions)} secret{'' if len(p.redactions) == 1 else 's'} redacted" if p.redactions else "")
            + ("" if p.lanes.get("dense") in (True, False) else f"; dense lane {p.lanes['dense']} embedded"
               " (run `ctxpack index` or pass --wait-embeddings)"))


def lanes_text(lanes: dict[str, Any]) -> str:
    """The ranking lanes for a person: ``lexical, dense 120/800 chunks, history 2000 commits``."""
    out = ["lexical"] if lanes.get("lexical") else []
    dense = lanes.get("dense")
    if dense is True:
        out.append("dense")
    elif dense:
        out.append(f"dense {dense}")
    history = lanes.get("history")
    if history is not False and history is not None:
        out.append(f"history {history} commits")
    return ", ".join(out) or "none"


# ---- the other JSON documents (``index --format json``, ``search --format json``, the server) ----


def to_json(doc: dict[str, Any]) -> str:
    """A summary document as printed: 2-space indent, ASCII, trailing newline."""
    return json.dumps(doc, indent=2) + "\n"


def index_stats_to_dict(stats: IndexStats) -> dict[str, object]:
    """IndexStats as a JSON-ready dict."""
    d = asdict(stats)
    d["skipped"] = [{"path": s.path, "reason": s.reason} for s in stats.skipped]
    return d


def embed_stats_to_dict(e: EmbedStats | None) -> dict[str, object] | None:
    """EmbedStats as a JSON-ready dict (None: the dense lane was off)."""
    if e is None:
        return None
    return {"model": e.model, "chunks": e.chunks, "embedded": e.embedded, "cached": e.cached,
            "seconds": round(e.seconds, 3), "complete": e.complete}


def index_run_to_dict(run: IndexRun) -> dict[str, object]:
    """What an engine run (``pipeline.index_many``) did, as a JSON-ready dict."""
    return {"schema": JSON_SCHEMA_VERSION, "engine": run.engine, "files_sent": run.files_sent,
            "repos": {n: index_stats_to_dict(st) for n, st in run.repos.items()},
            "embeddings": embed_stats_to_dict(run.embeddings)}


def hit_to_dict(chunk: Chunk, score: float, *, digits: int = 4, text: bool = False) -> dict[str, object]:
    """One search hit: where the chunk is, its score (rounded to ``digits``), and its text if asked."""
    d: dict[str, object] = {"path": chunk.path, "start_line": chunk.start_line, "end_line": chunk.end_line,
                            "score": round(score, digits), "symbols": list(chunk.symbols), "tokens": chunk.tokens}
    if text:
        d["text"] = chunk.text
    return d


def search_to_dict(query: str, hits: list[dict[str, object]]) -> dict[str, object]:
    """A search answer (schema 1) around hits from ``hit_to_dict``."""
    return {"schema": JSON_SCHEMA_VERSION, "query": query, "hits": hits}
