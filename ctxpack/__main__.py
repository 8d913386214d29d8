"""``python -m ctxpack``."""

from .cli.commands import main

main()
