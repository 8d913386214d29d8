"""The human view of a pack: what goes in, in which form, why, and what was left out."""

from __future__ import annotations

import io
import json
from typing import Any

from .models import Pack
from .render import pack_to_dict

__all__ = ["preview_json", "preview_renderable", "preview_text"]

_MODE_STYLE = {"full": "green", "chunks": "yellow", "skeleton": "cyan", "map": "magenta"}


def preview_renderable(pack: Pack, verbose: bool = False) -> Any:
    """A rich renderable: budget bar, table of packed files, left-out files."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    used = pack.tokens
    title = Text.assemble(
        ("Budget ", "bold"), f"{used:,} / {pack.budget:,} tokens ({pack.encoding}, {used / pack.budget:.0%})"
    )
    bar = ProgressBar(total=pack.budget, completed=used, width=60)
    table = Table(show_lines=False, expand=False)
    table.add_column("#", justify="right")
    table.add_column("file")
    table.add_column("mode")
    table.add_column("tokens", justify="right")
    table.add_column("score", justify="right")
    table.add_column("why")
    for n, f in enumerate(pack.files, 1):
        name = "(repository map)" if f.mode == "map" else f.path
        if f.mode == "chunks":
            name += " " + ",".join(f"{a}-{b}" for a, b in f.ranges)
        table.add_row(str(n), name, Text(f.mode, style=_MODE_STYLE.get(f.mode, "")), f"{f.tokens:,}",
                      f"{f.score:.3f}", "; ".join(f.reasons[:3]))
    parts: list[Any] = [title, bar, Text(""), table]
    if pack.omitted:
        left = Table(title="Ranked but left out", show_header=False)
        left.add_column("file")
        left.add_column("why")
        for s in pack.omitted[: (20 if verbose else 8)]:
            left.add_row(s.path, s.reason)
        parts.append(left)
    if pack.skipped:
        shown = pack.skipped if verbose else pack.skipped[:10]
        sk = Table(title=f"Skipped while indexing ({len(pack.skipped)})", show_header=False)
        sk.add_column("file")
        sk.add_column("reason")
        for s in shown:
            sk.add_row(s.path, s.reason)
        parts.append(sk)
    return Group(*parts)


def preview_json(pack: Pack) -> str:
    """The preview as JSON: the pack's document without the context itself (what goes in, in
    which form, why, and what was left out)."""
    doc = pack_to_dict(pack)
    del doc["context"]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def preview_text(pack: Pack, verbose: bool = False, width: int = 120) -> str:
    """The preview table as plain text (no colours), for a file."""
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(preview_renderable(pack, verbose))
    return buf.getvalue()
