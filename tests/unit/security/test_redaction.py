"""Masking helpers and the guard keeping biometric data and raw ID numbers out of audit details."""

from __future__ import annotations

import base64
import secrets

import pytest

from facepay.shared.errors import InvalidInput
from facepay.supervision.redaction import check_safe_details, mask_id_number, mask_phone


def test_mask_id_number_keeps_region_and_last_four() -> None:
    assert mask_id_number("110101199003074518") == "110101********4518"
    assert mask_id_number("11010119900307451x") == "110101********451X"
    assert mask_id_number("110101900307451") == "110101*****7451"  # old 15-digit card


@pytest.mark.parametrize("bad", ["", "1101011990030745", "11010119900307451Y", "abc"])
def test_mask_id_number_rejects_non_id_without_echoing(bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        mask_id_number(bad)
    assert err.value.code == "bad_id_number"
    assert bad == "" or bad not in err.value.message


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    with pytest.raises(InvalidInput):
        mask_phone("12345")


def test_plain_details_pass() -> None:
    check_safe_details(
        {
            "bill_id": "bil_1",
            "amount_fen": 12345,
            "id_number": mask_id_number("110101199003074518"),
            "template_id": "tpl_1",
            "decision": {"kind": "match", "candidates": ["pat_1", "pat_2"], "liveness": True},
            "note": None,
        }
    )


@pytest.mark.parametrize(
    "details",
    [
        {"chip_photo": "x"},
        {"face_image": "x"},
        {"embedding": "x"},
        {"template": "x"},
        {"nested": {"probe-frames": []}},
        {"blob": b"\xff\xd8\xff\xe0"},
        {"raw": bytearray(b"abc")},
        {"score": 0.93},
        {"vec": list(range(128))},
        {"vec": [[0] * 40]},
        {"b64": base64.b64encode(secrets.token_bytes(300)).decode()},
        {"hex": secrets.token_hex(100)},
        {"uri": "data:image/jpeg;base64,/9j/4AAQ"},
        {"uri": "see <img src='DATA:image/png;base64,iVBO'>"},
        {"b64": "prefix " + base64.b64encode(secrets.token_bytes(120)).decode() + "\n"},
        {"who": "patient 110101199003074518 enrolled"},
        {"who": "11010119900307451X"},
        {"old": "110101900307451"},
        {"long": "a " * 600},
        {1: "non-string key"},
        {"obj": object()},
        {"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}},
    ],
)
def test_unsafe_details_are_rejected(details: dict) -> None:
    with pytest.raises(InvalidInput) as err:
        check_safe_details(details)
    assert err.value.code == "unsafe_details"


def test_numbers_that_are_not_id_numbers_pass() -> None:
    check_safe_details({"bill_no": "2026112300001", "amount_fen": 110101199003074518 // 10**9})


def test_id_number_as_integer_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        check_safe_details({"amount_fen": 110101199003074518})
