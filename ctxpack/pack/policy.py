"""``PackPolicy``: how a budget is shared between whole files, outlines and the map.

The shares come from ``Config`` (one default, ``Config``'s: what ``ctxpack pack`` uses); the
caps and floors below are hand-set and checked by tests/test_pack.py and the packing
variants of benchmarks/ablation.py (``rank-order-packing``, ``no-outlines``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config

__all__ = ["PackPolicy", "may_fit"]

# A cheap test before a file's exact count: a file goes on to be read and counted when its
# index token count (of its body alone, as last indexed) plus an estimate of its block's
# frame (path header and closing tag, FRAME_ESTIMATE) is at most the room left, with slack
# (ROOM_SLACK_RATIO, ROOM_SLACK_TOKENS) for what the index count cannot know: the file
# changed since, redaction changed its text. Generous on purpose: the exact count of the
# rendered block decides; this only skips files that cannot fit.
FRAME_ESTIMATE = 20
ROOM_SLACK_RATIO = 1.05
ROOM_SLACK_TOKENS = 40


def may_fit(tokens: int, room: int) -> bool:
    """False when a body of ``tokens`` (index count) surely does not fit ``room`` as a block."""
    return tokens + FRAME_ESTIMATE <= room * ROOM_SLACK_RATIO + ROOM_SLACK_TOKENS


@dataclass(frozen=True, slots=True)
class PackPolicy:
    """Shares of the budget and the caps of each packing pass (see ``pack.files.pack_files``)."""

    outline_share: float  # kept for chunks and skeletons of files that do not fit whole
    chunk_share: float  # cap on one file's chunks, as a share of the budget
    skeleton_share: float  # cap on one skeleton, as a share of the budget (a longer one is cut to fit)
    map_share: float  # kept for the map when the repository does not fit whole
    size_exponent: float  # whole files go in by score / tokens ** size_exponent (0: rank order)
    repo_map: bool = True  # add a directory/symbol map if room remains
    region_dense: float = 0.0  # weight of the dense similarity in a chunk's relevance (the rest: lexical)
    region_idf: bool = True  # weight query terms by idf in a chunk's lexical relevance
    region_weight: float = 0.2  # a big file's chunks compete with whole files at this share of its relevance
    region_min_share: float = 0.25  # ... when the file is bigger than this share of the budget
    region_head: float = 0.5  # added to the relevance of a file's first chunk (in [0, 1] like the rest)
    region_fill: bool = True  # fill a file's chunk room, also with chunks the query does not match
    # Hand-set caps and floors.
    max_candidates: int = 5000  # ranked files considered for packing
    max_skeletons: int = 40  # skeletons of files past the chunk_top best
    chunk_top: int = 16  # only the best files may go in as chunks
    chunk_min_score: float = 0.15  # ... and only those scoring at least this share of the best file's
    chunk_room_floor: int = 1000  # one file's chunks may always take this many tokens (if there is room)
    min_share: int = 150  # least room one of those files gets for its chunks or outline
    min_skeleton: int = 80  # least room a skeleton may take: its path and a few signatures
    map_cap: int = 2500  # most tokens kept for the map
    size_smoothing: int = 20  # tokens added to every file's size in the whole-file order (tiny files)

    @classmethod
    def from_config(cls, cfg: Config) -> PackPolicy:
        """The policy a run's settings ask for."""
        return cls(outline_share=cfg.outline_share, chunk_share=cfg.chunk_share, skeleton_share=cfg.skeleton_share,
                   map_share=cfg.map_share, size_exponent=cfg.size_exponent, repo_map=cfg.repo_map,
                   region_dense=cfg.region_dense, region_idf=cfg.region_idf,
                   region_weight=cfg.region_weight, region_min_share=cfg.region_min_share,
                   region_head=cfg.region_head, region_fill=cfg.region_fill)

    @classmethod
    def default(cls) -> PackPolicy:
        """The policy of the default settings (``Config()``)."""
        return cls.from_config(Config())
