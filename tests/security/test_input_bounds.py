"""Bounds and sloppy acceptance. Before: 100 lines of unit price 10^12 fen and quantity 100000
were a 500 (`Python int too large to convert to SQLite INTEGER`); bill line names took NUL, DEL,
C1 controls and a BOM; bills of 0 fen, a service date of 9999-12-31, "3" or true as the hospital
tier and people of an unknown category (`student`, `martian`) were accepted; and two
Idempotency-Key headers silently used the first. Each is now a clear 422 (400 for the header)
that stores nothing; the largest bill accepted is settled and posted on both databases."""

from __future__ import annotations

import base64
import io
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from facepay.demo.people import id_number
from facepay.demo.world import Site
from facepay.insurance.model import MAX_BILL_FEN, MAX_LINE_FEN

TODAY = datetime.now(UTC).date()


def _bill(site: Site, lines: list[dict[str, Any]], **fields: object) -> dict[str, Any]:
    return {
        "external_ref": f"HIS-{secrets.token_hex(6)}",
        "id_number": site.person["id_number"],
        "visit_type": "inpatient",
        "hospital_tier": 3,
        "service_date": (TODAY - timedelta(days=3)).isoformat(),
        "lines": lines,
        **fields,
    }


def _line(unit_price: int = 10_000, quantity: str = "1", **fields: object) -> dict[str, Any]:
    return {"code": "A1", "name": "ward", "item_class": "A", "unit_price": unit_price,
            "quantity": quantity, **fields}  # fmt: skip


def _refused(response: Any, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.json()["type"].startswith("urn:facepay:problem:")


def test_amounts_too_large_for_the_ledger_are_422(site_a: Site) -> None:
    huge = [_line(10**12, "100000", code=f"L{i}") for i in range(100)]
    _refused(site_a.cashier.request("POST", "/v1/bills", _bill(site_a, huge)))


def test_a_line_or_a_bill_above_its_bound_is_422(site_a: Site) -> None:
    over_line = [_line(MAX_LINE_FEN // 2, "2.0001")]
    _refused(site_a.cashier.request("POST", "/v1/bills", _bill(site_a, over_line)))
    per_line = MAX_BILL_FEN // 10
    over_bill = [_line(per_line, "1", code=f"L{i}") for i in range(11)]
    _refused(site_a.cashier.request("POST", "/v1/bills", _bill(site_a, over_bill)))


def test_the_largest_accepted_bill_is_settled_and_posted(site_a: Site) -> None:
    per_line = MAX_LINE_FEN
    lines = [_line(per_line, "1", code=f"L{i}") for i in range(MAX_BILL_FEN // per_line)]
    posted = site_a.cashier.request("POST", "/v1/bills", _bill(site_a, lines))
    assert posted.status_code == 201, posted.text
    assert posted.json()["total"] == MAX_BILL_FEN
    split = site_a.pay_by_card(posted.json())["split"]
    assert split["medfee_sumamt"] == split["fund_pay_sumamt"] + split["psn_part_amt"]


@pytest.mark.parametrize("bad", ["\x00", "\x7f", "\x85", "\ufeff", "\u202e"])
def test_control_characters_in_line_names_are_refused(site_a: Site, bad: str) -> None:
    lines = [_line(name=f"ward{bad}")]
    _refused(site_a.cashier.request("POST", "/v1/bills", _bill(site_a, lines)))


def test_a_bill_of_zero_fen_is_refused(site_a: Site) -> None:
    _refused(site_a.cashier.request("POST", "/v1/bills", _bill(site_a, [_line(0)])))


@pytest.mark.parametrize("day", ["9999-12-31", (TODAY + timedelta(days=3)).isoformat(),
                                 "1999-01-01"])  # fmt: skip
def test_service_dates_far_from_today_are_refused(site_a: Site, day: str) -> None:
    body = _bill(site_a, [_line()], service_date=day)
    _refused(site_a.cashier.request("POST", "/v1/bills", body))


@pytest.mark.parametrize("tier", ["3", True, 3.0, 0, 4])
def test_the_hospital_tier_is_a_whole_number_from_1_to_3(site_a: Site, tier: object) -> None:
    body = _bill(site_a, [_line()], hospital_tier=tier)
    _refused(site_a.cashier.request("POST", "/v1/bills", body))


@pytest.mark.parametrize("category", ["student", "martian"])
def test_people_of_a_category_no_policy_covers_are_refused(site_a: Site, category: str) -> None:
    number = id_number(date(1990, 5, 6), 4_700 + len(category), male=True)
    body = {
        "id_card": {"id_number": number, "name": "New Person", "sex": "M",
                    "birth_date": "1990-05-06"},
        "category": category,
        "insurance_card_number": f"IC{number[-8:]}",
    }  # fmt: skip
    response = site_a.operator.request("POST", "/v1/insured-persons", body)
    _refused(response)
    assert response.json()["code"] == "unknown_category"


def test_two_idempotency_keys_are_a_400(site_a: Site) -> None:
    posted = site_a.post_bill()
    ident = site_a.identify_by_card()
    body = {"identification_id": ident["identification_id"]}
    path = f"/v1/bills/{posted['id']}/payments"
    content = b'{"identification_id":"%s"}' % ident["identification_id"].encode()
    headers = site_a.kiosk.signed_headers("POST", path, content)
    response = site_a.kiosk.http.post(
        path,
        content=content,
        headers=[*headers.items(), ("Content-Type", "application/json"),
                 ("Idempotency-Key", "key-one-1111"), ("Idempotency-Key", "key-two-2222")],
    )  # fmt: skip
    _refused(response, 400)
    assert response.json()["code"] == "duplicate_header"
    assert site_a.kiosk.request("GET", f"/v1/bills/{posted['id']}").json()["status"] == "open"
    assert body  # the same payment with one key still works


@pytest.mark.parametrize("bad", ["\x85", "\ufeff", "\x00"])
def test_other_text_fields_refuse_control_characters_too(site_a: Site, bad: str) -> None:
    hospital = {"name": f"Clinic{bad}", "admin_username": "clinic-admin",
                "admin_password": "clinic-admin-pass-1"}  # fmt: skip
    _refused(site_a.operator.request("POST", "/v1/hospitals", hospital))
    terminal = {"name": f"lobby{bad}", "kind": "kiosk"}
    _refused(site_a.admin.request("POST", "/v1/terminals", terminal))


@pytest.mark.parametrize("nonce", ['LÍç\x00"abcdefgh', "a" * 7 + "\n", "nonce with spaces"])
def test_a_challenge_nonce_the_server_could_not_have_issued_is_422(
    site_a: Site, nonce: str
) -> None:
    """Found by the fuzzer: a NUL byte in the nonce reached PostgreSQL (a 500 there)."""
    frame = {"t": 0.0, "image": base64.b64encode(_PNG).decode()}
    capture = {
        "challenge_nonce": nonce,
        "started_at": datetime.now(UTC).isoformat(),
        "frames": [frame],
    }
    for path in ("/v1/identifications", "/v1/identifications/verify"):
        body: dict[str, Any] = {"capture": capture}
        if path.endswith("verify"):
            body["person_ids"] = [site_a.person["person_id"]]
        _refused(site_a.kiosk.request("POST", path, body))


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, format="PNG")
    return out.getvalue()


_PNG = _png()


def test_two_lines_of_one_code_in_a_bill_are_refused(site_a: Site) -> None:
    """A refund or a pick-up names lines by code: one code is one line of a posted bill."""
    twice = [_line(), _line(unit_price=500)]
    response = site_a.cashier.request("POST", "/v1/bills", _bill(site_a, twice))
    _refused(response)
    assert response.json()["code"] == "duplicate_line_code"
