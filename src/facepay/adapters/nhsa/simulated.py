"""`SimulatedPlatform`: the national platform's side, settled by facepay's own engine.

It keeps what the platform keeps: insured persons (psn_no, category, account balance, the
year's accumulators), sign-ins, visits and stays (mdtrt_id), uploaded fee lines, settlements
(setl_id) and their cancels, every applied msgid (so that 2601 can reverse it and a repeated
msgid gets the first answer again) and the statement rows of 3201 / 3202. One lock makes each
message atomic; no network here (facepay.adapters.nhsa.simulator serves it over HTTP).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from facepay.adapters.nhsa import mapping
from facepay.adapters.nhsa.messages import (
    Answer,
    Request,
    dump,
    parse_request,
    respond_text,
    time_text,
)
from facepay.adapters.nhsa.payloads import parse_input
from facepay.adapters.nhsa.simulated_settlement import SettlementMessages
from facepay.adapters.nhsa.simulated_state import MAX_ANSWERS, Person, Refused, Visit
from facepay.adapters.nhsa.wire import encode, to_yuan
from facepay.shared.errors import FacepayError, InvalidInput

__all__ = ["Person", "Refused", "SimulatedPlatform"]


class SimulatedPlatform(SettlementMessages):
    """The platform's state and its answer to each message; thread-safe."""

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


def _extension(text: str) -> dict[str, Any]:
    import json  # noqa: PLC0415 - only registrations read it

    try:
        value = json.loads(text or "{}")
    except ValueError:
        raise Refused("exp_content is not JSON") from None
    if not isinstance(value, dict):
        raise Refused("exp_content is not a JSON object")
    return value
