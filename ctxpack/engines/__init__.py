"""What runs the per-file indexing stage: in this process, or on a Ray cluster."""
