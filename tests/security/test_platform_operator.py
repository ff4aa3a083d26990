"""Only the platform operator (the insurance bureau's staff) registers hospitals and loads the
insured-person registry with its opening balances; a hospital admin manages only their own staff
and terminals. Before this split, any hospital admin could mint personal-account money out of
the insurance pool and squat (or probe) another person's ID number."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from tests.security.conftest import Api

from facepay.demo.people import id_number
from facepay.demo.scenario import ADMIN_PASSWORD, STAFF_PASSWORD
from facepay.demo.world import Site, register_person

HOSPITAL = {"name": "Rogue Hospital", "admin_username": "rogue-admin",
            "admin_password": ADMIN_PASSWORD}  # fmt: skip


def _person_body(number: str, fen: int) -> dict[str, object]:
    return {
        "id_card": {"id_number": number, "name": "Rich Person", "sex": "M",
                    "birth_date": "1970-01-01"},
        "category": "employee_active",
        "insurance_card_number": f"IC{number[-8:]}",
        "personal_account_fen": fen,
    }  # fmt: skip


def test_hospital_admin_cannot_register_hospitals(site_a: Site) -> None:
    response = site_a.admin.request("POST", "/v1/hospitals", HOSPITAL)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_hospital_admin_cannot_mint_personal_account_money(site_a: Site) -> None:
    from datetime import date  # noqa: PLC0415

    body = _person_body(id_number(date(1970, 1, 1), 4_321, male=True), 10**12)
    response = site_a.admin.request("POST", "/v1/insured-persons", body)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_hospital_admin_cannot_probe_or_squat_a_registered_id_number(site_a: Site) -> None:
    body = _person_body(site_a.person["id_number"], 0)
    response = site_a.admin.request("POST", "/v1/insured-persons", body)
    # 403 before any lookup: a 409 `already_registered` would tell them the number exists.
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_hospital_admin_cannot_create_a_platform_operator(site_a: Site) -> None:
    staff = {"username": "rogue-operator", "password": STAFF_PASSWORD, "role": "platform_operator"}
    response = site_a.admin.request("POST", "/v1/staff", staff)
    assert response.status_code == 403, response.text


def test_platform_operator_registers_hospitals_and_people(api: Api) -> None:
    response = api.operator.request("POST", "/v1/hospitals", {**HOSPITAL, "admin_username":
                                    "bureau-made-admin"})  # fmt: skip
    assert response.status_code == 201, response.text
    person = register_person(api.operator, serial=4_322, fund_fen=150_000)
    assert person["person_id"].startswith("psn_")


def test_platform_operator_acts_for_no_hospital(api: Api, site_a: Site) -> None:
    bill = site_a.post_bill()
    for method, path, body in (
        ("GET", f"/v1/bills/{bill['id']}", None),
        ("POST", "/v1/terminals", {"name": "bureau-kiosk"}),
        ("POST", "/v1/liveness/challenges", None),
        ("POST", "/v1/identifications/by-credentials",
         {"id_number": site_a.person["id_number"], "insurance_card_number": site_a.person["card"]}),
    ):  # fmt: skip
        response = api.operator.request(method, path, body)
        assert response.status_code == 403, (path, response.text)


def test_login_tells_a_platform_operator_from_hospital_staff(api: Api, site_a: Site) -> None:
    token = api.http.post("/v1/auth/login", json={"username": "operator",
                          "password": "operator-pass-2026"}).json()  # fmt: skip
    assert (token["role"], token["hospital_id"]) == ("platform_operator", None)
    assert site_a.hospital_id


def test_a_hospital_whose_admin_name_is_taken_is_not_stored(api: Api) -> None:
    with api.services.uow() as uow:
        before = uow.audit.last()
    taken = {**HOSPITAL, "name": "Orphan Hospital", "admin_username": "operator"}
    response = api.operator.request("POST", "/v1/hospitals", taken)
    assert (response.status_code, response.json()["code"]) == (409, "duplicate_username")
    with api.services.uow() as uow:
        assert uow.audit.last() == before  # no hospital.register entry either
    engine = create_engine(api.services.settings.resolved_database_url())
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM hospitals")).scalars().all()
    engine.dispose()
    assert "Orphan Hospital" not in names
