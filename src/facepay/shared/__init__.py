"""Shared kernel: money, ids, clock, errors. Standard library only."""
