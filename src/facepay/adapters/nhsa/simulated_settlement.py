"""The simulated platform's money messages: pre-settlement and settlement (2206 / 2207,
2303 / 2304) by facepay's engine, their cancels (2208 / 2305), the 2601 reversal of any applied
message, and the 3201 / 3202 statements."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from facepay.adapters.nhsa import mapping
from facepay.adapters.nhsa.messages import Request, dump, time_text
from facepay.adapters.nhsa.payloads import SetlInfo, StatementRow
from facepay.adapters.nhsa.simulated_state import PlatformState, Refused, Settled, Visit
from facepay.adapters.nhsa.wire import to_fen, to_yuan
from facepay.insurance.model import Bill, Coverage, Settlement
from facepay.insurance.settlement import settle


class SettlementMessages(PlatformState):
    """Settlement, reversal and statement handlers."""

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

    def _cancel(
        self, done: Settled, now: datetime, msgid: str, *, reversal: bool = False
    ) -> dict[str, Any]:
        """Undo a settlement: a cancel (2208 / 2305) is a refund row of the statement; a
        reversal (2601) takes the settlement off the statement, as if it had never been."""
        if done.cancelled:
            raise Refused(f"settlement {done.setl_id} is already cancelled")
        person = self._person(done.visit.psn_no)
        year = done.settlement.deltas.year
        person.years[year] = person.accumulators(year).minus(done.settlement.deltas)
        person.balance += done.settlement.acct_pay
        done.visit.settled.difference_update(done.lines)
        done.cancelled = True
        at = time_text(now)
        if reversal:
            self.rows = [(code, row) for code, row in self.rows if row.setl_id != done.setl_id]
        else:
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
                self._cancel(self.settlements[what[1]], now, request.msgid, reversal=True)
        elif what[0] == "visit":
            self._close_visit(self.visits[what[1]])
        elif what[0] == "fees":
            self._drop_fees(self.visits[what[1]], what[2])
        elif what[0] == "discharge":
            self.visits[what[1]].discharged = False
        applied.reversed = True
        return {}

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
