"""Fill a token budget with ranked files: whole, as chunks, as skeletons, then a map.

The budget is a hard invariant: blocks are counted exactly as rendered, and the final
text's count is the sum of its blocks' (they join cleanly, see ``tokens.joins_cleanly``;
where a join is not clean the whole text is counted), trimmed (last item first) until it fits."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..errors import BudgetError, Cancelled
from ..models import Chunk, FileRecord, Pack, PackedFile, RankedFile, Redaction, Skipped, Symbol
from ..render import context_parts, footer, header
from ..terms import terms
from ..tokens import TokenCounter
from .blocks import block_tokens, full_body
from .chunks import as_chunks
from .repomap import fit_map
from .skeleton import as_skeleton, skeleton_text

_MAX_CANDIDATES = 5000  # ranked files considered for packing


_MAX_SKELETONS = 40


_CHUNK_TOP = 8  # only the best files may go in as chunks


_MIN_SHARE = 150  # least room one of those files gets for its chunks or outline


_MIN_SKELETON = 80  # least room a skeleton may take: its path and a few signatures


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
        if on_file is not None and pf.mode != "map":
            # A packed file is final (later passes only add), so the packed prefix of the ranking is.
            by_path[pf.path] = pf
            while settled < len(candidates) and candidates[settled][0].path in by_path:
                on_file(by_path[candidates[settled][0].path])
                settled += 1

    found: dict[str, tuple[Redaction, ...]] = {}

    def clean(path: str, text: str, first_line: int) -> str:
        if inputs.redact is None:
            return text
        text, red = inputs.redact(path, text, first_line)
        if red:
            found[path] = found.get(path, ()) + red
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
        body = clean(r.path, full_body(text), 1)  # memoized (and pre-computed by a warm server)
        t = block_tokens(counter, fmt, r.path, "full", body, rec.language)
        if t > remaining:
            found.pop(r.path, None)
            return False
        add(PackedFile(r.path, "full", body, t, r.score, r.reasons, ((1, max(rec.lines, 1)),), rec.language), pos)
        seen_hashes.add(rec.sha1)
        return True

    candidates = [(r, inputs.records[r.path]) for r in ranked[:_MAX_CANDIDATES] if r.path in inputs.records]
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
            pf = as_chunks(r, rec, inputs, qterms, names, room, counter, fmt, clean)
            if pf is not None:
                add(pf, pos)
                continue
            cap = min(remaining, share)
        if skeletons < _MAX_SKELETONS:
            body = clean(r.path, inputs.skeleton_for(r.path) if inputs.skeleton_for else
                         skeleton_text(inputs.symbols_for(r.path)), 0)
            pf = as_skeleton(r, rec, body, int(min(remaining, cap)), counter, fmt, qterms)
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
        fitted = fit_map(order, inputs.symbols_for, remaining, counter, fmt)
        if fitted is not None:
            add(PackedFile("", "map", fitted[0], fitted[1], 0.0, ("repository map",), ()), len(candidates))

    pack = _finalize(query, budget, counter, fmt, packed, skipped)
    if on_file is not None:
        streamed = [f for f in pack.files if f.mode != "map"]
        if any(f.path not in by_path for f in streamed[:settled]) or len(streamed) < settled:
            raise RuntimeError("a streamed file was trimmed from the pack")  # blocks join cleanly: cannot happen
        for f in streamed[settled:]:
            on_file(f)
    inside = {f.path for f in pack.files}
    omitted = tuple(itertools.islice((
        Skipped(r.path, f"did not fit: {inputs.records[r.path].tokens} tokens, score {r.score:.3f}")
        for r in ranked[:_MAX_CANDIDATES] if r.score > 0 and r.path not in inside and r.path in inputs.records
    ), 20))
    inside_all = {f.path for f in pack.files}
    redactions = tuple(x for p in sorted(found) if p in inside_all for x in found[p])
    return replace(pack, omitted=omitted, redactions=redactions)


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
