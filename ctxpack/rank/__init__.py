"""Ranking: analyse the instruction, score every file and say why."""
