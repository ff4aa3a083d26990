"""A stay's discharge settlement through the national platform (settlement_platform=nhsa): the
whole stay goes to the platform at discharge, its split is what the deposit nets against, and
a reversal cancels it there (2305) before facepay reopens the stay."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import httpx
import pytest

from facepay.adapters.nhsa.client import NhsaClient
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.store import InMemoryMessageLog, Institution
from facepay.adapters.nhsa.wire import decode, encode
from facepay.hospital.inpatient import Diagnosis
from facepay.hospital.tenants import StaffUser
from facepay.insurance.model import BillLine
from facepay.ledger.accounts import AccountKind
from facepay.services import inpatient, inpatient_discharge
from facepay.services.identification import identify_by_credentials
from facepay.services.ledger import open_accounts
from facepay.services.memory import InMemoryUnitOfWork


@pytest.fixture
def ward(world: Any, kit: ModuleType) -> tuple[Any, SimulatedPlatform]:
    """The world on the simulated platform, with a doctor and a nurse, and Carol insured on
    both sides with an empty personal account."""
    open_accounts(
        uow=InMemoryUnitOfWork(world.store), accounts=[(AccountKind.CASH_CLEARING, "bank")]
    )
    with world.ctx.uow() as uow:
        for staff_id, role in (("doc-1", "doctor"), ("nurse-1", "nurse")):
            uow.tenants.add_staff(StaffUser(staff_id, "h1", staff_id, "x", role, world.clock.now()))
        uow.commit()
    kit.register(world, 30, "Carol", account=0)
    sim = SimulatedPlatform(policies=world.ctx.policies, clock=world.clock, area="310105")
    sim.enrol(certno=kit.person_number(30), name="Carol", category="employee_active", balance=0)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=encode(sim.handle(decode(request.content))))

    log = InMemoryMessageLog()
    log.save_institution(Institution("h1", "H31010500012", "h1", "310105"), at=world.clock.now())
    counter = itertools.count(1)
    client = NhsaClient(
        http=httpx.Client(transport=httpx.MockTransport(answer), base_url="http://nhsa.test"),
        log=log,
        clock=world.clock,
        sequence=lambda: next(counter),
    )
    world.ctx = replace(world.ctx, platform=NhsaPlatform(client))
    return world, sim


def _stay(world: Any, kit: ModuleType) -> Any:
    card = identify_by_credentials(
        ctx=world.ctx,
        hospital_id="h1",
        actor="kiosk",
        id_number=kit.person_number(30),
        insurance_card_number="CARD0030",
    ).identification_id
    stay = inpatient.admit(
        ctx=world.ctx, hospital_id="h1", actor="staff:nurse-1", staff_confirmed=True,
        person_id=world.people["Carol"], identification_id=card, ward="W3", bed="12",
        diagnosis=Diagnosis("J18.900", "肺炎"), attending_doctor_id="doc-1", hospital_tier=3,
    ).stay  # fmt: skip
    inpatient.deposit(
        ctx=world.ctx, hospital_id="h1", actor="staff:cashier", staff_confirmed=True,
        stay_id=stay.id, amount=100_000, source="cash", idempotency_key="dep-1",
    )  # fmt: skip
    lines = [
        BillLine("BED", "床位费", "A", 8_000, Decimal(1)),
        BillLine("DRUG-B", "抗生素", "B", 100_000, Decimal("2.5")),
        BillLine("EXTRA-C", "单人间", "C", 5_000, Decimal(1)),
    ]
    inpatient.charge(
        ctx=world.ctx, hospital_id="h1", actor="staff:doc-1", stay_id=stay.id,
        reference="HIS-day-1", service_date=inpatient.local_day(world.ctx), lines=lines,
    )  # fmt: skip
    return stay


def _discharge(world: Any, stay: Any, key: str) -> Any:
    return inpatient_discharge.discharge(
        ctx=world.ctx, hospital_id="h1", actor="staff:cashier", stay_id=stay.id, idempotency_key=key
    )


def test_a_discharge_settles_the_stay_on_the_platform(
    ward: tuple[Any, SimulatedPlatform], kit: ModuleType
) -> None:
    world, sim = ward
    stay = _stay(world, kit)
    done = _discharge(world, stay, "dis-1")
    booked = done.receipt.record.settlement
    standing = [s for s in sim.settlements.values() if not s.cancelled]
    assert len(standing) == 1
    assert standing[0].settlement.medfee_sumamt == booked.medfee_sumamt == 263_000
    assert standing[0].settlement.psn_cash_pay == booked.psn_cash_pay
    assert done.discharge.applied + done.discharge.arrears == booked.psn_cash_pay
    assert sim.received[-6:] == ["1101", "2401", "2301", "2402", "2303", "2304"]
    assert _discharge(world, stay, "dis-1").replayed
    assert len(sim.received) == 7  # the replay asked the platform nothing (9001 came first)


def test_a_reversed_discharge_is_cancelled_on_the_platform(
    ward: tuple[Any, SimulatedPlatform], kit: ModuleType
) -> None:
    world, sim = ward
    stay = _stay(world, kit)
    _discharge(world, stay, "dis-1")
    back = inpatient_discharge.reverse_discharge(
        ctx=world.ctx,
        hospital_id="h1",
        actor="staff:cashier",
        stay_id=stay.id,
        reversal_key="rev-1",
    )
    assert back.view.stay.status == "admitted"
    assert [s.cancelled for s in sim.settlements.values()] == [True]
    assert [v.status for v in sim.visits.values()] == ["cancelled"]  # 2305, 2405, 2302, 2404
    world.clock.set(world.clock.now() + timedelta(minutes=5))
    again = _discharge(world, stay, "dis-2")
    standing = [s for s in sim.settlements.values() if not s.cancelled]
    assert [s.settlement.psn_cash_pay for s in standing] == [
        again.receipt.record.settlement.psn_cash_pay
    ]
