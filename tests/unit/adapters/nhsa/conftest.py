"""An in-process national platform for the NHSA adapter's unit tests: the simulated platform
behind an httpx MockTransport (no sockets), a fixed clock, a client with a message log in memory
and msgids that count up, so that every message is the same bytes on every run."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from facepay.adapters.interchange import shipped_policies
from facepay.adapters.nhsa.client import NhsaClient
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.store import InMemoryMessageLog, Institution
from facepay.adapters.nhsa.wire import decode, encode
from facepay.insurance.model import Accumulators, Bill, BillLine
from facepay.insurance.platform import Claim, Operator
from facepay.shared.clock import FixedClock

NOW = datetime(2026, 11, 30, 2, 15, 0, tzinfo=UTC)  # 10:15 in the hospital's time
SITE = Institution("hsp_golden", "H31010500012", "示例市第一人民医院", "310105")
KIOSK = Operator("self_service", "T8f3a61c2d4e5b6a7980c1d2e3f4a5b", "大厅自助机")
CASHIER = Operator("operator", "S1b2c3d4e5f60718293a4b5c6d7e8f9", "王芳")
ID_NUMBER = "110101199003074514"


def bill() -> Bill:
    """An outpatient bill with a class A, a class B (above its price ceiling) and a class C line."""
    return Bill(
        visit_type="outpatient",
        hospital_tier=3,
        service_date=date(2026, 11, 30),
        lines=(
            BillLine("001102000010000", "门诊诊查费", "A", 2500, Decimal(1)),
            BillLine(
                "XJ01CRA040A001010100740",
                "阿莫西林胶囊",
                "B",
                1866,
                Decimal("2.5"),
                price_ceiling=1700,
            ),
            BillLine("C250402001", "一次性雾化器", "C", 1200, Decimal(1)),
        ),
    )


@dataclass
class Platform:
    """The simulated platform, what went over the wire, and the client's side."""

    sim: SimulatedPlatform
    client: NhsaClient
    platform: NhsaPlatform
    log: InMemoryMessageLog
    clock: FixedClock
    exchanges: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def claim(self, key: str = "pay-1", **changes: Any) -> Claim:
        """A claim for the test person's bill."""
        values: dict[str, Any] = {
            "key": key,
            "hospital_id": SITE.hospital_id,
            "person_id": "pat_1",
            "id_number": ID_NUMBER,
            "person_name": "李秀英",
            "category": "employee_retired",
            "bill": bill(),
            "visit_ref": "MZ20261130001",
            "operator": KIOSK,
            **changes,
        }
        return Claim(**values)


@pytest.fixture
def platform() -> Platform:
    """A fresh platform with one insured person (500 yuan in the personal account, this
    year's deductible used)."""
    clock = FixedClock(NOW)
    sim = SimulatedPlatform(policies=shipped_policies(), clock=clock, area="310105")
    person = sim.enrol(certno=ID_NUMBER, name="李秀英", category="employee_retired", balance=50_000)
    # Past this year's outpatient deductible (1,300 yuan), so that the fund pays a part.
    person.years[2026] = Accumulators(year=2026, outpatient_deductible_used=130_000)
    exchanges: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = decode(request.content)
        out = sim.handle(body)
        exchanges.append((body, decode(encode(out))))
        return httpx.Response(200, content=encode(out))

    log = InMemoryMessageLog()
    log.save_institution(SITE, at=NOW)
    counter = itertools.count(1)
    client = NhsaClient(
        http=httpx.Client(transport=httpx.MockTransport(answer), base_url="http://nhsa.test"),
        log=log,
        clock=clock,
        sequence=lambda: next(counter),
    )
    return Platform(sim, client, NhsaPlatform(client), log, clock, exchanges)
