"""What the simulated national platform keeps: insured persons (psn_no, category, account
balance, the year's accumulators), sign-ins, visits and stays with their fee lines, settlements
and the statement rows; the helpers every message handler shares (simulated.py)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from facepay.adapters.nhsa.messages import Request
from facepay.adapters.nhsa.payloads import StatementRow
from facepay.adapters.nhsa.wire import to_yuan
from facepay.insurance.model import Accumulators, BillLine, Settlement
from facepay.insurance.policies import PolicyBook
from facepay.shared.clock import Clock

MAX_ANSWERS = 100_000
"""Answers kept for repeated msgids (oldest forgotten first): bounded memory."""


class Refused(Exception):  # noqa: N818 - the platform's "no"
    """The platform answers infcode -1 with this text."""


@dataclass
class Person:
    """An insured person as the platform knows them."""

    psn_no: str
    certno: str
    name: str
    category: str
    balance: int
    insutype: str = "310"
    insuplc_admdvs: str = "310100"
    gend: str = "1"
    brdy: str = "1980-01-01"
    medical_assistance: bool = False
    years: dict[int, Accumulators] = field(default_factory=dict)

    def accumulators(self, year: int) -> Accumulators:
        """This person's totals of `year`."""
        return self.years.get(year, Accumulators(year=year))


@dataclass
class Visit:
    """An outpatient visit or an inpatient stay (mdtrt_id)."""

    mdtrt_id: str
    psn_no: str
    kind: str
    fixmedins_code: str
    hospital_tier: int
    begntime: str
    serial: str
    status: str = "open"
    discharged: bool = False
    fees: dict[str, tuple[Any, BillLine]] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)


@dataclass
class Settled:
    """A settlement and its cancel, if any."""

    setl_id: str
    visit: Visit
    settlement: Settlement
    lines: tuple[str, ...]
    msgid: str
    at: str
    insutype: str
    med_type: str
    cancelled: bool = False


@dataclass
class Applied:
    """A message that changed state: what 2601 undoes."""

    infno: str
    psn_no: str
    undo: Any
    reversed: bool = False


class PlatformState:
    """The state, behind one lock (each message is applied whole under it)."""

    def __init__(
        self,
        *,
        policies: PolicyBook,
        clock: Clock,
        area: str = "310100",
        utc_offset_minutes: int = 480,
    ) -> None:
        self._policies = policies
        self._clock = clock
        self._area = area
        self._offset = timedelta(minutes=utc_offset_minutes)
        self._lock = threading.Lock()
        self._serial = itertools.count(1)
        self.people: dict[str, Person] = {}
        self._by_cert: dict[str, str] = {}
        self.sign_ins: dict[str, tuple[str, date]] = {}
        self.visits: dict[str, Visit] = {}
        self.settlements: dict[str, Settled] = {}
        self.rows: list[tuple[str, StatementRow]] = []
        self._applied: dict[str, Applied] = {}
        self._answers: dict[str, tuple[str, dict[str, Any]]] = {}
        self.received: list[str] = []
        """The infno of each message, in order (what tests read)."""

    def enrol(
        self,
        *,
        certno: str,
        name: str,
        category: str,
        balance: int,
        medical_assistance: bool = False,
        insutype: str = "310",
    ) -> Person:
        """Add (or update) an insured person; their psn_no is stable per ID number."""
        with self._lock:
            psn_no = self._by_cert.get(certno) or f"P{self._area}{len(self.people) + 1:010d}"
            old = self.people.get(psn_no)
            person = Person(
                psn_no=psn_no,
                certno=certno,
                name=name,
                category=category,
                balance=balance,
                insutype=insutype,
                insuplc_admdvs=self._area,
                medical_assistance=medical_assistance,
                years=old.years if old else {},
            )
            self.people[psn_no] = person
            self._by_cert[certno] = psn_no
            return person

    def _now(self) -> datetime:
        return (self._clock.now() + self._offset).replace(tzinfo=None)

    def _record(self, request: Request, psn_no: str, undo: Any) -> None:
        self._applied[request.msgid] = Applied(request.infno, psn_no, undo)

    def _person(self, psn_no: str) -> Person:
        person = self.people.get(psn_no)
        if person is None:
            raise Refused(f"no insured person {psn_no}")
        return person

    def _visit(self, request: Request, mdtrt_id: str, psn_no: str, kind: str) -> Visit:
        visit = self.visits.get(mdtrt_id)
        if visit is None or visit.psn_no != psn_no or visit.kind != kind:
            raise Refused(f"no {kind} visit {mdtrt_id} of {psn_no}")
        if visit.fixmedins_code != request.fixmedins_code:
            raise Refused(f"visit {mdtrt_id} is of another institution")
        if visit.status != "open":
            raise Refused(f"visit {mdtrt_id} is {visit.status}")
        return visit

    def _close_visit(self, visit: Visit) -> None:
        if any(not s.cancelled for s in self.settlements.values() if s.visit is visit):
            raise Refused(f"visit {visit.mdtrt_id} has a settlement: cancel it first")
        visit.status = "cancelled"

    def _drop_fees(self, visit: Visit, wanted: tuple[str, ...] | None) -> None:
        names = [sn for sn in visit.fees if wanted is None or sn in wanted]
        if any(sn in visit.settled for sn in names):
            raise Refused("settled fee lines cannot be cancelled: cancel the settlement first")
        for sn in names:
            del visit.fees[sn]

    def _policy(self, visit: Visit, when: str) -> Any:
        person = self._person(visit.psn_no)
        try:
            return self._policies.pick(
                service_date=date.fromisoformat(when[:10]), category=person.category
            )
        except ValueError:
            raise Refused(f"not a date: {when!r}") from None

    def _row(self, done: Settled, at: str, msgid: str, *, sign: int) -> None:
        s = done.settlement
        row = StatementRow(
            psn_no=done.visit.psn_no,
            mdtrt_id=done.visit.mdtrt_id,
            setl_id=done.setl_id,
            msgid=msgid,
            setl_time=at,
            refd_setl_flag="0" if sign > 0 else "1",
            medfee_sumamt=to_yuan(sign * s.medfee_sumamt),
            fund_pay_sumamt=to_yuan(sign * s.fund_pay_sumamt),
            acct_pay=to_yuan(sign * s.acct_pay),
            psn_cash_pay=to_yuan(sign * s.psn_cash_pay),
        )
        self.rows.append((done.visit.fixmedins_code, row))
