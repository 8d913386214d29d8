"""The command-line interface (``ctxpack`` console script: ``ctxpack.cli:main``).

``group`` holds the click group; each command family registers itself on it from its own
module (``index``, ``pack``, ``search``, ``serve``); ``options`` and ``console`` are what
they share. Commands parse options, call ``pipeline`` and ``render``, and print.
"""

from . import index, pack, search, serve  # noqa: F401  (registers the commands on the group)
from .group import main

__all__ = ["main"]
