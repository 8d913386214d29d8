"""``python -m ctxpack``."""

from .cli import main

main()
