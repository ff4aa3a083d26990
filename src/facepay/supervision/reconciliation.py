"""The nightly reconciliation: facepay's day against the insurance platform's and the HIS's.

Each side states the day as entries: a payment or a refund, named by a key both sides know (the
platform's settlement id, the HIS's invoice identifier) with its amounts in fen by field name
(`medfee_sumamt`, `fund_pay_sumamt`, `acct_pay`, `psn_cash_pay`; the HIS states `amount`).
`compare` lists every difference: an entry on one side only (a lost message, a payment the
other side never heard of), a refund on one side only (a reversal that did not reach the
other), an amount that differs in any field both sides state, and an entry stated twice. It
never decides who is right and never touches money: the differences become a report and
alerts for people to resolve.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

EntryKind = Literal["payment", "refund"]
Side = Literal["platform", "his"]
DifferenceKind = Literal[
    "missing_in_facepay",
    "missing_on_other_side",
    "refunded_in_facepay_only",
    "refunded_on_other_side_only",
    "amount_differs",
    "duplicate",
    "totals_refused",
]
DIFFERENCE_KINDS: tuple[DifferenceKind, ...] = (
    "missing_in_facepay",
    "missing_on_other_side",
    "refunded_in_facepay_only",
    "refunded_on_other_side_only",
    "amount_differs",
    "duplicate",
    "totals_refused",
)

RECONCILIATION_DIFFERENCE = "reconciliation_difference"
"""The alert kind of one difference found by the nightly reconciliation."""


@dataclass(frozen=True)
class Entry:
    """One payment or refund as one side records it."""

    key: str
    kind: EntryKind
    amounts: Mapping[str, int]
    """Fen by field name; only fields both sides state are compared."""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("an entry needs a key")
        for name, fen in self.amounts.items():
            if not isinstance(fen, int) or isinstance(fen, bool):
                raise TypeError(f"{name}: amounts are integer fen")


@dataclass(frozen=True)
class Difference:
    """One thing the two sides do not agree on."""

    side: Side
    kind: DifferenceKind
    key: str
    entry: EntryKind
    field: str | None = None
    facepay_fen: int | None = None
    other_fen: int | None = None

    def as_json(self) -> dict[str, object]:
        """The difference as a report row."""
        return {
            "side": self.side,
            "kind": self.kind,
            "key": self.key,
            "entry": self.entry,
            "field": self.field,
            "facepay_fen": self.facepay_fen,
            "other_fen": self.other_fen,
        }


@dataclass(frozen=True)
class Totals:
    """Count and sums of one side's entries of one kind."""

    count: int = 0
    amounts: Mapping[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The totals as a report object."""
        return {"count": self.count, "amounts": dict(sorted(self.amounts.items()))}


def totals(entries: Iterable[Entry], kind: EntryKind) -> Totals:
    """The count and per-field sums of `kind` entries."""
    count = 0
    sums: Counter[str] = Counter()
    for entry in entries:
        if entry.kind == kind:
            count += 1
            sums.update(entry.amounts)
    return Totals(count, dict(sums))


@dataclass(frozen=True)
class Comparison:
    """facepay against one other side for one site and day."""

    side: Side
    facepay: dict[EntryKind, Totals]
    other: dict[EntryKind, Totals]
    differences: tuple[Difference, ...]

    @property
    def agrees(self) -> bool:
        """No difference at all."""
        return not self.differences

    def as_json(self) -> dict[str, object]:
        """The comparison as a report object."""
        return {
            "side": self.side,
            "agrees": self.agrees,
            "facepay": {kind: t.as_json() for kind, t in self.facepay.items()},
            "other": {kind: t.as_json() for kind, t in self.other.items()},
            "differences": [d.as_json() for d in self.differences],
        }


def net_totals(entries: Iterable[Entry]) -> tuple[dict[str, int], int]:
    """Payments less refunds per field, and the count of payments less refunds: the totals a
    platform's day statement (3201) is asked to confirm."""
    sums: Counter[str] = Counter()
    count = 0
    for entry in entries:
        sign = 1 if entry.kind == "payment" else -1
        count += sign
        for name, fen in entry.amounts.items():
            sums[name] += sign * fen
    return dict(sums), count


def totals_refused(side: Side, verdict: str, facepay_fen: int) -> Difference:
    """The other side's own check of facepay's totals said no (its words in `field`)."""
    return Difference(side, "totals_refused", "totals", "payment", verdict, facepay_fen, None)


def compare(
    side: Side,
    facepay: Iterable[Entry],
    other: Iterable[Entry],
    *,
    extra: Iterable[Difference] = (),
) -> Comparison:
    """Every difference between facepay's entries and the other side's, in key order (and
    `extra`: what the other side itself said of facepay's totals)."""
    ours, theirs = list(facepay), list(other)
    differences = [
        *_duplicates(side, ours, in_facepay=True),
        *_duplicates(side, theirs, in_facepay=False),
        *extra,
    ]
    mine = {(e.key, e.kind): e for e in ours}
    yours = {(e.key, e.kind): e for e in theirs}
    for key, kind in sorted(mine.keys() | yours.keys()):
        here, there = mine.get((key, kind)), yours.get((key, kind))
        if here is not None and there is not None:
            differences.extend(_amounts(side, here, there))
        elif here is not None:
            differences.append(_one_sided(side, here, in_facepay=True))
        elif there is not None:
            differences.append(_one_sided(side, there, in_facepay=False))
    kinds: tuple[EntryKind, ...] = ("payment", "refund")
    return Comparison(
        side=side,
        facepay={kind: totals(ours, kind) for kind in kinds},
        other={kind: totals(theirs, kind) for kind in kinds},
        differences=tuple(sorted(differences, key=_order)),
    )


def _order(d: Difference) -> tuple[str, str, str, str]:
    return (d.key, d.entry, d.kind, d.field or "")


def _duplicates(side: Side, entries: list[Entry], *, in_facepay: bool) -> list[Difference]:
    """An entry stated twice by one side (the amount is given on that side only)."""
    seen = Counter((e.key, e.kind) for e in entries)
    first = {(e.key, e.kind): e for e in reversed(entries)}
    found = []
    for (key, kind), n in sorted(seen.items()):
        if n > 1:
            total = _headline(first[(key, kind)])
            found.append(
                Difference(
                    side,
                    "duplicate",
                    key,
                    kind,
                    facepay_fen=total if in_facepay else None,
                    other_fen=None if in_facepay else total,
                )
            )
    return found


def _amounts(side: Side, here: Entry, there: Entry) -> list[Difference]:
    return [
        Difference(
            side,
            "amount_differs",
            here.key,
            here.kind,
            field=name,
            facepay_fen=here.amounts[name],
            other_fen=there.amounts[name],
        )
        for name in sorted(here.amounts.keys() & there.amounts.keys())
        if here.amounts[name] != there.amounts[name]
    ]


def _one_sided(side: Side, entry: Entry, *, in_facepay: bool) -> Difference:
    total = _headline(entry)
    if entry.kind == "refund":
        kind: DifferenceKind = (
            "refunded_in_facepay_only" if in_facepay else "refunded_on_other_side_only"
        )
    else:
        kind = "missing_on_other_side" if in_facepay else "missing_in_facepay"
    return Difference(
        side,
        kind,
        entry.key,
        entry.kind,
        facepay_fen=total if in_facepay else None,
        other_fen=None if in_facepay else total,
    )


def _headline(entry: Entry) -> int | None:
    for name in ("medfee_sumamt", "amount"):
        if name in entry.amounts:
            return entry.amounts[name]
    return None


@dataclass(frozen=True)
class Reconciliation:
    """One site's day: a comparison with each side that was available."""

    hospital_id: str
    day: date
    comparisons: tuple[Comparison, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Sides not compared, and why (the local engine is its own platform; no HIS file)."""

    @property
    def differences(self) -> tuple[Difference, ...]:
        """Every difference of every comparison."""
        return tuple(d for c in self.comparisons for d in c.differences)

    def counts(self) -> dict[str, dict[str, int]]:
        """Differences by side and kind (every kind listed, zeros included): the chart's data."""
        return {
            c.side: {kind: sum(d.kind == kind for d in c.differences) for kind in DIFFERENCE_KINDS}
            for c in self.comparisons
        }

    def as_json(self) -> dict[str, object]:
        """The whole report."""
        return {
            "hospital_id": self.hospital_id,
            "date": self.day.isoformat(),
            "agrees": all(c.agrees for c in self.comparisons),
            "differences": len(self.differences),
            "comparisons": [c.as_json() for c in self.comparisons],
            "counts": self.counts(),
            "skipped": dict(self.skipped),
        }
