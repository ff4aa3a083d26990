"""Synthetic captures built from real photographs: bona fide sequences and presentation attacks.

They prove the logic of the checks, not field performance (see the README's liveness section).
"""
