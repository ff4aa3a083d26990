"""The national interface's messages: the common envelope, the answer, and each payload.

Every model reads the wire leniently (unknown keys are ignored, `null` amounts are accepted)
and writes it strictly (money as yuan with two decimals, `encode` in facepay.adapters.nhsa.wire).
`INPUTS[infno]` validates a request's `input`; the platform simulator and the client share them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from facepay.adapters.nhsa.wire import Price, Quantity, Ratio, Yuan
from facepay.shared.errors import InvalidInput

INF_TIME = "%Y-%m-%d %H:%M:%S"
"""`inf_time`, `begntime`, `setl_time` and the other `dt` fields."""
STAMP = "%Y%m%d%H%M%S"
"""The 14 digits inside a msgid."""
RESPOND_TIME = "%Y%m%d%H%M%S%f"
"""`refmsg_time` / `respond_time`: yyyyMMddHHmmssSSS (the last three digits of %f dropped)."""

OPTER_OPERATOR = "1"
OPTER_SELF_SERVICE = "2"
"""opter_type: a member of staff, or a self-service terminal (kiosk) acting on its own."""

SETTLEMENT_INFNOS = frozenset({"2207", "2304"})
"""Messages that move money: a lost answer is reversed (2601), never simply sent again."""
CHANGING_INFNOS = frozenset(
    {"2201", "2202", "2204", "2205", "2207", "2208", "2301", "2302", "2304", "2305"}
    | {"2401", "2402", "2404", "2405"}
)
"""Messages that change the platform's state (2601 can reverse any of them)."""
CANCEL_INFNOS = frozenset({"2202", "2205", "2208", "2302", "2305", "2404", "2405"})
"""Cancels: a lost answer is not reversed (that would undo the cancel); the caller decides."""
REVERSIBLE_INFNOS = CHANGING_INFNOS - CANCEL_INFNOS
"""What 2601 undoes when its answer is lost: registrations, uploads, settlements, stays."""
QUERY_INFNOS = frozenset({"9001", "1101", "2206", "2303", "3201", "3202"})
"""Safe to send again when an answer is lost."""


def time_text(moment: datetime) -> str:
    """A `dt` field."""
    return moment.strftime(INF_TIME)


def respond_text(moment: datetime) -> str:
    """A `refmsg_time` / `respond_time` field (milliseconds)."""
    return moment.strftime(RESPOND_TIME)[:17]


def _code(value: object) -> object:
    # Samples send codes and ids as numbers or strings; one type inside.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_code)]


class Wire(BaseModel):
    """A node of a message: unknown keys ignored, frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Request(Wire):
    """The common envelope of every request (NHSA interface §1)."""

    infno: Annotated[str, Field(pattern=r"^\d{4}$")]
    msgid: Annotated[str, Field(min_length=1, max_length=30)]
    mdtrtarea_admvs: Annotated[str, Field(max_length=6)]
    insuplc_admdvs: Annotated[str, Field(max_length=6)] = ""
    recer_sys_code: Annotated[str, Field(max_length=10)] = "YBXT"
    dev_no: Annotated[str, Field(max_length=100)] = ""
    dev_safe_info: str = ""
    cainfo: str = ""
    signtype: str = ""
    infver: Annotated[str, Field(max_length=6)] = "V1.0"
    opter_type: Literal["1", "2", "3"]
    opter: Annotated[str, Field(min_length=1, max_length=30)]
    opter_name: Annotated[str, Field(min_length=1, max_length=50)]
    inf_time: str
    fixmedins_code: Annotated[str, Field(min_length=1, max_length=30)]
    fixmedins_name: Annotated[str, Field(min_length=1, max_length=200)]
    sign_no: Annotated[str, Field(max_length=30)] = ""
    input: dict[str, Any]


def _infcode(value: object) -> object:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


class Answer(Wire):
    """The common envelope of every answer (§2): `infcode` 0 is success, -1 failure."""

    infcode: Annotated[int, BeforeValidator(_infcode)]
    inf_refmsgid: str = ""
    refmsg_time: str = ""
    respond_time: str = ""
    err_msg: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The platform applied the message."""
        return self.infcode == 0


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
        raise InvalidInput(_first_error(infno, error), code="nhsa_bad_message") from None


def parse_request(payload: dict[str, Any]) -> Request:
    """The envelope, validated."""
    try:
        return Request.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput(_first_error("envelope", error), code="nhsa_bad_message") from None


def parse_answer(payload: dict[str, Any]) -> Answer:
    """The answer envelope, validated."""
    try:
        return Answer.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput(_first_error("answer", error), code="nhsa_bad_message") from None


def parse_output(model: type[Wire], answer: Answer) -> Any:
    """A node of an answer's output, validated."""
    try:
        return model.model_validate(answer.output)
    except ValidationError as error:
        raise InvalidInput(_first_error("output", error), code="nhsa_bad_message") from None


def _first_error(where: str, error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    return f"{where}: {path}: {first['msg']}"


def dump(model: Wire) -> dict[str, Any]:
    """A model as the wire dictionary (Decimal kept; `encode` writes it)."""
    return model.model_dump(mode="python")
