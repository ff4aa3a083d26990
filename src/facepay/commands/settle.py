"""`facepay settle`: split a bill into fund, personal account and cash by a policy."""

from __future__ import annotations
