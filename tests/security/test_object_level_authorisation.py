"""OWASP API1:2023 broken object-level authorisation: a terminal or staff member of hospital B
cannot read, pay, refund or erase anything of hospital A; the answer is 404, as for an id that
does not exist, so B learns nothing about A's objects."""

from __future__ import annotations

import secrets

import pytest

from facepay.demo.world import Site


@pytest.fixture(scope="module")
def paid_bill_a(site_a: Site) -> dict:
    return site_a.pay_by_card()["bill"]


def _not_found(response) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["type"] == "urn:facepay:problem:not_found"


def test_terminal_of_b_cannot_read_a_bill_of_a(site_a: Site, site_b: Site) -> None:
    bill = site_a.post_bill()
    assert site_a.kiosk.request("GET", f"/v1/bills/{bill['id']}").status_code == 200
    _not_found(site_b.kiosk.request("GET", f"/v1/bills/{bill['id']}"))
    _not_found(site_b.cashier.request("GET", f"/v1/bills/{bill['id']}"))


def test_terminal_of_b_cannot_presettle_or_pay_a_bill_of_a(site_a: Site, site_b: Site) -> None:
    bill = site_a.post_bill()
    _not_found(site_b.kiosk.request("POST", f"/v1/bills/{bill['id']}/presettlement"))
    ident_b = site_b.identify_by_card()
    _not_found(
        site_b.kiosk.request(
            "POST",
            f"/v1/bills/{bill['id']}/payments",
            {"identification_id": ident_b["identification_id"]},
            headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
        )
    )
    assert site_a.kiosk.request("GET", f"/v1/bills/{bill['id']}").json()["status"] == "open"


def test_identification_of_a_cannot_pay_at_b(site_a: Site, site_b: Site) -> None:
    ident_a = site_a.identify_by_card()
    bill_b = site_b.post_bill()
    response = site_b.kiosk.request(
        "POST",
        f"/v1/bills/{bill_b['id']}/payments",
        {"identification_id": ident_a["identification_id"]},
        headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
    )
    assert response.status_code in (403, 404), response.text
    assert site_b.kiosk.request("GET", f"/v1/bills/{bill_b['id']}").json()["status"] == "open"


def test_identification_of_a_cannot_be_resolved_at_b(site_a: Site, site_b: Site) -> None:
    ident_a = site_a.identify_by_card()
    path = f"/v1/identifications/{ident_a['identification_id']}/second-factor"
    _not_found(site_b.kiosk.request("POST", path, {"last4": "1234"}))


def test_admin_of_b_cannot_refund_a_paid_bill_of_a(
    site_a: Site, site_b: Site, paid_bill_a: dict
) -> None:
    _not_found(
        site_b.admin.request(
            "POST",
            f"/v1/bills/{paid_bill_a['id']}/refunds",
            {},
            headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
        )
    )
    assert site_a.auditor.request("GET", f"/v1/bills/{paid_bill_a['id']}").json()["status"] == (
        "paid"
    )


def test_terminal_of_b_cannot_revoke_or_staff_of_b_erase_in_a(site_a: Site, site_b: Site) -> None:
    response = site_b.admin.request("DELETE", f"/v1/terminals/{site_a.kiosk.terminal_id}")
    assert response.status_code == 404
    assert site_a.kiosk.request("POST", "/v1/liveness/challenges").status_code == 201
    erase = site_b.cashier.request(
        "POST", f"/v1/patients/{site_a.person['person_id']}/consent-withdrawals", {}
    )
    # The person is in the shared insurance registry but has nothing at B: nothing is erased at A.
    assert erase.status_code in (201, 404)
    if erase.status_code == 201:
        assert erase.json()["templates_deleted"] == 0


def test_bill_of_b_cannot_be_posted_into_a_by_naming_a(site_a: Site, site_b: Site) -> None:
    body = {
        "external_ref": "HIS-x",
        "id_number": site_b.person["id_number"],
        "visit_type": "inpatient",
        "hospital_tier": 3,
        "service_date": "2026-03-01",
        "lines": [{"code": "A1", "name": "x", "item_class": "A", "unit_price": 100,
                   "quantity": "1"}],
        "hospital_id": site_a.hospital_id,
    }  # fmt: skip
    response = site_b.cashier.request("POST", "/v1/bills", body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
