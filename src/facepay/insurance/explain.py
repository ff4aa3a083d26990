"""Sentences a cashier can read to a patient; amounts are shown in yuan, stored in fen."""

from __future__ import annotations

from decimal import Decimal

from facepay.insurance.brackets import BandShare
from facepay.insurance.model import ExplanationStep
from facepay.shared.money import fen_to_yuan_str


def yuan(fen: int) -> str:
    """Format fen for a sentence: 145000 -> '1450.00 yuan'."""
    return f"{fen_to_yuan_str(fen)} yuan"


def percent(ratio: Decimal) -> str:
    """Format a ratio as a percentage without trailing zeros: 0.850 -> '85%'."""
    return f"{(ratio * 100).normalize():f}%"


def band_range(share: BandShare) -> str:
    """Describe a band's bounds in yuan."""
    if share.upper is None:
        return f"above {yuan(share.lower)}"
    return f"from {yuan(share.lower)} up to {yuan(share.upper)}"


class Steps:
    """The ordered explanation being written while a bill is settled."""

    def __init__(self) -> None:
        self.items: list[ExplanationStep] = []

    def add(self, code: str, amount: int, text: str) -> None:
        """Append one step."""
        self.items.append(ExplanationStep(code=code, amount=amount, text=text))

    def bands(self, code: str, shares: list[BandShare], *, of_what: str, payer: str) -> None:
        """One step per band touched: which part of the bill fell in it and what it paid."""
        for share in shares:
            self.add(
                code,
                share.paid,
                f"{yuan(share.part)} falls in the band {band_range(share)} of {of_what}: "
                f"{payer} pays {percent(share.ratio)} of it, {yuan(share.paid)}.",
            )
