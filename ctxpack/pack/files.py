"""Fill a token budget with ranked files: whole, as chunks, as skeletons, then a map.

The budget is a hard invariant: blocks are counted exactly as rendered, and the final
text's count is the sum of its blocks' (they join cleanly, see ``tokens.joins_cleanly``;
where a join is not clean the whole text is counted), trimmed (last item first) until it fits.

Three passes share the room (``PackPolicy`` says how much each may take):

1. whole files, by expected recall per token (score / tokens ** size_exponent);
2. what did not fit whole: the best files as their most relevant chunks, sharing the outline
   room, the next ones as skeletons;
3. whole files again with the room the outlines left, then the repository map.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import BudgetError, Cancelled
from ..models import Chunk, FileRecord, Pack, PackedFile, RankedFile, Redaction, Skipped, Symbol
from ..render import context_parts, footer, header
from ..terms import terms
from ..tokens import TokenCounter
from .blocks import block_tokens, full_body
from .chunks import as_chunks
from .diff import DIFF_SHARE, diff_body, fit_diff
from .policy import PackPolicy, may_fit
from .repomap import fit_map
from .skeleton import as_skeleton, skeleton_text

__all__ = ["PackInputs", "PackPolicy", "pack_files"]

_MIN_BLOCK = 20  # room below which no further whole file is tried
_MIN_OUTLINE = 30  # room below which no further outline is tried
_MIN_MAP = 60  # room below which no map is tried
_OMITTED_LISTED = 20  # well-ranked files that did not fit, listed in the pack
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
    # path -> {chunk start line: cosine similarity to the query} of its embedded chunks; None: no dense lane
    region_sims: Callable[[str], dict[int, float]] | None = None
    term_weight: Callable[[str], float] | None = None  # a query term's weight (its idf); None: every term 1
    # path -> the lines of it the query's stack frames point at (their chunks go first); None: no frames
    frame_lines: Callable[[str], tuple[int, ...]] | None = None
    # told, once, the files the packer may show as chunks, in the order it may reach them (a caller
    # can prepare their chunks meanwhile); None: not told
    expect_chunks: Callable[[list[str]], None] | None = None


def pack_files(
    *,
    query: str,
    ranked: list[RankedFile],
    inputs: PackInputs,
    budget: int,
    counter: TokenCounter,
    fmt: str,
    skipped: tuple[Skipped, ...] = (),
    policy: PackPolicy | None = None,
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
        policy: shares and caps of the passes (default: ``PackPolicy.default()``, the default config's).
        on_file: called with each packed file (not the map) in the final order, as soon as it
            and every better-ranked candidate are decided: a stream can start before packing ends.
        diff: the uncommitted diff, packed first as its own block (at most ``DIFF_SHARE`` of the
            budget; only files in ``inputs.records``, redacted like file text).

    Returns:
        The Pack, with ``context`` rendered and ``tokens`` counted exactly.

    Raises:
        BudgetError: the budget cannot hold the output's header.
        Cancelled: ``inputs.should_stop`` said so.
    """
    fixed = counter.count(header(fmt) + footer(fmt))
    if fixed > budget:
        raise BudgetError(f"budget {budget} is below the output frame ({fixed} tokens). Use --budget {fixed + 100} or more")
    packer = _Packer(query, ranked, inputs, budget, counter, fmt, policy or PackPolicy.default(), on_file,
                     remaining=budget - fixed)
    if diff:
        packer.diff_block(diff)
    # Room kept for the map and for outlines (chunks, skeletons) when the repository cannot fit whole.
    reserve_map = reserve_outline = 0
    pol = packer.policy
    if sum(r.tokens for r in inputs.records.values()) > budget:
        reserve_map = min(int(budget * pol.map_share), pol.map_cap) if pol.repo_map else 0
        reserve_outline = int(budget * pol.outline_share)
    packer.remaining -= reserve_map + reserve_outline
    packer.whole_files()
    packer.remaining += reserve_outline
    packer.outlines()
    packer.more_whole_files()
    packer.remaining += reserve_map
    packer.packed.sort(key=lambda f: packer.rank_pos[f.path])  # present files in rank order
    packer.repo_map()
    return packer.finish(skipped)


@dataclass(slots=True)
class _Packer:
    """The state the passes of ``pack_files`` share: the room left and what is in."""

    query: str
    ranked: list[RankedFile]
    inputs: PackInputs
    budget: int
    counter: TokenCounter
    fmt: str
    policy: PackPolicy
    on_file: Callable[[PackedFile], None] | None
    remaining: int
    qterms: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # identifiers written in the query
    candidates: list[tuple[RankedFile, FileRecord]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # index token count of each candidate
    packed: list[PackedFile] = field(default_factory=list)
    used_paths: set[str] = field(default_factory=set)
    seen_hashes: set[str] = field(default_factory=set)
    by_path: dict[str, PackedFile] = field(default_factory=dict)
    rank_pos: dict[str, int] = field(default_factory=dict)  # packed path -> its position among the candidates
    settled: int = 0  # candidates before this position are decided and, if packed, passed to on_file
    found: dict[str, tuple[Redaction, ...]] = field(default_factory=dict)  # redactions in chunks and skeletons
    found_full: dict[str, tuple[Redaction, ...]] = field(default_factory=dict)  # redactions in whole files
    diff_found: list[Redaction] = field(default_factory=list)  # redactions in the diff block

    def __post_init__(self) -> None:
        self.qterms = set(terms(self.query))
        self.names = {w for w in self.query.replace(".", " ").replace("(", " ").split() if w.isidentifier()}
        records = self.inputs.records
        self.candidates = [(r, records[r.path]) for r in self.ranked[: self.policy.max_candidates] if r.path in records]
        self.sizes = [rec.tokens for _, rec in self.candidates]

    def add(self, pf: PackedFile, pos: int) -> None:
        self.packed.append(pf)
        self.used_paths.add(pf.path)
        self.rank_pos[pf.path] = pos
        self.remaining -= pf.tokens
        if self.on_file is not None and pf.mode not in ("map", "diff"):
            # A packed file is final (later passes only add), so the packed prefix of the ranking is.
            self.by_path[pf.path] = pf
            while self.settled < len(self.candidates) and self.candidates[self.settled][0].path in self.by_path:
                self.on_file(self.by_path[self.candidates[self.settled][0].path])
                self.settled += 1

    def clean(self, path: str, text: str, first_line: int, whole: bool = False) -> str:
        if self.inputs.redact is None:
            return text
        text, red = self.inputs.redact(path, text, first_line)
        if red:
            into = self.found_full if whole else self.found
            into[path] = into.get(path, ()) + red
        return text

    def diff_block(self, diff: str) -> None:
        """The uncommitted diff first, as its own block (at most ``DIFF_SHARE`` of the budget)."""

        def diff_clean(path: str, text: str, _line: int) -> str:
            if self.inputs.redact is None:
                return text
            text, red = self.inputs.redact(path, text, 0)
            self.diff_found.extend(red)
            return text

        body, _, _ = diff_body(diff, lambda p: p in self.inputs.records, diff_clean)
        fitted = fit_diff(body, min(self.remaining, int(self.budget * DIFF_SHARE)),
                          lambda text: block_tokens(self.counter, self.fmt, "", "diff", text, "diff")) if body else None
        if fitted is not None:
            self.add(PackedFile(_DIFF_PATH, "diff", fitted[0], fitted[1], 0.0, ("uncommitted changes",), (), "diff"),
                     -1)

    def try_full(self, pos: int) -> bool:
        r, rec = self.candidates[pos]
        if self.inputs.should_stop is not None and self.inputs.should_stop():
            raise Cancelled("pack cancelled")
        if rec.sha1 in self.seen_hashes or not may_fit(rec.tokens, self.remaining):
            return rec.sha1 in self.seen_hashes  # an identical copy is already in
        text = self.inputs.read_text(r.path)
        if text is None:
            return True
        body = self.clean(r.path, full_body(text), 1, whole=True)  # memoized (and pre-computed by a warm server)
        t = block_tokens(self.counter, self.fmt, r.path, "full", body, rec.language)
        if t > self.remaining:
            return False
        self.add(PackedFile(r.path, "full", body, t, r.score, r.reasons, ((1, max(rec.lines, 1)),), rec.language), pos)
        self.seen_hashes.add(rec.sha1)
        return True

    def whole_files(self) -> None:
        """Pass 1: whole files, by expected recall per token (relevance / tokens ** size_exponent):
        several mid-size relevant files beat one huge one when the budget is tight.

        With ``policy.region_weight``, a file too big to be worth packing whole at this budget
        also competes as its most relevant chunks (one block of ``region_room`` tokens), its
        expected recall discounted by ``region_weight``: the lines an edit changes in a big
        relevant file are worth more than one more small file."""
        pol = self.policy
        scores = np.array([r.score for r, _ in self.candidates], dtype=np.float64)
        gain = scores / (np.array(self.sizes, dtype=np.float64) + pol.size_smoothing) ** pol.size_exponent
        options = [(g, k, "full") for k, g in enumerate(gain.tolist())]
        room = self.region_room()
        if pol.region_weight > 0:
            big = self.budget * pol.region_min_share
            rgain = pol.region_weight * scores / (room + pol.size_smoothing) ** pol.size_exponent
            options += [(rgain[k], k, "chunks") for k, size in enumerate(self.sizes) if size > big and scores[k] > 0]
        options.sort(key=lambda o: (-o[0], o[1], o[2] == "chunks"))  # ties: rank order, whole first
        if self.inputs.expect_chunks is not None:
            self.inputs.expect_chunks([self.candidates[k][0].path for _, k, mode in options if mode == "chunks"])
        for _, k, mode in options:
            if self.remaining < _MIN_BLOCK:
                break
            r, rec = self.candidates[k]
            if r.path in self.used_paths:
                continue
            if mode == "full":
                if may_fit(self.sizes[k], self.remaining):  # (try_full's own first test, without the call)
                    self.try_full(k)
            elif self.remaining >= _MIN_OUTLINE:
                pf = as_chunks(r, rec, self.inputs, self.qterms, self.names, min(self.remaining, room), self.counter,
                               self.fmt, self.clean, pol)
                if pf is not None:
                    self.add(pf, k)

    def region_room(self) -> int:
        """The room one file's chunks may take."""
        return max(int(self.budget * self.policy.chunk_share), self.policy.chunk_room_floor)

    def outlines(self) -> None:
        """Pass 2: what did not fit whole keeps its most relevant chunks (best files) or its outline.

        The best files share the room, so each is seen in part rather than the first taking it
        all, and together they leave one share to the skeletons of the next files."""
        pol, budget = self.policy, self.budget
        deferred = [(pos, r, rec) for pos, (r, rec) in enumerate(self.candidates)
                    if r.score > 0 and r.path not in self.used_paths]
        top_score = self.ranked[0].score if self.ranked else 0.0
        best = [pos for pos, r, _ in deferred if pos < pol.chunk_top and r.score >= pol.chunk_min_score * top_score]
        skeletons = 0
        for pos, r, rec in deferred:
            if self.remaining < _MIN_OUTLINE or (pos >= pol.chunk_top and skeletons >= pol.max_skeletons):
                break
            cap = max(budget * pol.skeleton_share, pol.min_skeleton)
            if best and pos == best[0]:
                share = max(self.remaining // (len(best) + 1), pol.min_share)
                best.pop(0)
                room = min(self.remaining, self.region_room(), share)
                pf = as_chunks(r, rec, self.inputs, self.qterms, self.names, room, self.counter, self.fmt, self.clean,
                               pol)
                if pf is not None:
                    self.add(pf, pos)
                    continue
                cap = min(self.remaining, share)
            if skeletons < pol.max_skeletons:
                inputs = self.inputs
                body = self.clean(r.path, inputs.skeleton_for(r.path) if inputs.skeleton_for else
                                  skeleton_text(inputs.symbols_for(r.path)), 0)
                pf = as_skeleton(r, rec, body, int(min(self.remaining, cap)), self.counter, self.fmt, self.qterms)
                if pf is not None:
                    self.add(pf, pos)
                    skeletons += 1

    def more_whole_files(self) -> None:
        """Pass 3: room the outlines did not use goes to more whole files (rank order)."""
        for pos, (r, _rec) in enumerate(self.candidates):
            if self.remaining < _MIN_BLOCK:
                break
            if r.path not in self.used_paths and may_fit(self.sizes[pos], self.remaining):
                self.try_full(pos)

    def repo_map(self) -> None:
        """The files left out, as a map, in the room that is left."""
        if not self.policy.repo_map or self.remaining <= _MIN_MAP:
            return
        records = self.inputs.records
        order = [r.path for r in self.ranked if r.path not in self.used_paths and r.path in records]
        fitted = fit_map(order, self.inputs.symbols_for, self.remaining, self.counter, self.fmt)
        if fitted is not None:
            self.add(PackedFile("", "map", fitted[0], fitted[1], 0.0, ("repository map",), ()), len(self.candidates))

    def finish(self, skipped: tuple[Skipped, ...]) -> Pack:
        """Render and count the pack (trimmed to the budget); stream what is left; say what was left out."""
        pack = _finalize(self.query, self.budget, self.counter, self.fmt, self.packed, skipped)
        if self.on_file is not None:
            streamed = [f for f in pack.files if f.mode not in ("map", "diff")]
            if any(f.path not in self.by_path for f in streamed[: self.settled]) or len(streamed) < self.settled:
                raise RuntimeError("a streamed file was trimmed from the pack")  # blocks join cleanly: cannot happen
            for f in streamed[self.settled:]:
                self.on_file(f)
        inside = {f.path for f in pack.files}
        records = self.inputs.records
        omitted = tuple(itertools.islice((
            Skipped(r.path, f"did not fit: {records[r.path].tokens} tokens, score {r.score:.3f}")
            for r in self.ranked[: self.policy.max_candidates]
            if r.score > 0 and r.path not in inside and r.path in records
        ), _OMITTED_LISTED))
        redactions = _shown(pack.files, self.found, self.found_full)
        if _DIFF_PATH in inside:  # (all of the diff's, also of a part cut to fit: never fewer)
            redactions = tuple(dict.fromkeys((*redactions, *self.diff_found)))
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
