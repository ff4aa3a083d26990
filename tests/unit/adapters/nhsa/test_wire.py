"""Money on the national wire: yuan with two decimals, read and written exactly, never float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from facepay.adapters.nhsa.messages import Answer, parse_request
from facepay.adapters.nhsa.payloads import FeeLine, parse_input
from facepay.adapters.nhsa.wire import decode, encode, to_fen, to_yuan
from facepay.shared.errors import InvalidInput

LINE = {
    "feedetl_sn": "B-0001", "mdtrt_id": "M1", "psn_no": "P1",
    "fee_ocur_time": "2026-11-30 10:00:00", "med_list_codg": "A1", "medins_list_codg": "A1",
    "cnt": 1, "pric": "4.52",
}  # fmt: skip


@pytest.mark.parametrize(
    ("wire", "fen"), [("4.52", 452), ("0.1", 10), ("12", 1200), ("-3.05", -305)]
)
def test_yuan_become_exact_fen(wire: str, fen: int) -> None:
    body = decode(f'{{"amount": {wire}}}'.encode())
    line = FeeLine.model_validate({**LINE, "det_item_fee_sumamt": body["amount"]})
    assert to_fen(line.det_item_fee_sumamt) == fen
    assert to_yuan(fen) == Decimal(fen) / 100


@pytest.mark.parametrize("bad", [4.52, "4.525", "NaN", True, "1e400"])
def test_anything_but_a_whole_fen_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        FeeLine.model_validate({**LINE, "det_item_fee_sumamt": bad})


def test_numbers_are_written_digit_for_digit_and_read_as_decimal() -> None:
    text = encode({"b": to_yuan(452), "a": [to_yuan(-5), None, "李"]})
    assert text == '{"a":[-0.05,null,"李"],"b":4.52}'.encode()
    assert decode(text)["b"] == Decimal("4.52")


@pytest.mark.parametrize("body", [b"[1]", b"{", b'{"a": NaN}', b"\xff"])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode(body)
    assert refused.value.code == "nhsa_bad_message"


def test_a_bad_envelope_or_payload_names_the_field() -> None:
    with pytest.raises(InvalidInput, match="msgid"):
        parse_request({"infno": "2207"})
    with pytest.raises(InvalidInput, match="feedetail"):
        parse_input("2204", {"feedetail": []})
    with pytest.raises(InvalidInput) as unknown:
        parse_input("9999", {})
    assert unknown.value.code == "nhsa_unsupported"


def test_an_answer_takes_its_infcode_as_number_or_string() -> None:
    assert Answer.model_validate({"infcode": "0"}).ok
    assert not Answer.model_validate({"infcode": -1, "err_msg": "x"}).ok
