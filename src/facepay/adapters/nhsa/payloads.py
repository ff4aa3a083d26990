"""The payload of each national message (`input` and `output` nodes), and `INPUTS[infno]`, the
model that validates a request's `input` (the client and the simulator share them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, ValidationError, create_model

from facepay.adapters.nhsa.messages import Text, Wire, first_error
from facepay.adapters.nhsa.wire import Price, Quantity, Ratio, Yuan
from facepay.shared.errors import InvalidInput

# --- 9001 sign-in, 1101 person information ------------------------------------------------


class SignIn(Wire):
    """9001 `input.signIn`."""

    opter_no: Annotated[str, Field(min_length=1, max_length=20)]
    mac: str = ""
    ip: Annotated[str, Field(min_length=1, max_length=20)]


class SignInInput(Wire):
    signIn: SignIn  # noqa: N815 - the interface's own key


class SignInOutput(Wire):
    sign_time: str
    sign_no: Text


class PersonQuery(Wire):
    """1101 `input.data`: who, by credential (02 ID card number here)."""

    mdtrt_cert_type: Text
    mdtrt_cert_no: Annotated[str, Field(min_length=1, max_length=50)]
    card_sn: str = ""
    begntime: str = ""
    psn_cert_type: Text = "01"
    certno: str = ""
    psn_name: str = ""


class PersonQueryInput(Wire):
    data: PersonQuery


class BaseInfo(Wire):
    psn_no: Text
    psn_cert_type: Text = "01"
    certno: str = ""
    psn_name: str = ""
    gend: Text = "0"
    naty: Text = ""
    brdy: str = ""
    age: Decimal | None = None


class InsuInfo(Wire):
    balc: Yuan | None = None
    insutype: Text
    psn_type: Text = ""
    psn_insu_stas: Text = "1"
    psn_insu_date: str = ""
    paus_insu_date: str = ""
    cvlserv_flag: Text = "0"
    insuplc_admdvs: Text = ""
    emp_name: str = ""


# --- outpatient: 2201 / 2202 / 2204 / 2205 / 2206 / 2207 / 2208 ---------------------------


class Registration(Wire):
    """2201 `input.data`."""

    psn_no: Text
    insutype: Text
    begntime: str
    mdtrt_cert_type: Text
    mdtrt_cert_no: str
    ipt_otp_no: Annotated[str, Field(min_length=1, max_length=30)]
    atddr_no: str = ""
    dr_name: str = ""
    dept_code: str = ""
    dept_name: str = ""
    caty: str = ""
    exp_content: str = ""


class RegistrationOutput(Wire):
    mdtrt_id: Text
    psn_no: Text
    ipt_otp_no: str


class RegistrationCancel(Wire):
    """2202 `input.data`."""

    psn_no: Text
    mdtrt_id: Text
    ipt_otp_no: str


class FeeLine(Wire):
    """One 2204 / 2301 `feedetail[]` line."""

    feedetl_sn: Annotated[str, Field(min_length=1, max_length=30)]
    init_feedetl_sn: str = ""
    mdtrt_id: Text
    drord_no: str = ""
    psn_no: Text
    med_type: Text = ""
    chrg_bchno: str = ""
    dise_codg: str = ""
    rxno: str = ""
    rx_circ_flag: Text = "0"
    fee_ocur_time: str
    med_list_codg: Annotated[str, Field(min_length=1, max_length=50)]
    medins_list_codg: Annotated[str, Field(min_length=1, max_length=150)]
    det_item_fee_sumamt: Yuan
    cnt: Quantity
    pric: Price
    bilg_dept_codg: str = ""
    bilg_dept_name: str = ""
    bilg_dr_codg: str = ""
    bilg_dr_name: str = ""
    hosp_appr_flag: Text = "0"
    memo: str = ""
    exp_content: str = ""


class FeeUploadInput(Wire):
    feedetail: Annotated[list[FeeLine], Field(min_length=1, max_length=2_000)]


class FeeResult(Wire):
    """One 2204 / 2301 `result[]` line: the platform's split of the line."""

    feedetl_sn: str
    det_item_fee_sumamt: Yuan
    cnt: Quantity
    pric: Price
    pric_uplmt_amt: Price | None = None
    selfpay_prop: Ratio | None = None
    fulamt_ownpay_amt: Yuan | None = None
    overlmt_amt: Yuan | None = None
    preselfpay_amt: Yuan | None = None
    inscp_scp_amt: Yuan | None = None
    chrgitm_lv: Text = ""
    med_chrgitm_type: Text = ""
    lmt_used_flag: Text = "0"
    memo: str = ""


class FeeCancel(Wire):
    """2205 `input.data` (`chrg_bchno` "0000": every unsettled line)."""

    mdtrt_id: Text
    chrg_bchno: str
    psn_no: Text


class Presettle(Wire):
    """2206 `input.data` (2207 adds the invoice and the split it accepts)."""

    psn_no: Text
    mdtrt_cert_type: Text
    mdtrt_cert_no: str
    med_type: Text
    medfee_sumamt: Yuan
    psn_setlway: Text = "01"
    mdtrt_id: Text
    chrg_bchno: str
    insutype: Text
    acct_used_flag: Text = "1"


class Settle(Presettle):
    """2207 `input.data`."""

    invono: str = ""
    fulamt_ownpay_amt: Yuan
    overlmt_selfpay: Yuan
    preselfpay_amt: Yuan
    inscp_scp_amt: Yuan


class SettlementCancel(Wire):
    """2208 / 2305 `input.data`."""

    setl_id: Text
    mdtrt_id: Text
    psn_no: Text
    exp_content: str = ""


class SetlInfo(Wire):
    """`output.setlinfo` of 2206 / 2207 / 2208 / 2303 / 2304 / 2305 (§5.1); amounts may be null."""

    mdtrt_id: Text
    setl_id: Text | None = None
    psn_no: Text = ""
    psn_name: str = ""
    insutype: Text = ""
    med_type: Text = ""
    setl_time: str | None = None
    medfee_sumamt: Yuan | None = None
    fulamt_ownpay_amt: Yuan | None = None
    overlmt_selfpay: Yuan | None = None
    preselfpay_amt: Yuan | None = None
    inscp_scp_amt: Yuan | None = None
    act_pay_dedc: Yuan | None = None
    hifp_pay: Yuan | None = None
    pool_prop_selfpay: Yuan | None = None
    cvlserv_pay: Yuan | None = None
    hifes_pay: Yuan | None = None
    hifmi_pay: Yuan | None = None
    hifob_pay: Yuan | None = None
    maf_pay: Yuan | None = None
    oth_pay: Yuan | None = None
    fund_pay_sumamt: Yuan | None = None
    psn_part_amt: Yuan | None = None
    acct_pay: Yuan | None = None
    psn_cash_pay: Yuan | None = None
    hosp_part_amt: Yuan | None = None
    balc: Yuan | None = None
    acct_mulaid_pay: Yuan | None = None
    medins_setl_id: str = ""
    clr_optins: Text = ""
    clr_way: Text = ""
    clr_type: Text = ""


class SetlDetail(Wire):
    """One `output.setldetail[]` line (§5.2)."""

    fund_pay_type: Text
    inscp_scp_amt: Yuan | None = None
    crt_payb_lmt_amt: Yuan | None = None
    fund_payamt: Yuan | None = None
    fund_pay_type_name: str | None = None
    setl_proc_info: str | None = None


class SettlementOutput(Wire):
    setlinfo: SetlInfo
    setldetail: list[SetlDetail] = Field(default_factory=list)


# --- inpatient: 2401 / 2402 / 2404 / 2405, 2301 / 2302 / 2303 / 2304 / 2305 ---------------


class Admission(Wire):
    """2401 `input.mdtrtinfo`."""

    psn_no: Text
    insutype: Text
    coner_name: str = ""
    tel: str = ""
    begntime: str
    mdtrt_cert_type: Text
    mdtrt_cert_no: str
    med_type: Text = "21"
    ipt_no: Annotated[str, Field(min_length=1, max_length=30)]
    medrcdno: str = ""
    atddr_no: str = ""
    chfpdr_name: str = ""
    adm_diag_dscr: str = ""
    adm_dept_codg: str = ""
    adm_dept_name: str = ""
    adm_bed: str = ""
    dscg_maindiag_code: str = ""
    dscg_maindiag_name: str = ""
    exp_content: str = ""


class Diagnosis(Wire):
    """A `diseinfo[]` line."""

    psn_no: Text
    mdtrt_id: Text = ""
    diag_type: Text = "1"
    maindiag_flag: Text = "1"
    diag_srt_no: Text = "1"
    diag_code: str
    diag_name: str
    diag_dept: str = ""
    dise_dor_no: str = ""
    dise_dor_name: str = ""
    diag_time: str = ""


class AdmissionInput(Wire):
    mdtrtinfo: Admission
    diseinfo: list[Diagnosis] = Field(default_factory=list, max_length=50)


class Discharge(Wire):
    """2402 `input.dscginfo`."""

    mdtrt_id: Text
    psn_no: Text
    insutype: Text
    endtime: str
    dscg_dept_codg: str = ""
    dscg_dept_name: str = ""
    dscg_way: Text = "1"


class DischargeInput(Wire):
    dscginfo: Discharge
    diseinfo: list[Diagnosis] = Field(default_factory=list, max_length=50)


class StayCancel(Wire):
    """2404 / 2405 `input.data`."""

    mdtrt_id: Text
    psn_no: Text
    exp_content: str = ""


class InpatientFeeCancel(Wire):
    """2302 `input.data` (`feedetl_sn` "0000": every unsettled line of the stay)."""

    feedetl_sn: str
    mdtrt_id: Text
    psn_no: Text
    exp_content: str = ""


class InpatientPresettle(Wire):
    """2303 `input.data` (2304 adds the account flag and the invoice)."""

    psn_no: Text
    mdtrt_cert_type: Text
    mdtrt_cert_no: str
    medfee_sumamt: Yuan
    psn_setlway: Text = "01"
    mdtrt_id: Text
    insutype: Text
    mid_setl_flag: Text = "0"
    acct_used_flag: Text = "1"
    invono: str = ""


# --- 2601 reversal, 3201 / 3202 reconciliation --------------------------------------------


class Reversal(Wire):
    """2601 `input.data`: reverse the message `omsgid` (of transaction `oinfno`)."""

    psn_no: Text
    omsgid: Annotated[str, Field(min_length=1, max_length=30)]
    oinfno: Annotated[str, Field(pattern=r"^\d{4}$")]


class StatementTotals(Wire):
    """3201 `input.data`: the hospital's totals for a period."""

    insutype: Text = ""
    clr_type: Text = "11"
    setl_optins: Text
    stmt_begndate: str
    stmt_enddate: str
    medfee_sumamt: Yuan
    fund_pay_sumamt: Yuan
    acct_pay: Yuan
    fixmedins_setl_cnt: int
    refd_setl_flag: Text = ""


class StatementDetail(Wire):
    """3202 `input.data`."""

    setl_optins: Text
    file_qury_no: str = ""
    stmt_begndate: str
    stmt_enddate: str
    medfee_sumamt: Yuan
    fund_pay_sumamt: Yuan
    cash_payamt: Yuan
    fixmedins_setl_cnt: int
    clr_type: Text = "11"


class StatementRow(Wire):
    """One settlement (or cancel, `refd_setl_flag` 1, negative amounts) of the detail file."""

    psn_no: Text
    mdtrt_id: Text
    setl_id: Text
    msgid: str
    setl_time: str
    refd_setl_flag: Text
    medfee_sumamt: Yuan
    fund_pay_sumamt: Yuan
    acct_pay: Yuan
    psn_cash_pay: Yuan
    stmt_rslt: Text = "0"
    memo: str = ""


def _data_of(model: type[Wire]) -> type[Wire]:
    """The `{"data": ...}` payload around `model`."""
    wrapped: type[Wire] = create_model(f"{model.__name__}Input", __base__=Wire, data=(model, ...))
    return wrapped


INPUTS: dict[str, type[Wire]] = {
    "9001": SignInInput,
    "1101": PersonQueryInput,
    "2201": _data_of(Registration),
    "2202": _data_of(RegistrationCancel),
    "2204": FeeUploadInput,
    "2205": _data_of(FeeCancel),
    "2206": _data_of(Presettle),
    "2207": _data_of(Settle),
    "2208": _data_of(SettlementCancel),
    "2301": FeeUploadInput,
    "2302": _data_of(InpatientFeeCancel),
    "2303": _data_of(InpatientPresettle),
    "2304": _data_of(InpatientPresettle),
    "2305": _data_of(SettlementCancel),
    "2401": AdmissionInput,
    "2402": DischargeInput,
    "2404": _data_of(StayCancel),
    "2405": _data_of(StayCancel),
    "2601": _data_of(Reversal),
    "3201": _data_of(StatementTotals),
    "3202": _data_of(StatementDetail),
}
"""The payload model of each supported transaction."""

NAMES: dict[str, str] = {
    "9001": "sign-in",
    "1101": "person-info",
    "2201": "outpatient-registration",
    "2202": "outpatient-registration-cancel",
    "2204": "outpatient-fee-upload",
    "2205": "outpatient-fee-cancel",
    "2206": "outpatient-presettlement",
    "2207": "outpatient-settlement",
    "2208": "outpatient-settlement-cancel",
    "2301": "inpatient-fee-upload",
    "2302": "inpatient-fee-cancel",
    "2303": "inpatient-presettlement",
    "2304": "inpatient-settlement",
    "2305": "inpatient-settlement-cancel",
    "2401": "admission",
    "2402": "discharge",
    "2404": "admission-cancel",
    "2405": "discharge-cancel",
    "2601": "reversal",
    "3201": "reconciliation-totals",
    "3202": "reconciliation-detail",
}


def parse_input(infno: str, payload: dict[str, Any]) -> Any:
    """The payload model of `infno`, validated; `InvalidInput` naming the first bad field."""
    model = INPUTS.get(infno)
    if model is None:
        raise InvalidInput(f"transaction {infno} is not supported", code="nhsa_unsupported")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput(first_error(infno, error), code="nhsa_bad_message") from None
