"""The dense lane: embedding backends and the content-addressed vector cache."""
