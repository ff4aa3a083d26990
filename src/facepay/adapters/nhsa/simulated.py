"""`SimulatedPlatform`: the national platform's side, settled by facepay's own engine.

It keeps what the platform keeps: insured persons (psn_no, category, account balance, the
year's accumulators), sign-ins, visits and stays (mdtrt_id), uploaded fee lines, settlements
(setl_id) and their cancels, every applied msgid (so that 2601 can reverse it and a repeated
msgid gets the first answer again) and the statement rows of 3201 / 3202. One lock makes each
message atomic; no network here (facepay.adapters.nhsa.simulator serves it over HTTP).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from facepay.adapters.nhsa import mapping
from facepay.adapters.nhsa.messages import (
    Answer,
    Request,
    SetlInfo,
    StatementRow,
    dump,
    parse_input,
    parse_request,
    respond_text,
    time_text,
)
from facepay.adapters.nhsa.wire import encode, to_fen, to_yuan
from facepay.insurance.model import Accumulators, Bill, BillLine, Coverage, Settlement
from facepay.insurance.policies import PolicyBook
from facepay.insurance.settlement import settle
from facepay.shared.clock import Clock
from facepay.shared.errors import FacepayError, InvalidInput

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


class SimulatedPlatform:
    """The platform's state and its answer to each message; thread-safe."""

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

    # --- set-up ----------------------------------------------------------------------------

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

    # --- the one entry point ---------------------------------------------------------------

    def handle(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to one request, as a wire dictionary (infcode -1 with the reason when the
        platform refuses it; then nothing changed)."""
        received = self._now()
        with self._lock:
            try:
                request = parse_request(body)
            except InvalidInput as bad:
                return self._answer(received, -1, str(bad), {})
            self.received.append(request.infno)
            digest = hashlib.sha256(encode(body)).hexdigest()
            if request.msgid in self._answers:
                seen, answer = self._answers[request.msgid]
                if seen == digest:
                    return answer  # the same message again: the same answer, applied once
                return self._answer(received, -1, f"msgid {request.msgid} is already used", {})
            try:
                output = self._dispatch(request, received)
                answer = self._answer(received, 0, "", output)
            except (Refused, FacepayError) as refused:
                answer = self._answer(received, -1, str(refused), {})
            if len(self._answers) >= MAX_ANSWERS:
                self._answers.pop(next(iter(self._answers)))
            self._answers[request.msgid] = (digest, answer)
            return answer

    def refuse(self, body: dict[str, Any], *, code: int, error: str) -> dict[str, Any]:
        """A failure answer to `body` without looking at it (a simulated fault)."""
        now = self._now()
        with self._lock:
            self.received.append(str(body.get("infno", "")))
            return self._answer(now, code, error, {})

    def _answer(
        self, received: datetime, code: int, error: str, output: dict[str, Any]
    ) -> dict[str, Any]:
        now = self._now()
        answer = Answer(
            infcode=code,
            inf_refmsgid=f"{self._area}{now:%Y%m%d%H%M%S}{next(self._serial):010d}",
            refmsg_time=respond_text(received),
            respond_time=respond_text(now),
            err_msg=error or None,
            output=output,
        )
        return dump(answer)

    def _now(self) -> datetime:
        return (self._clock.now() + self._offset).replace(tzinfo=None)

    def _dispatch(self, request: Request, now: datetime) -> dict[str, Any]:
        payload = parse_input(request.infno, request.input)
        if request.infno != "9001":
            self._check_signed_in(request, now)
        handler = getattr(self, f"_m{request.infno}")
        output: dict[str, Any] = handler(request, payload, now)
        return output

    def _check_signed_in(self, request: Request, now: datetime) -> None:
        signed = self.sign_ins.get(request.sign_no)
        if signed is None or signed != (request.opter, now.date()):
            raise Refused(f"operator {request.opter} has not signed in today (9001)")

    def _record(self, request: Request, psn_no: str, undo: Any) -> None:
        self._applied[request.msgid] = Applied(request.infno, psn_no, undo)

    # --- 9001, 1101 ------------------------------------------------------------------------

    def _m9001(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        sign_no = f"{now:%Y%m%d}{next(self._serial):010d}"
        self.sign_ins[sign_no] = (request.opter, now.date())
        return {"signinoutb": {"sign_time": time_text(now), "sign_no": sign_no}}

    def _m1101(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        psn_no = self._by_cert.get(payload.data.mdtrt_cert_no)
        if psn_no is None:
            raise Refused("no insured person with this credential")
        p = self.people[psn_no]
        return {
            "baseinfo": {
                "psn_no": p.psn_no,
                "psn_cert_type": "01",
                "certno": p.certno,
                "psn_name": p.name,
                "gend": p.gend,
                "naty": "01",
                "brdy": p.brdy,
            },
            "insuinfo": [
                {
                    "balc": to_yuan(p.balance),
                    "insutype": p.insutype,
                    "psn_type": p.category,
                    "psn_insu_stas": "1",
                    "cvlserv_flag": "0",
                    "insuplc_admdvs": p.insuplc_admdvs,
                }
            ],
            "idetinfo": [],
        }

    # --- visits and stays ------------------------------------------------------------------

    def _person(self, psn_no: str) -> Person:
        person = self.people.get(psn_no)
        if person is None:
            raise Refused(f"no insured person {psn_no}")
        return person

    def _open_visit(self, request: Request, payload: Any, kind: str) -> dict[str, Any]:
        data = payload.data if kind == "outpatient" else payload.mdtrtinfo
        self._person(data.psn_no)
        extension = _extension(data.exp_content)
        tier = extension.get("hospital_tier")
        if not isinstance(tier, int) or isinstance(tier, bool):
            raise Refused("exp_content.hospital_tier: the institution's grade (1 to 3)")
        serial = data.ipt_otp_no if kind == "outpatient" else data.ipt_no
        mdtrt_id = f"M{self._area}{next(self._serial):012d}"
        visit = Visit(
            mdtrt_id, data.psn_no, kind, request.fixmedins_code, tier, data.begntime, serial
        )
        self.visits[mdtrt_id] = visit
        self._record(request, data.psn_no, ("visit", mdtrt_id))
        return {"mdtrt_id": mdtrt_id, "psn_no": data.psn_no, "ipt_otp_no": serial}

    def _m2201(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return {"data": self._open_visit(request, payload, "outpatient")}

    def _m2401(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        found = self._open_visit(request, payload, "inpatient")
        return {"result": {"mdtrt_id": found["mdtrt_id"]}}

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

    def _m2202(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.data
        self._close_visit(self._visit(request, d.mdtrt_id, d.psn_no, "outpatient"))
        return {}

    def _m2404(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.data
        self._close_visit(self._visit(request, d.mdtrt_id, d.psn_no, "inpatient"))
        return {}

    def _m2402(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.dscginfo
        visit = self._visit(request, d.mdtrt_id, d.psn_no, "inpatient")
        if visit.discharged:
            raise Refused(f"stay {visit.mdtrt_id} is already discharged")
        visit.discharged = True
        self._record(request, d.psn_no, ("discharge", visit.mdtrt_id))
        return {}

    def _m2405(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.data
        visit = self._visit(request, d.mdtrt_id, d.psn_no, "inpatient")
        if not visit.discharged:
            raise Refused(f"stay {visit.mdtrt_id} is not discharged")
        if any(not s.cancelled for s in self.settlements.values() if s.visit is visit):
            raise Refused(f"stay {visit.mdtrt_id} is settled: cancel the settlement first")
        visit.discharged = False
        return {}

    # --- fees ------------------------------------------------------------------------------

    def _upload(self, request: Request, payload: Any, kind: str) -> dict[str, Any]:
        results = []
        first = payload.feedetail[0]
        visit = self._visit(request, first.mdtrt_id, first.psn_no, kind)
        if kind == "inpatient" and visit.discharged:
            raise Refused(f"stay {visit.mdtrt_id} is discharged: no more fees")
        added = []
        policy = self._policy(visit, first.fee_ocur_time)
        for fee in payload.feedetail:
            if (fee.mdtrt_id, fee.psn_no) != (visit.mdtrt_id, visit.psn_no):
                raise Refused(f"line {fee.feedetl_sn}: all lines of one upload are of one visit")
            if fee.feedetl_sn in visit.fees or fee.feedetl_sn in added:
                raise Refused(f"line {fee.feedetl_sn} is already uploaded")
            try:
                line = mapping.bill_line(fee)
            except InvalidInput as bad:
                raise Refused(str(bad)) from None
            added.append(fee.feedetl_sn)
            results.append((fee, line))
        ratio = policy.class_b_selfpay_ratio
        output = {"result": [dump(mapping.fee_result(f, ln, ratio)) for f, ln in results]}
        for fee, line in results:
            visit.fees[fee.feedetl_sn] = (fee, line)
        self._record(request, visit.psn_no, ("fees", visit.mdtrt_id, tuple(added)))
        return output

    def _m2204(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._upload(request, payload, "outpatient")

    def _m2301(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._upload(request, payload, "inpatient")

    def _drop_fees(self, visit: Visit, wanted: tuple[str, ...] | None) -> None:
        names = [sn for sn in visit.fees if wanted is None or sn in wanted]
        if any(sn in visit.settled for sn in names):
            raise Refused("settled fee lines cannot be cancelled: cancel the settlement first")
        for sn in names:
            del visit.fees[sn]

    def _m2205(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.data
        visit = self._visit(request, d.mdtrt_id, d.psn_no, "outpatient")
        batch = None if d.chrg_bchno == "0000" else d.chrg_bchno
        wanted = tuple(
            sn
            for sn, (fee, _) in visit.fees.items()
            if sn not in visit.settled and (batch is None or fee.chrg_bchno == batch)
        )
        self._drop_fees(visit, wanted)
        return {}

    def _m2302(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.data
        visit = self._visit(request, d.mdtrt_id, d.psn_no, "inpatient")
        wanted: tuple[str, ...] = (
            tuple(sn for sn in visit.fees if sn not in visit.settled)
            if d.feedetl_sn == "0000"
            else (d.feedetl_sn,)
        )
        self._drop_fees(visit, wanted)
        return {}

    # --- settlement ------------------------------------------------------------------------

    def _policy(self, visit: Visit, when: str) -> Any:
        person = self._person(visit.psn_no)
        try:
            return self._policies.pick(
                service_date=date.fromisoformat(when[:10]), category=person.category
            )
        except ValueError:
            raise Refused(f"not a date: {when!r}") from None

    def _compute(
        self, visit: Visit, data: Any, *, batch: str | None
    ) -> tuple[Settlement, tuple[str, ...]]:
        person = self._person(visit.psn_no)
        names = tuple(
            sn
            for sn, (fee, _) in visit.fees.items()
            if sn not in visit.settled and (batch is None or fee.chrg_bchno == batch)
        )
        if not names:
            raise Refused(f"visit {visit.mdtrt_id} has no unsettled fee lines")
        lines = tuple(visit.fees[sn][1] for sn in names)
        service = date.fromisoformat(visit.fees[names[0]][0].fee_ocur_time[:10])
        bill = Bill(
            visit_type="outpatient" if visit.kind == "outpatient" else "inpatient",
            hospital_tier=visit.hospital_tier,
            service_date=service,
            lines=lines,
        )
        policy = self._policy(visit, visit.fees[names[0]][0].fee_ocur_time)
        balance = person.balance if str(data.acct_used_flag) == "1" else 0
        coverage = Coverage(person.category, balance, person.medical_assistance)
        split = settle(
            bill=bill,
            coverage=coverage,
            accumulators=person.accumulators(service.year),
            policy=policy,
        )
        if to_fen(data.medfee_sumamt) != split.medfee_sumamt:
            raise Refused(
                f"medfee_sumamt {data.medfee_sumamt} is not the total of the uploaded lines "
                f"({to_yuan(split.medfee_sumamt)})"
            )
        return split, names

    def _info(
        self,
        visit: Visit,
        split: Settlement,
        *,
        setl_id: str | None,
        at: str | None,
        msgid: str,
        insutype: str,
        med_type: str,
        sign: int = 1,
    ) -> SetlInfo:
        person = self._person(visit.psn_no)
        return mapping.setlinfo(
            split,
            mdtrt_id=visit.mdtrt_id,
            setl_id=setl_id,
            setl_time=at,
            msgid=msgid,
            psn_no=person.psn_no,
            psn_name=person.name,
            insutype=insutype,
            med_type=med_type,
            sign=sign,
        )

    def _presettle(self, request: Request, payload: Any, kind: str) -> dict[str, Any]:
        d = payload.data
        visit = self._visit(request, d.mdtrt_id, d.psn_no, kind)
        split, _ = self._compute(visit, d, batch=getattr(d, "chrg_bchno", None))
        med_type = getattr(d, "med_type", "21")
        info = self._info(
            visit,
            split,
            setl_id=None,
            at=None,
            msgid=request.msgid,
            insutype=d.insutype,
            med_type=med_type,
        )
        return {"setlinfo": dump(info), "setldetail": [dump(x) for x in mapping.setldetail(split)]}

    def _m2206(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._presettle(request, payload, "outpatient")

    def _m2303(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._presettle(request, payload, "inpatient")

    def _settle(self, request: Request, payload: Any, now: datetime, kind: str) -> dict[str, Any]:
        d = payload.data
        visit = self._visit(request, d.mdtrt_id, d.psn_no, kind)
        if kind == "inpatient" and not visit.discharged and str(d.mid_setl_flag) != "1":
            raise Refused(
                f"stay {visit.mdtrt_id} is not discharged (2402) nor an interim settlement"
            )
        split, names = self._compute(visit, d, batch=getattr(d, "chrg_bchno", None))
        if kind == "outpatient":
            sent = tuple(
                to_fen(getattr(d, k))
                for k in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")
            )
            ours = (
                split.fulamt_ownpay_amt,
                split.overlmt_selfpay,
                split.preselfpay_amt,
                split.inscp_scp_amt,
            )
            if sent != ours:
                raise Refused("the split sent differs from the platform's: pre-settle again (2206)")
        person = self._person(visit.psn_no)
        person.years[split.accumulators_after.year] = split.accumulators_after
        person.balance -= split.acct_pay
        visit.settled.update(names)
        setl_id = f"S{self._area}{next(self._serial):012d}"
        at = time_text(now)
        med_type = getattr(d, "med_type", "21")
        done = Settled(setl_id, visit, split, names, request.msgid, at, d.insutype, med_type)
        self.settlements[setl_id] = done
        self._row(done, at, request.msgid, sign=1)
        self._record(request, visit.psn_no, ("settlement", setl_id))
        info = self._info(
            visit,
            split,
            setl_id=setl_id,
            at=at,
            msgid=request.msgid,
            insutype=d.insutype,
            med_type=med_type,
        )
        return {"setlinfo": dump(info), "setldetail": [dump(x) for x in mapping.setldetail(split)]}

    def _m2207(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._settle(request, payload, now, "outpatient")

    def _m2304(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._settle(request, payload, now, "inpatient")

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

    def _cancel(self, done: Settled, now: datetime, msgid: str) -> dict[str, Any]:
        if done.cancelled:
            raise Refused(f"settlement {done.setl_id} is already cancelled")
        person = self._person(done.visit.psn_no)
        year = done.settlement.deltas.year
        person.years[year] = person.accumulators(year).minus(done.settlement.deltas)
        person.balance += done.settlement.acct_pay
        done.visit.settled.difference_update(done.lines)
        done.cancelled = True
        at = time_text(now)
        self._row(done, at, msgid, sign=-1)
        split = replace(done.settlement, balc=person.balance)
        info = self._info(
            done.visit,
            split,
            setl_id=done.setl_id,
            at=at,
            msgid=msgid,
            insutype=done.insutype,
            med_type=done.med_type,
            sign=-1,
        )
        return {
            "setlinfo": dump(info),
            "setldetail": [dump(x) for x in mapping.setldetail(done.settlement, sign=-1)],
        }

    def _settlement_of(self, request: Request, d: Any, kind: str) -> Settled:
        done = self.settlements.get(d.setl_id)
        if done is None or done.visit.mdtrt_id != d.mdtrt_id or done.visit.psn_no != d.psn_no:
            raise Refused(f"no settlement {d.setl_id} of visit {d.mdtrt_id}")
        if done.visit.kind != kind or done.visit.fixmedins_code != request.fixmedins_code:
            raise Refused(f"no settlement {d.setl_id} of visit {d.mdtrt_id}")
        return done

    def _m2208(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._cancel(
            self._settlement_of(request, payload.data, "outpatient"), now, request.msgid
        )

    def _m2305(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        return self._cancel(
            self._settlement_of(request, payload.data, "inpatient"), now, request.msgid
        )

    # --- 2601 reversal ---------------------------------------------------------------------

    def _m2601(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.data
        applied = self._applied.get(d.omsgid)
        if applied is None or applied.reversed:
            # Never applied (it did not arrive, or the platform refused it), or already
            # reversed: nothing to undo, so the reversal is done.
            return {}
        if applied.infno != d.oinfno or applied.psn_no != d.psn_no:
            raise Refused(f"message {d.omsgid} is not a {d.oinfno} of {d.psn_no}")
        what = applied.undo
        if what[0] == "settlement":
            if not self.settlements[what[1]].cancelled:  # else 2208 already undid it
                self._cancel(self.settlements[what[1]], now, request.msgid)
        elif what[0] == "visit":
            self._close_visit(self.visits[what[1]])
        elif what[0] == "fees":
            self._drop_fees(self.visits[what[1]], what[2])
        elif what[0] == "discharge":
            self.visits[what[1]].discharged = False
        applied.reversed = True
        return {}

    # --- 3201 / 3202 statements ------------------------------------------------------------

    def _period(self, request: Request, d: Any) -> list[StatementRow]:
        try:
            first = date.fromisoformat(d.stmt_begndate[:10])
            last = date.fromisoformat(d.stmt_enddate[:10])
        except ValueError:
            raise Refused("stmt_begndate / stmt_enddate: yyyy-MM-dd") from None
        if last < first or (last - first).days > 31:
            raise Refused("a statement covers 1 to 31 days")
        return [
            row
            for code, row in self.rows
            if code == request.fixmedins_code
            and first <= date.fromisoformat(row.setl_time[:10]) <= last
        ]

    def _m3201(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        d = payload.data
        rows = self._period(request, d)
        ours = (
            sum(to_fen(r.medfee_sumamt) for r in rows),
            sum(to_fen(r.fund_pay_sumamt) for r in rows),
            sum(to_fen(r.acct_pay) for r in rows),
            sum(1 if r.refd_setl_flag == "0" else -1 for r in rows),
        )
        theirs = (
            to_fen(d.medfee_sumamt),
            to_fen(d.fund_pay_sumamt),
            to_fen(d.acct_pay),
            d.fixmedins_setl_cnt,
        )
        agree = ours == theirs
        text = (
            "对账一致"
            if agree
            else (
                f"对账不一致: platform medfee {to_yuan(ours[0])} fund {to_yuan(ours[1])} "
                f"acct {to_yuan(ours[2])} count {ours[3]}"
            )
        )
        return {
            "stmtinfo": {
                "setl_optins": d.setl_optins,
                "stmt_rslt": "0" if agree else "1",
                "stmt_rslt_dscr": text,
            }
        }

    def _m3202(self, request: Request, payload: Any, now: datetime) -> dict[str, Any]:
        rows = self._period(request, payload.data)
        query = f"F{self._area}{next(self._serial):012d}"
        return {
            "fileinfo": {
                "file_qury_no": query,
                "filename": f"{query}.txt",
                "dld_endtime": time_text(now + timedelta(days=1)),
            },
            # The simulator's own node: the result file's rows inline (no 9101/9102 files).
            "detail": [dump(r) for r in rows],
        }


def _extension(text: str) -> dict[str, Any]:
    import json  # noqa: PLC0415 - only registrations read it

    try:
        value = json.loads(text or "{}")
    except ValueError:
        raise Refused("exp_content is not JSON") from None
    if not isinstance(value, dict):
        raise Refused("exp_content is not a JSON object")
    return value
