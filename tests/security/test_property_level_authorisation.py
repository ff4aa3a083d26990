"""OWASP API3:2023 broken object property-level authorisation: a client cannot set amounts,
fund accounts, hospital or patient ids it does not own. Extra fields are refused (422) and what
is charged always comes from the stored bill."""

from __future__ import annotations

import secrets

import pytest

from facepay.demo.world import Site, register_person


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{secrets.token_hex(8)}"}


@pytest.mark.parametrize(
    "extra",
    [
        {"amount": 1},
        {"medfee_sumamt": 1},
        {"psn_cash_pay": 0},
        {"person_id": "psn_other"},
        {"hospital_id": "hsp_other"},
        {"fund_account": "fund_pool:hifp"},
    ],
)
def test_payment_refuses_extra_fields(site_a: Site, extra: dict) -> None:
    bill = site_a.post_bill()
    ident = site_a.identify_by_card()
    body = {"identification_id": ident["identification_id"], **extra}
    response = site_a.kiosk.request(
        "POST", f"/v1/bills/{bill['id']}/payments", body, headers=_key()
    )
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")
    assert site_a.kiosk.request("GET", f"/v1/bills/{bill['id']}").json()["status"] == "open"


def test_amounts_come_from_the_stored_bill(site_a: Site) -> None:
    bill = site_a.post_bill(serial=3)
    presettled = site_a.kiosk.request("POST", f"/v1/bills/{bill['id']}/presettlement").json()
    ident = site_a.identify_by_card()
    paid = site_a.kiosk.request(
        "POST",
        f"/v1/bills/{bill['id']}/payments",
        {"identification_id": ident["identification_id"]},
        headers=_key(),
    ).json()
    split = paid["split"]
    assert split["medfee_sumamt"] == bill["total"] == sum(line["amount"] for line in bill["lines"])
    assert split == presettled["split"]
    assert split["fund_pay_sumamt"] + split["acct_pay"] + split["psn_cash_pay"] == bill["total"]


def test_patient_of_the_bill_is_the_identified_one(site_a: Site) -> None:
    other = register_person(site_a.operator, serial=9_001, name="Other Person")
    bill = site_a.post_bill()  # for site_a.person
    ident_other = site_a.identify_by_card(other)
    response = site_a.kiosk.request(
        "POST",
        f"/v1/bills/{bill['id']}/payments",
        {"identification_id": ident_other["identification_id"]},
        headers=_key(),
    )
    assert response.status_code in (403, 409, 422), response.text
    assert site_a.kiosk.request("GET", f"/v1/bills/{bill['id']}").json()["status"] == "open"


def test_kiosk_cannot_fund_accounts_or_register_people(site_a: Site) -> None:
    body = {"id_card": {"id_number": "11010119900307001X", "name": "x", "sex": "M",
                        "birth_date": "1990-03-07"},
            "category": "employee_active", "insurance_card_number": "IC0000",
            "personal_account_fen": 10**9}  # fmt: skip
    assert site_a.kiosk.request("POST", "/v1/insured-persons", body).status_code == 401
    assert site_a.cashier.request("POST", "/v1/insured-persons", body).status_code == 403


def test_bill_lines_refuse_settlement_fields(site_a: Site) -> None:
    body = {"external_ref": "HIS-p", "id_number": site_a.person["id_number"],
            "visit_type": "inpatient", "hospital_tier": 3, "service_date": "2026-03-01",
            "lines": [{"code": "A1", "name": "x", "item_class": "A", "unit_price": 100,
                       "quantity": "1", "fund_pay": 100}]}  # fmt: skip
    response = site_a.cashier.request("POST", "/v1/bills", body)
    assert (response.status_code, response.json()["code"]) == (422, "validation_error")


def test_idempotency_key_is_required_and_bound_to_the_payment(site_a: Site) -> None:
    bill = site_a.post_bill()
    ident = site_a.identify_by_card()
    path = f"/v1/bills/{bill['id']}/payments"
    body = {"identification_id": ident["identification_id"]}
    assert site_a.kiosk.request("POST", path, body).status_code == 422
    key = _key()
    first = site_a.kiosk.request("POST", path, body, headers=key)
    again = site_a.kiosk.request("POST", path, body, headers=key)
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["replayed"] is True
    assert again.json()["settlement_id"] == first.json()["settlement_id"]
