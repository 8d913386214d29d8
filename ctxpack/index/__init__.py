"""Indexing stages: discover files, parse, chunk, scan for secrets, read git history, the repository catalog."""
