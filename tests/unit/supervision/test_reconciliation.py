"""The reconciliation's comparison: the same day on both sides agrees; one dropped message and
one altered amount are exactly two differences; a refund on one side only, a duplicate."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facepay.supervision.reconciliation import (
    Entry,
    Reconciliation,
    compare,
    net_totals,
    totals_refused,
)


def pay(key: str, total: int, fund: int = 0) -> Entry:
    return Entry(key, "payment", {"medfee_sumamt": total, "fund_pay_sumamt": fund})


DAY = [pay("S1", 10_000, 6_000), pay("S2", 2_500), pay("S3", 31_000, 20_000)]


def test_the_same_day_on_both_sides_agrees() -> None:
    result = compare("platform", DAY, list(reversed(DAY)))
    assert result.agrees
    assert result.facepay["payment"].count == 3
    assert result.facepay["payment"].amounts == {"medfee_sumamt": 43_500, "fund_pay_sumamt": 26_000}
    assert result.facepay == result.other


def test_one_dropped_and_one_altered_are_exactly_two_differences() -> None:
    theirs = [pay("S1", 10_000, 6_000), pay("S3", 31_000, 19_000), pay("S4", 700)]
    result = compare("platform", DAY, theirs)
    assert [(d.kind, d.key, d.field, d.facepay_fen, d.other_fen) for d in result.differences] == [
        ("missing_on_other_side", "S2", None, 2_500, None),
        ("amount_differs", "S3", "fund_pay_sumamt", 20_000, 19_000),
        ("missing_in_facepay", "S4", None, None, 700),
    ]


def test_only_fields_both_sides_state_are_compared() -> None:
    his = [Entry("HIS-1", "payment", {"amount": 10_000})]
    ours = [Entry("HIS-1", "payment", {"amount": 10_000, "medfee_sumamt": 99})]
    assert compare("his", ours, his).agrees


def test_a_refund_on_one_side_only_and_a_duplicate() -> None:
    ours = [*DAY, Entry("S2", "refund", {"medfee_sumamt": 2_500})]
    theirs = [*DAY, DAY[0]]
    kinds = [(d.kind, d.key, d.entry) for d in compare("platform", ours, theirs).differences]
    assert kinds == [("duplicate", "S1", "payment"), ("refunded_in_facepay_only", "S2", "refund")]


def test_the_report_counts_every_kind_per_side() -> None:
    report = Reconciliation(
        "h1",
        date(2026, 12, 1),
        (compare("platform", DAY, DAY), compare("his", DAY, DAY[:2])),
        skipped={},
    )
    body = report.as_json()
    assert body["agrees"] is False
    assert body["differences"] == 1
    assert report.counts()["his"]["missing_on_other_side"] == 1
    assert sum(report.counts()["platform"].values()) == 0


def test_amounts_are_integer_fen() -> None:
    with pytest.raises(TypeError):
        Entry("S1", "payment", {"medfee_sumamt": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="key"):
        Entry("", "payment", {})


entries = st.lists(
    st.builds(
        Entry,
        key=st.sampled_from(["A", "B", "C", "D"]),
        kind=st.sampled_from(["payment", "refund"]),
        amounts=st.fixed_dictionaries({"amount": st.integers(0, 10**9)}),
    ),
    max_size=8,
)


@given(entries, entries)
def test_differences_mirror_when_the_sides_swap(ours: list[Entry], theirs: list[Entry]) -> None:
    there = compare("his", ours, theirs).differences
    back = compare("his", theirs, ours).differences
    assert len(there) == len(back)
    assert compare("his", ours, ours).agrees == (len({(e.key, e.kind) for e in ours}) == len(ours))


def test_net_totals_and_the_platforms_refusal_of_them() -> None:
    entries = [*DAY, Entry("S2", "refund", {"medfee_sumamt": 2_500, "fund_pay_sumamt": 0})]
    assert net_totals(entries) == ({"medfee_sumamt": 41_000, "fund_pay_sumamt": 26_000}, 2)
    refused = totals_refused("platform", "对账不一致", 41_000)
    result = compare("platform", DAY, DAY, extra=[refused])
    assert not result.agrees
    assert [(d.kind, d.field, d.facepay_fen) for d in result.differences] == [
        ("totals_refused", "对账不一致", 41_000)
    ]
