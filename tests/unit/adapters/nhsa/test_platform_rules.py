"""NhsaPlatform's rules beyond the happy path: a settlement still waiting for its answer is
never reversed by another request, and a split facepay cannot book is reversed on the platform."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.unit.adapters.nhsa.conftest import NOW, SITE, Platform

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
