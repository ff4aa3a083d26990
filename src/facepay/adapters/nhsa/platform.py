"""`NhsaPlatform`: the settlement platform port on the national interface.

An outpatient bill: 1101 (who: psn_no, insurance type, insured area) -> 2201 registration
(mdtrt_id) -> 2204 fee lines -> 2206 pre-settlement -> 2207 settlement with the split 2206
gave. Every message of one payment carries its idempotency key as `ref` in the message log, so:

- a key whose 2207 was answered is settled already: its answer is returned, nothing is sent;
- a key whose 2207 was left without answer is reversed (2601) before anything new is sent;
- a failure before 2207 cancels what was made (2205 fee lines, 2202 registration);
- `cancel` sends 2208 for the key's settlement; if that answer is lost, 2601 reverses the 2207
  itself (the platform treats a reversal of a cancelled settlement as done).
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import TypeVar

from pydantic import Field, ValidationError

from facepay.adapters.nhsa import mapping
from facepay.adapters.nhsa.client import (
    NhsaClient,
    PlatformBadAnswer,
    PlatformNoAnswer,
    PlatformRefused,
    PlatformUnconfirmed,
    Sent,
)
from facepay.adapters.nhsa.inpatient import NhsaInpatient, Stay
from facepay.adapters.nhsa.messages import Wire, dump, time_text
from facepay.adapters.nhsa.payloads import (
    BaseInfo,
    InsuInfo,
    Presettle,
    Registration,
    RegistrationOutput,
    Settle,
    SettlementOutput,
)
from facepay.adapters.nhsa.store import Institution, LoggedMessage, MessageState
from facepay.adapters.nhsa.wire import to_yuan
from facepay.insurance.platform import Claim, Operator, RemoteSettlement
from facepay.shared.errors import Conflict, FacepayError, NotFound
from facepay.shared.money import round_half_up

W = TypeVar("W", bound=Wire)

ID_CARD = "02"
SETTLE = {"outpatient": "2207", "inpatient": "2304"}
"""The settlement message of each kind of visit."""
CANCEL = {"2207": "2208", "2304": "2305"}
"""The documented cancel of each settlement message."""
"""mdtrt_cert_type: facepay identifies people by their resident ID number."""


class NhsaPlatform:
    """Settles outpatient bills on the national platform through `NhsaClient`."""

    remote = True

    def __init__(self, client: NhsaClient, *, med_type: str = "11") -> None:
        self.client = client
        self._med_type = med_type

    def site(self, hospital_id: str) -> Institution:
        """The site's national code (NotFound `nhsa_site_not_registered` until registered)."""
        found = self.client.log.institution(hospital_id)
        if found is None:
            raise NotFound(
                "this site has no national institution code: register it with "
                "`facepay nhsa register-site`",
                code="nhsa_site_not_registered",
            )
        return found

    def settle(self, claim: Claim) -> RemoteSettlement:
        """The platform's settlement of the claim (see the module docstring)."""
        site = self.site(claim.hospital_id)
        log = self.client.log
        infno = SETTLE[claim.bill.visit_type]
        for done in log.find(site.hospital_id, infno=infno, ref=claim.key, states=("answered",)):
            return mapping.remote_settlement(_output(done).setlinfo)
        _refuse_in_flight(log.find(site.hospital_id, infno=infno, ref=claim.key, states=("sent",)))
        for lost in log.find(site.hospital_id, infno=infno, ref=claim.key, states=("lost",)):
            if not self.client.reverse(
                site, claim.operator, msgid=lost.msgid, infno=infno, body=lost.body
            ):
                raise PlatformUnconfirmed(
                    f"an earlier settlement of this payment ({lost.msgid}) is not confirmed "
                    "nor reversed: `facepay nhsa recover`, then retry"
                )
        if claim.bill.visit_type == "inpatient":
            return self._settle_stay(site, claim)
        return self._settle(site, claim)

    def _settle_stay(self, site: Institution, claim: Claim) -> RemoteSettlement:
        """A whole stay at discharge: 1101, 2401 (dated the admission), 2301 every charge,
        2402, 2303, 2304; a failure before 2304 undoes the stay on the platform."""
        c, op, key = self.client, claim.operator, claim.key
        ward = NhsaInpatient(c)
        code, text = claim.diagnosis or ("Z00.000", "")
        begun = c.local(claim.started_at) if claim.started_at else None
        stay = ward.admit(
            site,
            op,
            id_number=claim.id_number,
            name=claim.person_name,
            ipt_no=claim.visit_ref,
            hospital_tier=claim.bill.hospital_tier,
            diagnosis=(code, text),
            ref=key,
            begntime=begun,
        )
        done: list[str] = []
        try:
            ward.upload(site, op, stay, claim.bill, batch=f"D{c.local_now():%H%M%S}", ref=key)
            done.append("fees")
            ward.discharge(site, op, stay, at=c.local_now(), ref=key)
            done.append("discharged")
            total = sum(round_half_up(line.unit_price * line.quantity) for line in claim.bill.lines)
            ward.presettle(site, op, stay, total_fen=total, ref=key)
            settled = ward.settle(site, op, stay, total_fen=total, ref=key)
        except PlatformUnconfirmed:
            raise
        except FacepayError:
            answered = c.log.find(site.hospital_id, infno="2304", ref=key, states=("answered",))
            for row in answered:  # settled but not bookable: reverse it by its msgid
                if not c.reverse(site, op, msgid=row.msgid, infno="2304", body=row.body):
                    raise PlatformUnconfirmed(f"settlement {row.msgid} not reversed") from None
            self._close_stay(site, op, stay, done, key)
            raise
        return settled

    def _close_stay(
        self, site: Institution, op: Operator, stay: Stay, done: list[str], key: str
    ) -> None:
        """Best effort: undo a stay on the platform (discharge, fee lines, admission)."""
        ward = NhsaInpatient(self.client)
        with contextlib.suppress(FacepayError):
            if "discharged" in done:
                ward.cancel_discharge(site, op, stay, ref=key)
            if "fees" in done:
                ward.cancel_fees(site, op, stay, ref=key)
            ward.cancel_admission(site, op, stay, ref=key)

    def _settle(self, site: Institution, claim: Claim) -> RemoteSettlement:
        c, op, key = self.client, claim.operator, claim.key
        who = c.send(site, op, "1101", _person_query(claim), ref=key)
        person = _parsed(PersonAnswer, who.answer.output)
        if not person.insuinfo:
            raise PlatformRefused("the platform has no insurance of this person")
        base = person.baseinfo
        insutype, area = person.insuinfo[0].insutype, person.insuinfo[0].insuplc_admdvs
        now = c.local_now()
        registration = Registration(
            psn_no=base.psn_no,
            insutype=insutype,
            begntime=time_text(now),
            mdtrt_cert_type=ID_CARD,
            mdtrt_cert_no=claim.id_number,
            ipt_otp_no=claim.visit_ref[:30],
            exp_content=json.dumps({"hospital_tier": claim.bill.hospital_tier}),
        )
        reg = c.send(site, op, "2201", {"data": dump(registration)}, ref=key, insuplc=area)
        mdtrt_id = _parsed(RegistrationAnswer, reg.answer.output).data.mdtrt_id
        uploaded = False
        try:
            batch = reg.msgid[-18:]
            at = f"{claim.bill.service_date.isoformat()} {now:%H:%M:%S}"
            lines = mapping.fee_lines(
                claim.bill, mdtrt_id=mdtrt_id, psn_no=base.psn_no, batch=batch, at=at
            )
            c.send(site, op, "2204", {"feedetail": [dump(x) for x in lines]}, ref=key, insuplc=area)
            uploaded = True
            common = {
                "psn_no": base.psn_no,
                "mdtrt_cert_type": ID_CARD,
                "mdtrt_cert_no": claim.id_number,
                "med_type": self._med_type,
                "medfee_sumamt": sum((x.det_item_fee_sumamt for x in lines), start=to_yuan(0)),
                "mdtrt_id": mdtrt_id,
                "chrg_bchno": batch,
                "insutype": insutype,
                "acct_used_flag": "1",
            }
            pre = c.send(
                site, op, "2206", {"data": dump(Presettle(**common))}, ref=key, insuplc=area
            )
            split = _output(pre).setlinfo
            final_in = Settle(
                **common,
                fulamt_ownpay_amt=split.fulamt_ownpay_amt or to_yuan(0),
                overlmt_selfpay=split.overlmt_selfpay or to_yuan(0),
                preselfpay_amt=split.preselfpay_amt or to_yuan(0),
                inscp_scp_amt=split.inscp_scp_amt or to_yuan(0),
            )
        except FacepayError:
            self._clean_up(site, op, base.psn_no, mdtrt_id, claim, uploaded=uploaded, area=area)
            raise
        try:
            final = c.send(site, op, "2207", {"data": dump(final_in)}, ref=key, insuplc=area)
        except PlatformUnconfirmed:
            raise
        except FacepayError:
            self._clean_up(site, op, base.psn_no, mdtrt_id, claim, uploaded=True, area=area)
            raise
        try:
            return mapping.remote_settlement(_output(final).setlinfo)
        except FacepayError:
            # Settled, but not in a form facepay can book: undo it by its msgid.
            row = c.log.get(final.msgid)
            body = row.body if row else ""
            if not c.reverse(site, op, msgid=final.msgid, infno="2207", body=body):
                raise PlatformUnconfirmed(
                    f"settlement {final.msgid} could not be booked nor reversed"
                ) from None
            self._clean_up(site, op, base.psn_no, mdtrt_id, claim, uploaded=True, area=area)
            raise

    def _clean_up(
        self,
        site: Institution,
        op: Operator,
        psn_no: str,
        mdtrt_id: str,
        claim: Claim,
        *,
        uploaded: bool,
        area: str,
    ) -> None:
        """Best effort: cancel the fee lines and the registration of a payment that failed
        (a visit left open on the platform settles nothing; reconciliation lists only
        settlements)."""
        c = self.client
        with contextlib.suppress(FacepayError):
            if uploaded:
                data = {"mdtrt_id": mdtrt_id, "chrg_bchno": "0000", "psn_no": psn_no}
                c.send(site, op, "2205", {"data": data}, ref=claim.key, insuplc=area)
            data = {"psn_no": psn_no, "mdtrt_id": mdtrt_id, "ipt_otp_no": claim.visit_ref[:30]}
            c.send(site, op, "2202", {"data": data}, ref=claim.key, insuplc=area)

    def cancel(self, *, hospital_id: str, key: str, cancel_key: str, operator: Operator) -> None:
        """2208 (2305 for a stay) for the settlement made under `key`, once per `cancel_key`;
        a cancelled stay is also closed on the platform (2405, 2302, 2404)."""
        site = self.site(hospital_id)
        log = self.client.log
        for infno in CANCEL.values():
            if log.find(hospital_id, infno=infno, ref=cancel_key, states=("answered",)):
                return
        for infno in CANCEL:
            _refuse_in_flight(log.find(hospital_id, infno=infno, ref=key, states=("sent",)))
            for lost in log.find(hospital_id, infno=infno, ref=key, states=("lost",)):
                if not self.client.reverse(
                    site, operator, msgid=lost.msgid, infno=infno, body=lost.body
                ):
                    raise PlatformUnconfirmed(f"settlement message {lost.msgid} not reversed")
        standing = [
            row
            for infno in CANCEL
            for row in log.find(hospital_id, infno=infno, ref=key, states=("answered",))
        ]
        if not standing:
            return
        row = standing[0]
        info = _output(row).setlinfo
        data = {"setl_id": info.setl_id, "mdtrt_id": info.mdtrt_id, "psn_no": info.psn_no}
        try:
            self.client.send(
                site,
                operator,
                CANCEL[row.infno],
                {"data": data},
                ref=cancel_key,
                reverse_if_lost=False,
            )
        except PlatformNoAnswer:
            # Whether the cancel arrived is unknown: reverse the settlement itself.
            if not self.client.reverse(
                site, operator, msgid=row.msgid, infno=row.infno, body=row.body
            ):
                raise PlatformUnconfirmed(
                    f"neither the cancel of {info.setl_id} nor the reversal of {row.msgid} was "
                    "answered: `facepay nhsa recover`, then retry"
                ) from None
        else:
            log.finish(row.msgid, "cancelled", answer=None, at=self.client.now())
        if row.infno == "2304":
            stay = Stay(info.mdtrt_id, info.psn_no, info.insutype, "", "", "")
            self._close_stay(site, operator, stay, ["discharged", "fees"], cancel_key)

    def settlement_of(self, hospital_id: str, key: str) -> str | None:
        """The setl_id the platform gave the payment made under `key` (standing, cancelled
        since, or answered and then reversed): what the nightly reconciliation keys facepay's
        settlements by. None if the platform never answered one."""
        states: tuple[MessageState, ...] = ("answered", "cancelled", "reversed")
        for infno in CANCEL:
            for row in self.client.log.find(hospital_id, infno=infno, ref=key, states=states):
                if row.answer:
                    return _output(row).setlinfo.setl_id
        return None


class PersonAnswer(Wire):
    """1101 `output`."""

    baseinfo: BaseInfo
    insuinfo: list[InsuInfo] = Field(default_factory=list)


class RegistrationAnswer(Wire):
    """2201 `output`."""

    data: RegistrationOutput


def _parsed(model: type[W], output: object) -> W:
    try:
        return model.model_validate(output)
    except ValidationError as error:
        raise PlatformBadAnswer(
            f"the platform's answer does not read as {model.__name__}: {error.errors()[0]['msg']}"
        ) from None


def _refuse_in_flight(sent: list[LoggedMessage]) -> None:
    """A settlement message still `sent` may be waiting for its answer in another request: it
    is never reversed from here (`facepay nhsa recover` reverses it once it is stale)."""
    if sent:
        raise Conflict(
            f"settlement message {sent[0].msgid} of this payment is still waiting for the "
            "platform's answer; retry in a moment with the same key",
            code="nhsa_in_progress",
        )


def _output(sent: Sent | LoggedMessage) -> SettlementOutput:
    if isinstance(sent, Sent):
        return _parsed(SettlementOutput, sent.answer.output)
    answer = json.loads(sent.answer or "{}", parse_float=Decimal)
    return _parsed(SettlementOutput, answer.get("output", {}))


def _person_query(claim: Claim) -> dict[str, object]:
    return {
        "data": {
            "mdtrt_cert_type": ID_CARD,
            "mdtrt_cert_no": claim.id_number,
            "psn_cert_type": "01",
            "certno": claim.id_number,
            "psn_name": claim.person_name,
        }
    }
