"""`facepay demo`: the scripted main job that `make demo` runs."""

from __future__ import annotations
