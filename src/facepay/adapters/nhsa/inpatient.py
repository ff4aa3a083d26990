"""A stay on the national platform: 2401 admission -> 2301 fee lines -> 2402 discharge ->
2303 pre-settlement -> 2304 settlement; undone by 2305, 2405, 2302 and 2404.

NhsaPlatform sends a whole stay at its discharge settlement (services.inpatient_discharge).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from facepay.adapters.nhsa import mapping
from facepay.adapters.nhsa.client import NhsaClient
from facepay.adapters.nhsa.messages import dump, time_text
from facepay.adapters.nhsa.payloads import (
    Admission,
    BaseInfo,
    Diagnosis,
    Discharge,
    InpatientPresettle,
    InsuInfo,
    SettlementOutput,
)
from facepay.adapters.nhsa.store import Institution
from facepay.adapters.nhsa.wire import to_yuan
from facepay.insurance.model import Bill
from facepay.insurance.platform import Operator, RemoteSettlement

ID_CARD = "02"


@dataclass(frozen=True)
class Stay:
    """A stay the platform knows: its mdtrt_id and the person's national numbers."""

    mdtrt_id: str
    psn_no: str
    insutype: str
    insuplc: str
    id_number: str
    ipt_no: str


class NhsaInpatient:
    """The stay's messages, each through the client's log and fault handling."""

    def __init__(self, client: NhsaClient) -> None:
        self.client = client

    def admit(
        self,
        site: Institution,
        op: Operator,
        *,
        id_number: str,
        name: str,
        ipt_no: str,
        hospital_tier: int,
        diagnosis: tuple[str, str],
        ref: str,
        begntime: datetime | None = None,
    ) -> Stay:
        """1101 + 2401: the stay's mdtrt_id."""
        c = self.client
        query = {"mdtrt_cert_type": ID_CARD, "mdtrt_cert_no": id_number, "psn_name": name}
        who = c.send(site, op, "1101", {"data": query}, ref=ref)
        base = BaseInfo.model_validate(who.answer.output["baseinfo"])
        insured = InsuInfo.model_validate(who.answer.output["insuinfo"][0])
        now = c.local_now()
        info = Admission(
            psn_no=base.psn_no,
            insutype=insured.insutype,
            begntime=time_text(begntime or now),
            mdtrt_cert_type=ID_CARD,
            mdtrt_cert_no=id_number,
            ipt_no=ipt_no,
            adm_diag_dscr=diagnosis[1],
            dscg_maindiag_code=diagnosis[0],
            dscg_maindiag_name=diagnosis[1],
            exp_content=json.dumps({"hospital_tier": hospital_tier}),
        )
        disease = Diagnosis(
            psn_no=base.psn_no,
            diag_code=diagnosis[0],
            diag_name=diagnosis[1],
            diag_time=time_text(now),
        )
        sent = c.send(
            site,
            op,
            "2401",
            {"mdtrtinfo": dump(info), "diseinfo": [dump(disease)]},
            ref=ref,
            insuplc=insured.insuplc_admdvs,
        )
        mdtrt_id = str(sent.answer.output["result"]["mdtrt_id"])
        return Stay(
            mdtrt_id, base.psn_no, insured.insutype, insured.insuplc_admdvs, id_number, ipt_no
        )

    def upload(
        self, site: Institution, op: Operator, stay: Stay, bill: Bill, *, batch: str, ref: str
    ) -> None:
        """2301: the stay's fee lines (one batch)."""
        at = f"{bill.service_date.isoformat()} {self.client.local_now():%H:%M:%S}"
        lines = mapping.fee_lines(
            bill, mdtrt_id=stay.mdtrt_id, psn_no=stay.psn_no, batch=batch, at=at, med_type="21"
        )
        self.client.send(
            site, op, "2301", {"feedetail": [dump(x) for x in lines]}, ref=ref, insuplc=stay.insuplc
        )

    def discharge(
        self, site: Institution, op: Operator, stay: Stay, *, at: datetime, ref: str
    ) -> None:
        """2402."""
        info = Discharge(
            mdtrt_id=stay.mdtrt_id,
            psn_no=stay.psn_no,
            insutype=stay.insutype,
            endtime=time_text(at),
        )
        self.client.send(
            site,
            op,
            "2402",
            {"dscginfo": dump(info), "diseinfo": []},
            ref=ref,
            insuplc=stay.insuplc,
        )

    def _data(self, stay: Stay, total_fen: int) -> InpatientPresettle:
        return InpatientPresettle(
            psn_no=stay.psn_no,
            mdtrt_cert_type=ID_CARD,
            mdtrt_cert_no=stay.id_number,
            medfee_sumamt=to_yuan(total_fen),
            mdtrt_id=stay.mdtrt_id,
            insutype=stay.insutype,
        )

    def presettle(
        self, site: Institution, op: Operator, stay: Stay, *, total_fen: int, ref: str
    ) -> SettlementOutput:
        """2303: the split, nothing booked."""
        sent = self.client.send(
            site,
            op,
            "2303",
            {"data": dump(self._data(stay, total_fen))},
            ref=ref,
            insuplc=stay.insuplc,
        )
        return SettlementOutput.model_validate(sent.answer.output)

    def settle(
        self, site: Institution, op: Operator, stay: Stay, *, total_fen: int, ref: str
    ) -> RemoteSettlement:
        """2304: the stay's settlement (a lost answer is reversed by the client)."""
        sent = self.client.send(
            site,
            op,
            "2304",
            {"data": dump(self._data(stay, total_fen))},
            ref=ref,
            insuplc=stay.insuplc,
        )
        return mapping.remote_settlement(
            SettlementOutput.model_validate(sent.answer.output).setlinfo
        )

    def cancel_settlement(
        self, site: Institution, op: Operator, stay: Stay, *, setl_id: str, ref: str
    ) -> SettlementOutput:
        """2305."""
        data = {"setl_id": setl_id, "mdtrt_id": stay.mdtrt_id, "psn_no": stay.psn_no}
        sent = self.client.send(site, op, "2305", {"data": data}, ref=ref, insuplc=stay.insuplc)
        return SettlementOutput.model_validate(sent.answer.output)

    def cancel_discharge(self, site: Institution, op: Operator, stay: Stay, *, ref: str) -> None:
        """2405."""
        data = {"mdtrt_id": stay.mdtrt_id, "psn_no": stay.psn_no}
        self.client.send(site, op, "2405", {"data": data}, ref=ref, insuplc=stay.insuplc)

    def cancel_fees(
        self, site: Institution, op: Operator, stay: Stay, *, ref: str, feedetl_sn: str = "0000"
    ) -> None:
        """2302 (feedetl_sn "0000": every unsettled line)."""
        data = {"feedetl_sn": feedetl_sn, "mdtrt_id": stay.mdtrt_id, "psn_no": stay.psn_no}
        self.client.send(site, op, "2302", {"data": data}, ref=ref, insuplc=stay.insuplc)

    def cancel_admission(self, site: Institution, op: Operator, stay: Stay, *, ref: str) -> None:
        """2404."""
        data = {"mdtrt_id": stay.mdtrt_id, "psn_no": stay.psn_no}
        self.client.send(site, op, "2404", {"data": data}, ref=ref, insuplc=stay.insuplc)
