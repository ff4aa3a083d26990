"""NhsaPlatform's rules beyond the happy path: a settlement still waiting for its answer is
never reversed by another request, and a split facepay cannot book is reversed on the platform."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.unit.adapters.nhsa.conftest import NOW, SITE, Platform

from facepay.adapters.nhsa.reconciliation import fetch_day
from facepay.adapters.nhsa.store import LoggedMessage
from facepay.adapters.nhsa.wire import decode, encode
from facepay.shared.errors import Conflict


def test_a_settlement_in_flight_elsewhere_is_left_alone(platform: Platform) -> None:
    waiting = LoggedMessage("H310105000122026113010150099", SITE.hospital_id, "2207", "pay-1",
                            "T1", "{}", "sent", NOW)  # fmt: skip
    assert platform.log.reserve(waiting)
    with pytest.raises(Conflict) as held:
        platform.platform.settle(platform.claim("pay-1"))
    assert held.value.code == "nhsa_in_progress"
    assert platform.sim.received == []


def test_a_split_facepay_cannot_book_is_reversed_there(platform: Platform) -> None:
    sim = platform.sim

    def tampered(request: httpx.Request) -> httpx.Response:
        body = decode(request.content)
        answer: dict[str, Any] = sim.handle(body)
        if body["infno"] == "2207" and answer["infcode"] == 0:
            answer["output"]["setlinfo"]["hifob_pay"] = Decimal("1.00")  # a fund facepay lacks
        return httpx.Response(200, content=encode(answer))

    platform.client.http = httpx.Client(
        transport=httpx.MockTransport(tampered), base_url="http://x"
    )
    with pytest.raises(Conflict) as refused:
        platform.platform.settle(platform.claim("pay-odd"))
    assert refused.value.code == "nhsa_unbookable_split"
    assert [s.cancelled for s in sim.settlements.values()] == [True]
    assert sim.received[-3:] == ["2601", "2205", "2202"]


def test_the_day_on_the_platform_keys_payments_and_refunds_by_setl_id(platform: Platform) -> None:
    paid = platform.platform.settle(platform.claim("pay-1"))
    platform.platform.cancel(hospital_id=SITE.hospital_id, key="pay-1", cancel_key="refund-1",
                             operator=platform.claim().operator)  # fmt: skip
    lost = platform.claim("pay-2")
    platform.platform.settle(lost)
    row = platform.log.find(SITE.hospital_id, infno="2207", ref="pay-2")[0]
    assert platform.client.reverse(SITE, lost.operator, msgid=row.msgid, infno="2207",
                                   body=row.body)  # fmt: skip
    assert platform.platform.settlement_of(SITE.hospital_id, "pay-1") == paid.platform_ref
    day = fetch_day(platform.client, SITE, NOW.date())
    entries = [r.entry() for r in day.rows]
    amounts = {"medfee_sumamt": 8365, "fund_pay_sumamt": 5376, "acct_pay": 2989, "psn_cash_pay": 0}
    # The cancel is the payment's refund; the reversed settlement is on no statement.
    assert entries == [
        (paid.platform_ref, "payment", amounts),
        (paid.platform_ref, "refund", amounts),
    ]
    assert day.totals.settlements == 0
