"""The command-line interface (``ctxpack`` console script: ``ctxpack.cli:main``)."""

from .commands import main

__all__ = ["main"]
