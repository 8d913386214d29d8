"""Packing: ranked files and a token budget -> Pack."""
