"""facepay's bill and settlement <-> the national fee lines and `setlinfo`, in exact fen.

The real platform reads each item's class (甲/乙/丙), price ceiling and pay-first ratio from the
national catalogue by `med_list_codg`. facepay's lines carry them, so the client also sends
them in the line's `exp_content` (a regional extension field); the simulator settles from them.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from facepay.adapters.nhsa.payloads import FeeLine, FeeResult, SetlDetail, SetlInfo
from facepay.adapters.nhsa.wire import to_fen, to_yuan
from facepay.insurance.lines import split_line
from facepay.insurance.model import Bill, BillLine, Settlement
from facepay.insurance.platform import SPLIT_FIELDS, RemoteSettlement
from facepay.shared.errors import Conflict, InvalidInput
from facepay.shared.money import round_half_up

CHRGITM_LV = {"A": "01", "B": "02", "C": "03"}
"""收费项目等级: class A, class B, wholly self-paid."""
FUND_TYPES = {"hifp_pay": "310100", "hifmi_pay": "390200", "maf_pay": "610100"}
"""fund_pay_type of each fund facepay books (310100 pooled fund, 390200 critical illness,
610100 medical assistance); the account line is 310200."""
ACCOUNT_FUND_TYPE = "310200"
UNBOOKED_FUNDS = ("cvlserv_pay", "hifes_pay", "hifob_pay", "oth_pay", "hosp_part_amt")
"""Parts of a national split facepay's ledger has no account for (yet)."""
_PRICE = Decimal("0.000001")
_QUANTITY = Decimal("0.0001")
_RATIO = Decimal("0.0001")


def _ratio4(value: Decimal) -> Decimal:
    return value.quantize(_RATIO)


def price_yuan(fen: int) -> Decimal:
    """A unit price in fen as the n(16,6) yuan of `pric`."""
    return (Decimal(fen) / 100).quantize(_PRICE)


def fee_lines(
    bill: Bill, *, mdtrt_id: str, psn_no: str, batch: str, at: str, med_type: str = ""
) -> list[FeeLine]:
    """The bill's lines as `feedetail[]` of one charge batch."""
    out = []
    for number, line in enumerate(bill.lines, start=1):
        if line.quantity != line.quantity.quantize(_QUANTITY):
            raise InvalidInput(
                f"line {line.code}: the national interface takes quantities of at most 4 decimals",
                code="nhsa_bad_amount",
            )
        extension = {
            "item_class": line.item_class,
            "name": line.name,
            "price_ceiling": None
            if line.price_ceiling is None
            else str(to_yuan(line.price_ceiling)),
            "selfpay_ratio": None if line.selfpay_ratio is None else str(line.selfpay_ratio),
        }
        out.append(
            FeeLine(
                feedetl_sn=f"{batch}-{number:04d}",
                mdtrt_id=mdtrt_id,
                psn_no=psn_no,
                med_type=med_type,
                chrg_bchno=batch,
                fee_ocur_time=at,
                med_list_codg=line.code,
                medins_list_codg=line.code,
                det_item_fee_sumamt=to_yuan(round_half_up(line.unit_price * line.quantity)),
                cnt=line.quantity.quantize(_QUANTITY),
                pric=price_yuan(line.unit_price),
                exp_content=json.dumps(extension, ensure_ascii=False, sort_keys=True),
            )
        )
    return out


def bill_line(fee: FeeLine) -> BillLine:
    """A fee line back as facepay's bill line (the simulator's side); InvalidInput if the line
    does not add up or its class is not given."""
    try:
        extension = json.loads(fee.exp_content or "{}")
    except ValueError:
        raise InvalidInput(f"line {fee.feedetl_sn}: exp_content is not JSON") from None
    if not isinstance(extension, dict):
        raise InvalidInput(f"line {fee.feedetl_sn}: exp_content is not a JSON object")
    unit = to_fen(fee.pric.normalize()) if fee.pric == fee.pric.quantize(Decimal("0.01")) else None
    if unit is None:
        raise InvalidInput(f"line {fee.feedetl_sn}: pric is not a whole number of fen")
    ceiling = extension.get("price_ceiling")
    ratio = extension.get("selfpay_ratio")
    line = BillLine(
        code=fee.med_list_codg,
        name=str(extension.get("name") or fee.med_list_codg),
        item_class=extension.get("item_class", "A"),
        unit_price=unit,
        quantity=fee.cnt,
        price_ceiling=None if ceiling is None else to_fen(Decimal(str(ceiling))),
        selfpay_ratio=None if ratio is None else Decimal(str(ratio)),
    )
    if to_fen(fee.det_item_fee_sumamt) != round_half_up(line.unit_price * line.quantity):
        raise InvalidInput(f"line {fee.feedetl_sn}: det_item_fee_sumamt is not pric x cnt")
    return line


def fee_result(fee: FeeLine, line: BillLine, class_b_ratio: Decimal) -> FeeResult:
    """The platform's split of one line (2204 / 2301 `result[]`)."""
    split = split_line(line=line, class_b_selfpay_ratio=class_b_ratio)
    return FeeResult(
        feedetl_sn=fee.feedetl_sn,
        det_item_fee_sumamt=fee.det_item_fee_sumamt,
        cnt=fee.cnt,
        pric=fee.pric,
        pric_uplmt_amt=price_yuan(line.price_ceiling) if line.price_ceiling else Decimal(999999),
        selfpay_prop=_ratio4(split.selfpay_ratio)
        if line.item_class == "B"
        else Decimal(1 if line.item_class == "C" else 0).quantize(_RATIO),
        fulamt_ownpay_amt=to_yuan(split.fulamt),
        overlmt_amt=to_yuan(split.overlmt),
        preselfpay_amt=to_yuan(split.preselfpay),
        inscp_scp_amt=to_yuan(split.inscope),
        chrgitm_lv=CHRGITM_LV[line.item_class],
    )


AMOUNTS = SPLIT_FIELDS
"""The `setlinfo` amounts facepay's Settlement carries under the same names."""


def setlinfo(
    settlement: Settlement,
    *,
    mdtrt_id: str,
    setl_id: str | None,
    setl_time: str | None,
    msgid: str,
    psn_no: str,
    psn_name: str,
    insutype: str,
    med_type: str,
    sign: int = 1,
) -> SetlInfo:
    """A facepay split as the platform's `setlinfo` (`sign` -1: a cancel's negative amounts)."""
    amounts = {name: to_yuan(sign * getattr(settlement, name)) for name in AMOUNTS}
    amounts["balc"] = to_yuan(settlement.balc)
    zero = to_yuan(0)
    return SetlInfo(
        mdtrt_id=mdtrt_id,
        setl_id=setl_id,
        psn_no=psn_no,
        psn_name=psn_name,
        insutype=insutype,
        med_type=med_type,
        setl_time=setl_time,
        cvlserv_pay=zero,
        hifes_pay=zero,
        hifob_pay=zero,
        oth_pay=zero,
        hosp_part_amt=zero,
        acct_mulaid_pay=zero,
        medins_setl_id=msgid,
        clr_type="11" if settlement.visit_type == "outpatient" else "21",
        clr_way="01",
        **amounts,
    )


def setldetail(settlement: Settlement, *, sign: int = 1) -> list[SetlDetail]:
    """The fund lines of a split (the account line included, as the platform sends it)."""
    lines = [
        SetlDetail(
            fund_pay_type=code,
            inscp_scp_amt=to_yuan(sign * settlement.inscp_scp_amt),
            fund_payamt=to_yuan(sign * getattr(settlement, name)),
        )
        for name, code in FUND_TYPES.items()
        if getattr(settlement, name)
    ]
    if settlement.acct_pay:
        lines.append(
            SetlDetail(
                fund_pay_type=ACCOUNT_FUND_TYPE,
                inscp_scp_amt=to_yuan(sign * settlement.inscp_scp_amt),
                fund_payamt=to_yuan(sign * settlement.acct_pay),
            )
        )
    return lines


def remote_settlement(info: SetlInfo) -> RemoteSettlement:
    """`setlinfo` in fen; InvalidInput (`nhsa_unbookable_split`) when it does not add up, has no
    setl_id, or holds a part facepay's ledger cannot book (the sums of the interface notes §9)."""
    fen = {name: to_fen(getattr(info, name)) for name in AMOUNTS}
    extra = {name: to_fen(getattr(info, name)) for name in UNBOOKED_FUNDS}
    if any(extra.values()):
        parts = ", ".join(f"{k} {v}" for k, v in extra.items() if v)
        raise Conflict(
            f"the platform's split has parts facepay books nowhere: {parts}",
            code="nhsa_unbookable_split",
        )
    checks = (
        fen["fulamt_ownpay_amt"]
        + fen["overlmt_selfpay"]
        + fen["preselfpay_amt"]
        + fen["inscp_scp_amt"]
        == fen["medfee_sumamt"],
        fen["hifp_pay"] + fen["hifmi_pay"] + fen["maf_pay"] == fen["fund_pay_sumamt"],
        fen["fund_pay_sumamt"] + fen["psn_part_amt"] == fen["medfee_sumamt"],
        fen["acct_pay"] + fen["psn_cash_pay"] == fen["psn_part_amt"],
        fen["act_pay_dedc"] <= fen["inscp_scp_amt"],
    )
    if not all(checks) or min(v for k, v in fen.items() if k != "balc") < 0 or not info.setl_id:
        raise Conflict("the platform's split does not add up", code="nhsa_unbookable_split")
    return RemoteSettlement(amounts=fen, platform_ref=info.setl_id)


def local_date(text: str | None) -> date | None:
    """The day of a `dt` field."""
    return date.fromisoformat(text[:10]) if text else None
