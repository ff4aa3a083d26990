"""The national interface's messages: the common envelope, the answer, and each payload.

Every model reads the wire leniently (unknown keys are ignored, `null` amounts are accepted)
and writes it strictly (money as yuan with two decimals, `encode` in facepay.adapters.nhsa.wire).
The payloads of each transaction are in facepay.adapters.nhsa.payloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

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


def parse_request(payload: dict[str, Any]) -> Request:
    """The envelope, validated."""
    try:
        return Request.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput(first_error("envelope", error), code="nhsa_bad_message") from None


def parse_answer(payload: dict[str, Any]) -> Answer:
    """The answer envelope, validated."""
    try:
        return Answer.model_validate(payload)
    except ValidationError as error:
        raise InvalidInput(first_error("answer", error), code="nhsa_bad_message") from None


def parse_output(model: type[Wire], answer: Answer) -> Any:
    """A node of an answer's output, validated."""
    try:
        return model.model_validate(answer.output)
    except ValidationError as error:
        raise InvalidInput(first_error("output", error), code="nhsa_bad_message") from None


def first_error(where: str, error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    return f"{where}: {path}: {first['msg']}"


def dump(model: Wire) -> dict[str, Any]:
    """A model as the wire dictionary (Decimal kept; `encode` writes it)."""
    return model.model_dump(mode="python")
