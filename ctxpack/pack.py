"""Fill a token budget with ranked files: whole, as chunks, as skeletons, then a map.

The budget is a hard invariant: blocks are counted exactly as rendered, and the final
text's count is the sum of its blocks' (they join cleanly, see ``tokens.joins_cleanly``;
where a join is not clean the whole text is counted), trimmed (last item first) until it fits.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

import numpy as np

from .chunk import estimate_tokens
from .diffblock import DIFF_SHARE, diff_body, fit_diff
from .errors import BudgetError, Cancelled
from .models import Chunk, FileRecord, Pack, PackedFile, RankedFile, Redaction, Skipped, Symbol
from .render import block_parts, context_parts, footer, header
from .terms import term_counts, terms
from .tokens import TokenCounter

__all__ = ["PackInputs", "pack_files"]

_MAX_CANDIDATES = 5000  # ranked files considered for packing
_MAX_SKELETONS = 40
_CHUNK_TOP = 8  # only the best files may go in as chunks
_MIN_SHARE = 150  # least room one of those files gets for its chunks or outline
_MIN_SKELETON = 80  # least room a skeleton may take: its path and a few signatures
_CHANGED_CHUNK = 1000.0  # relevance added to a chunk holding lines changed in the working tree
_DIFF_PATH = "\0diff"  # the diff block's key among packed paths (no file has it)


@dataclass(frozen=True, slots=True)
class PackInputs:
    """Everything the packer reads, as callables so the index stays behind the pipeline."""

    records: dict[str, FileRecord]
    read_text: Callable[[str], str | None]  # current text of a file, None if unreadable
    chunks_for: Callable[[list[str]], list[Chunk]]
    symbols_for: Callable[[str], list[Symbol]]
    # (path, text, first line) -> (text with secrets replaced, what was replaced); None: no redaction
    redact: Callable[[str, str, int], tuple[str, tuple[Redaction, ...]]] | None = None
    skeleton_for: Callable[[str], str] | None = None  # a file's skeleton_text (memoized by the caller); None: build it
    should_stop: Callable[[], bool] | None = None  # polled between files: True abandons the pack (Cancelled)
    # path -> its lines changed in the working tree (a changed file's chunks there go first); None: none
    changed_lines: Callable[[str], tuple[tuple[int, int], ...] | None] | None = None


@functools.lru_cache(maxsize=4096)
def _term_counts(text: str) -> tuple[Counter[str], int]:
    """A text's term counts and term total (memoized: a warm process sees the same chunks again)."""
    counts = term_counts(text)
    return counts, sum(counts.values())


def _chunk_relevance(chunk: Chunk, qterms: set[str], names: set[str]) -> float:
    counts, n = _term_counts(chunk.text)
    if not n:
        return 0.0
    hits = sum(counts[t] for t in qterms if t in counts)
    named = sum(3 for s in chunk.symbols if s in names)
    return (hits + named) / (n ** 0.5)


def _numbered_chunks(chunks: list[Chunk]) -> tuple[list[str], tuple[tuple[int, int], ...]]:
    """The body of a chunks block, as its parts (chunk texts and "omitted" markers), and its line ranges."""
    parts: list[str] = []
    ranges: list[tuple[int, int]] = []
    prev_end = 0
    for c in sorted(chunks, key=lambda c: c.start_line):
        if prev_end and c.start_line > prev_end + 1:
            parts.append(f"⋮ (lines {prev_end + 1}-{c.start_line - 1} omitted)\n")
        text = c.text if c.text.endswith("\n") else c.text + "\n"
        parts.append(text)
        if ranges and ranges[-1][1] + 1 == c.start_line:
            ranges[-1] = (ranges[-1][0], c.end_line)
        else:
            ranges.append((c.start_line, c.end_line))
        prev_end = c.end_line
    return parts, tuple(ranges)


def full_body(text: str) -> str:
    """A whole file's text as packed (ending with a newline)."""
    return text if text.endswith("\n") or not text else text + "\n"


def skeleton_text(symbols: list[Symbol]) -> str:
    """Signatures and first doc lines of a file's definitions, with line numbers."""
    depth: dict[str, int] = {}
    lines = []
    for s in sorted((s for s in symbols if s.kind == "def"), key=lambda s: (s.line, s.end_line)):
        d = depth.get(s.parent, -1) + 1 if s.parent else 0
        depth[s.name] = d
        sig = s.signature or f"{s.category} {s.name}"
        doc = f"  — {s.doc}" if s.doc else ""
        lines.append(f"{s.line:>5}: {'  ' * d}{sig}{doc}\n")
    return "".join(lines)


def _map_line(path: str, symbols_for: Callable[[str], list[Symbol]]) -> str:
    defs = [s.name for s in symbols_for(path) if s.kind == "def" and not s.parent][:6]
    return PurePosixPath(path).name + (f": {', '.join(defs)}" if defs else "")


def repo_map_text(paths: list[str], symbols_for: Callable[[str], list[Symbol]]) -> str:
    """An indented directory tree of ``paths`` with each file's top-level symbols."""
    out: list[str] = []
    prev: tuple[str, ...] = ()
    for path in sorted(paths):
        parts = PurePosixPath(path).parts
        dirs = parts[:-1]
        common = 0
        while common < min(len(dirs), len(prev)) and dirs[common] == prev[common]:
            common += 1
        for depth in range(common, len(dirs)):
            out.append("  " * depth + dirs[depth] + "/\n")
        out.append("  " * len(dirs) + _map_line(path, symbols_for) + "\n")
        prev = dirs
    return "".join(out)


def _fit_map(order: list[str], symbols_for: Callable[[str], list[Symbol]], room: int, counter: TokenCounter,
             fmt: str) -> tuple[str, int] | None:
    """The largest best-ranked prefix of ``order`` whose map block fits ``room`` tokens."""
    chosen: list[str] = []
    est = 0
    for path in order:
        est += estimate_tokens(path) // 2 + estimate_tokens(_map_line(path, symbols_for))
        if est > room:
            break
        chosen.append(path)
    while chosen:
        body = repo_map_text(chosen, symbols_for)
        t = block_tokens(counter, fmt, "", "map", body)
        if t <= room:
            return body, t
        chosen = chosen[: int(len(chosen) * 0.9)]
    return None


def pack_files(
    *,
    query: str,
    ranked: list[RankedFile],
    inputs: PackInputs,
    budget: int,
    counter: TokenCounter,
    fmt: str,
    skipped: tuple[Skipped, ...] = (),
    repo_map: bool = True,
    outline_share: float = 0.15,
    chunk_share: float = 0.1,
    skeleton_share: float = 0.003,
    map_share: float = 0.02,
    size_exponent: float = 0.5,
    on_file: Callable[[PackedFile], None] | None = None,
    diff: str = "",
) -> Pack:
    """Pack ranked files into ``budget`` tokens of rendered ``fmt``.

    Args:
        query: the instruction (used to pick chunks of big files).
        ranked: files best first.
        inputs: access to texts, chunks and symbols.
        budget: hard limit on the rendered tokens.
        counter: the tokenizer that defines "tokens".
        fmt: xml, markdown, plain or json (json packs an xml context).
        skipped: reported in the pack.
        repo_map: add a directory/symbol map if room remains.
        outline_share: budget share kept for chunks and skeletons of files that do not fit whole.
        chunk_share: cap on one file's chunks, as a share of the budget.
        skeleton_share: cap on one skeleton, as a share of the budget (a longer one is cut to fit).
        map_share: budget share kept for the map when the repository does not fit whole.
        size_exponent: whole files go in by ``score / tokens ** size_exponent`` (0: rank order).
        on_file: called with each packed file (not the map) in the final order, as soon as it
            and every better-ranked candidate are decided: a stream can start before packing ends.
        diff: the uncommitted diff, packed first as its own block (at most ``DIFF_SHARE`` of the
            budget; only files in ``inputs.records``, redacted like file text).

    Returns:
        The Pack, with ``context`` rendered and ``tokens`` counted exactly.

    Raises:
        BudgetError: the budget cannot hold the output's header.
    """
    fixed = counter.count(header(fmt) + footer(fmt))
    if fixed > budget:
        raise BudgetError(f"budget {budget} is below the output frame ({fixed} tokens). Use --budget {fixed + 100} or more")
    remaining = budget - fixed
    qterms = set(terms(query))
    names = {w for w in query.replace(".", " ").replace("(", " ").split() if w.isidentifier()}
    packed: list[PackedFile] = []
    used_paths: set[str] = set()
    seen_hashes: set[str] = set()

    by_path: dict[str, PackedFile] = {}
    rank_pos: dict[str, int] = {}  # packed path -> its position among the candidates (rank order)
    settled = 0  # candidates before this position are decided and, if packed, passed to on_file

    def add(pf: PackedFile, pos: int) -> None:
        nonlocal remaining, settled
        packed.append(pf)
        used_paths.add(pf.path)
        rank_pos[pf.path] = pos
        remaining -= pf.tokens
        if on_file is not None and pf.mode not in ("map", "diff"):
            # A packed file is final (later passes only add), so the packed prefix of the ranking is.
            by_path[pf.path] = pf
            while settled < len(candidates) and candidates[settled][0].path in by_path:
                on_file(by_path[candidates[settled][0].path])
                settled += 1

    found: dict[str, tuple[Redaction, ...]] = {}  # in chunks and skeletons
    found_full: dict[str, tuple[Redaction, ...]] = {}  # in whole files

    def clean(path: str, text: str, first_line: int, whole: bool = False) -> str:
        if inputs.redact is None:
            return text
        text, red = inputs.redact(path, text, first_line)
        if red:
            into = found_full if whole else found
            into[path] = into.get(path, ()) + red
        return text

    def try_full(pos: int) -> bool:
        r, rec = candidates[pos]
        if inputs.should_stop is not None and inputs.should_stop():
            raise Cancelled("pack cancelled")
        if rec.sha1 in seen_hashes or rec.tokens + 20 > remaining * 1.05 + 40:
            return rec.sha1 in seen_hashes  # an identical copy is already in
        text = inputs.read_text(r.path)
        if text is None:
            return True
        body = clean(r.path, full_body(text), 1, whole=True)  # memoized (and pre-computed by a warm server)
        t = block_tokens(counter, fmt, r.path, "full", body, rec.language)
        if t > remaining:
            return False
        add(PackedFile(r.path, "full", body, t, r.score, r.reasons, ((1, max(rec.lines, 1)),), rec.language), pos)
        seen_hashes.add(rec.sha1)
        return True

    candidates = [(r, inputs.records[r.path]) for r in ranked[:_MAX_CANDIDATES] if r.path in inputs.records]
    diff_found: list[Redaction] = []
    if diff:
        def diff_clean(path: str, text: str, _line: int) -> str:
            if inputs.redact is None:
                return text
            text, red = inputs.redact(path, text, 0)
            diff_found.extend(red)
            return text

        body, _, _ = diff_body(diff, lambda p: p in inputs.records, diff_clean)
        fitted = fit_diff(body, min(remaining, int(budget * DIFF_SHARE)),
                          lambda text: block_tokens(counter, fmt, "", "diff", text, "diff")) if body else None
        if fitted is not None:
            add(PackedFile(_DIFF_PATH, "diff", fitted[0], fitted[1], 0.0, ("uncommitted changes",), (), "diff"), -1)
    # Room kept for the map and for outlines (chunks, skeletons) when the repository cannot fit whole.
    reserve_map = reserve_outline = 0
    if sum(r.tokens for r in inputs.records.values()) > budget:
        reserve_map = min(int(budget * map_share), 2500) if repo_map else 0
        reserve_outline = int(budget * outline_share)
    remaining -= reserve_map + reserve_outline

    # Pass 1: whole files, by expected recall per token (relevance / tokens ** size_exponent):
    # several mid-size relevant files beat one huge one when the budget is tight.
    sizes = [rec.tokens for _, rec in candidates]
    gain = (np.array([r.score for r, _ in candidates], dtype=np.float64)
            / (np.array(sizes, dtype=np.float64) + 20) ** size_exponent)
    order = np.lexsort((np.arange(len(candidates)), -gain)).tolist()  # ties: rank order
    for k in order:
        if remaining < 20:
            break
        if sizes[k] + 20 <= remaining * 1.05 + 40:  # (try_full's own first test, without the call)
            try_full(k)
    deferred = [(pos, r, rec) for pos, (r, rec) in enumerate(candidates) if r.score > 0 and r.path not in used_paths]

    # Pass 2: what did not fit whole keeps its most relevant chunks (best files) or its outline.
    # The best files share the room, so each is seen in part rather than the first taking it all,
    # and together they leave one share to the skeletons of the next files.
    remaining += reserve_outline
    top_score = ranked[0].score if ranked else 0.0
    best = [pos for pos, r, _ in deferred if pos < _CHUNK_TOP and r.score >= 0.3 * top_score]
    skeletons = 0
    for pos, r, rec in deferred:
        if remaining < 30 or (pos >= _CHUNK_TOP and skeletons >= _MAX_SKELETONS):
            break
        cap = max(budget * skeleton_share, _MIN_SKELETON)
        if best and pos == best[0]:
            share = max(remaining // (len(best) + 1), _MIN_SHARE)
            best.pop(0)
            room = min(remaining, max(int(budget * chunk_share), 1000), share)
            pf = _as_chunks(r, rec, inputs, qterms, names, room, counter, fmt, clean)
            if pf is not None:
                add(pf, pos)
                continue
            cap = min(remaining, share)
        if skeletons < _MAX_SKELETONS:
            body = clean(r.path, inputs.skeleton_for(r.path) if inputs.skeleton_for else
                         skeleton_text(inputs.symbols_for(r.path)), 0)
            pf = _as_skeleton(r, rec, body, int(min(remaining, cap)), counter, fmt, qterms)
            if pf is not None:
                add(pf, pos)
                skeletons += 1

    # Pass 3: room the outlines did not use goes to more whole files.
    for pos, (r, _rec) in enumerate(candidates):
        if remaining < 20:
            break
        if r.path not in used_paths and sizes[pos] + 20 <= remaining * 1.05 + 40:
            try_full(pos)

    remaining += reserve_map
    packed.sort(key=lambda f: rank_pos[f.path])  # present files in rank order
    if repo_map and remaining > 60:
        order = [r.path for r in ranked if r.path not in used_paths and r.path in inputs.records]
        fitted = _fit_map(order, inputs.symbols_for, remaining, counter, fmt)
        if fitted is not None:
            add(PackedFile("", "map", fitted[0], fitted[1], 0.0, ("repository map",), ()), len(candidates))

    pack = _finalize(query, budget, counter, fmt, packed, skipped)
    if on_file is not None:
        streamed = [f for f in pack.files if f.mode not in ("map", "diff")]
        if any(f.path not in by_path for f in streamed[:settled]) or len(streamed) < settled:
            raise RuntimeError("a streamed file was trimmed from the pack")  # blocks join cleanly: cannot happen
        for f in streamed[settled:]:
            on_file(f)
    inside = {f.path for f in pack.files}
    omitted = tuple(itertools.islice((
        Skipped(r.path, f"did not fit: {inputs.records[r.path].tokens} tokens, score {r.score:.3f}")
        for r in ranked[:_MAX_CANDIDATES] if r.score > 0 and r.path not in inside and r.path in inputs.records
    ), 20))
    redactions = _shown(pack.files, found, found_full)
    if _DIFF_PATH in {f.path for f in pack.files}:  # (all of the diff's, also of a part cut to fit: never fewer)
        redactions = tuple(dict.fromkeys((*redactions, *diff_found)))
    return replace(pack, omitted=omitted, redactions=redactions)


def _shown(files: tuple[PackedFile, ...], found: dict[str, tuple[Redaction, ...]],
           found_full: dict[str, tuple[Redaction, ...]]) -> tuple[Redaction, ...]:
    """The redactions in the packed text, and only those: a text scanned but not packed (a whole
    file that did not fit, chunks dropped to fit, skeleton lines cut) reports nothing."""
    out: dict[Redaction, None] = {}
    for f in sorted((f for f in files if f.mode not in ("map", "diff")), key=lambda f: f.path):
        if f.mode == "full":
            out.update(dict.fromkeys(found_full.get(f.path, ())))
        elif f.mode == "skeleton":
            out.update(dict.fromkeys(x for x in found.get(f.path, ()) if x.line == 0 and x.marker in f.text))
        else:
            out.update(dict.fromkeys(x for x in found.get(f.path, ())
                                     if x.line > 0 and any(a <= x.line <= b for a, b in f.ranges)))
    return tuple(out)


@functools.lru_cache(maxsize=64)  # bounded: a big file's skeleton is tens of KB
def _skeleton_layout(body: str) -> tuple[tuple[str, ...], tuple[int, ...], bytes]:
    """A skeleton's lines, their start offsets and nesting depths (memoized: a warm process cuts
    the same skeletons query after query). A line is ``"   12: <indent>signature"``."""
    lines = tuple(body.splitlines(keepends=True))
    starts = tuple(itertools.accumulate((len(ln) for ln in lines), initial=0))[:-1]
    depth = bytes(min(max(len(ln[7:]) - len(ln[7:].lstrip(" ")), 0), 255) for ln in lines)
    return lines, starts, depth


def _lines_naming(low: str, starts: tuple[int, ...], qterms: frozenset[str] | set[str]) -> set[int]:
    """Indices of the lines of a lowercased skeleton that contain a query term (a scan per term, in C)."""
    hit: set[int] = set()
    for q in qterms:
        i = low.find(q)
        while i >= 0:
            hit.add(bisect.bisect_right(starts, i) - 1)
            i = low.find(q, i + len(q))
    return hit


def _as_skeleton(r: RankedFile, rec: FileRecord, body: str, room: int, counter: TokenCounter, fmt: str,
                 qterms: frozenset[str] | set[str] = frozenset()) -> PackedFile | None:
    """The file's skeleton within ``room`` tokens.

    Whole when it fits; else the definitions that name a query term, then the outermost
    ones, in file order, with a count of those left out.
    """
    if not body:
        return None
    frame = block_tokens(counter, fmt, r.path, "skeleton", "", rec.language)
    avail = room - frame - 12  # 12: the "more definitions" line
    if avail < 10:
        return None
    t = block_tokens(counter, fmt, r.path, "skeleton", body, rec.language)
    if t > room:
        lines, starts, depth = _skeleton_layout(body)
        hit = _lines_naming(body.lower(), starts, qterms)
        order = sorted(range(len(lines)), key=lambda i: (i not in hit, depth[i], i))
        # Take lines by estimate (scaled to this body's real count), then count exactly and
        # drop the last taken until it fits.
        scale = (t - frame) / (estimate_tokens(body) + 1)
        chosen: list[int] = []
        est = 0.0
        for i in order:
            est += estimate_tokens(lines[i]) * scale
            if est > avail:
                break
            chosen.append(i)
        def cut(keep: list[int]) -> tuple[str, int]:
            parts = [lines[i] for i in sorted(keep)] + [f"⋮ ({len(lines) - len(keep)} more definitions)\n"]
            return "".join(parts), block_tokens(counter, fmt, r.path, "skeleton", "".join(parts), rec.language,
                                                pieces=parts)

        body, t = cut(chosen)
        while t > room and chosen:  # the estimate was short: drop the last taken
            chosen.pop()
            body, t = cut(chosen)
        for i in order[len(chosen): len(chosen) + 8]:  # the estimate was long: take a few more
            more = cut([*chosen, i])
            if more[1] > room:
                break
            chosen.append(i)
            body, t = more
        if not chosen:
            return None
    return PackedFile(r.path, "skeleton", body, t, r.score, r.reasons, (), rec.language)


def _as_chunks(r: RankedFile, rec: FileRecord, inputs: PackInputs, qterms: set[str], names: set[str],
               room: int, counter: TokenCounter, fmt: str, clean: Callable[[str, str, int], str]) -> PackedFile | None:
    chunks = inputs.chunks_for([r.path])
    if not chunks or room < 50:
        return None
    rel = {id(c): _chunk_relevance(c, qterms, names) for c in chunks}
    spans = (inputs.changed_lines(r.path) if inputs.changed_lines else None) or ()
    for c in chunks:  # the regions the user is changing come first
        if any(a <= c.end_line and c.start_line <= b for a, b in spans):
            rel[id(c)] += _CHANGED_CHUNK
    order = sorted(chunks, key=lambda c: (-rel[id(c)], c.start_line))
    chosen: list[Chunk] = []
    total = block_tokens(counter, fmt, r.path, "chunks", "", rec.language, ((1, 1),)) + 8
    for c in order:
        if rel[id(c)] <= 0 and chosen:
            break
        cost = c.tokens + 12
        if total + cost > room:
            continue
        chosen.append(c)
        total += cost
    # Only the chosen chunks are redacted (the scan is the costly part); the exact count below
    # is of the redacted text, and drops chunks until it fits.
    chosen = [replace(c, text=clean(c.path, c.text, c.start_line)) for c in chosen]
    while chosen:
        parts, ranges = _numbered_chunks(chosen)
        body = "".join(parts)
        t = block_tokens(counter, fmt, r.path, "chunks", body, rec.language, ranges, pieces=parts)
        if t <= room:
            return PackedFile(r.path, "chunks", body, t, r.score, r.reasons, ranges, rec.language)
        chosen.pop()
    return None


def block_tokens(counter: TokenCounter, fmt: str, path: str, mode: str, body: str, language: str = "text",
                 ranges: tuple[tuple[int, int], ...] = (), pieces: list[str] | None = None) -> int:
    """Exact tokens of a file's rendered block; the body's count is memoized on its own, so a
    file counted once (or pre-counted by a warm server's worker) costs a digest, not an encode.

    ``pieces``: ``body`` as the texts it was joined from (chunks), each counted (and memoized)
    on its own where they join cleanly.
    """
    opening, full, closing = block_parts(fmt, path, mode, body, language, ranges)
    if pieces is None or full != body:
        return counter.count_joined([opening, full, closing])
    return counter.count_joined([opening, *pieces, closing])


def _finalize(query: str, budget: int, counter: TokenCounter, fmt: str, packed: list[PackedFile],
              skipped: tuple[Skipped, ...]) -> Pack:
    pack = Pack(query, budget, counter.name, tuple(packed), skipped, 0, "", fmt)
    while True:
        parts = context_parts(pack)
        # Blocks join cleanly (see render): the whole is the sum of the blocks' exact counts.
        tokens = counter.count_joined(parts, [counter.count(parts[0]), *(f.tokens for f in pack.files),
                                              counter.count(parts[-1])])
        if tokens <= budget:
            return replace(pack, context="".join(parts), tokens=tokens)
        # Boundary effects between blocks made the whole longer than its parts: drop the last item.
        pack = replace(pack, files=pack.files[:-1])
