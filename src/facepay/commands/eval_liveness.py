"""`facepay eval liveness`: registers itself on `facepay.commands.eval.app`."""

from __future__ import annotations

from facepay.commands.eval import app

__all__ = ["app"]
