"""OWASP API5:2023 broken function-level authorisation: a kiosk cannot call staff or admin
functions, an auditor only reads, a cashier refunds only up to the limit, nobody reads templates."""

from __future__ import annotations

import secrets

from facepay.demo.world import Site


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{secrets.token_hex(8)}"}


def _paid(site: Site) -> dict:
    return site.pay_by_card()["bill"]


def test_kiosk_cannot_refund(site_a: Site) -> None:
    bill = _paid(site_a)
    response = site_a.kiosk.request("POST", f"/v1/bills/{bill['id']}/refunds", {}, headers=_key())
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    assert site_a.kiosk.request("GET", f"/v1/bills/{bill['id']}").json()["status"] == "paid"


def test_kiosk_cannot_call_staff_only_endpoints(site_a: Site) -> None:
    for method, path, body in (
        ("POST", "/v1/terminals", {"name": "rogue"}),
        ("POST", "/v1/staff", {"username": "rogue", "password": "x" * 12, "role": "admin"}),
        ("GET", "/v1/audit/verification", None),
        ("GET", "/v1/audit/entries", None),
    ):
        response = site_a.kiosk.request(method, path, body)
        assert (response.status_code, response.json()["code"]) == (401, "no_token"), path


def test_kiosk_cannot_post_bills_or_withdraw_consent(site_a: Site) -> None:
    bill = {"external_ref": "HIS-k", "id_number": site_a.person["id_number"],
            "visit_type": "inpatient", "hospital_tier": 3, "service_date": "2026-03-01",
            "lines": [{"code": "A1", "name": "x", "item_class": "A", "unit_price": 1,
                       "quantity": "1"}]}  # fmt: skip
    assert site_a.kiosk.request("POST", "/v1/bills", bill).status_code == 403
    path = f"/v1/patients/{site_a.person['person_id']}/consent-withdrawals"
    assert site_a.kiosk.request("POST", path, {}).status_code == 403


def test_auditor_reads_but_never_writes(site_a: Site) -> None:
    bill = _paid(site_a)
    assert site_a.auditor.request("GET", f"/v1/bills/{bill['id']}").status_code == 200
    assert site_a.auditor.request("GET", "/v1/audit/verification").status_code == 200
    writes = (
        ("POST", f"/v1/bills/{bill['id']}/refunds", {}),
        ("POST", "/v1/terminals", {"name": "x"}),
        ("POST", "/v1/liveness/challenges", None),
        ("POST", f"/v1/patients/{site_a.person['person_id']}/consent-withdrawals", {}),
    )
    for method, path, body in writes:
        response = site_a.auditor.request(method, path, body, headers=_key())
        assert response.status_code == 403, path


def test_cashier_refund_above_the_limit_needs_an_admin(site_a: Site) -> None:
    bill = _paid(site_a)  # about 5,900 yuan; the cashier limit is 500 yuan
    response = site_a.cashier.request("POST", f"/v1/bills/{bill['id']}/refunds", {}, headers=_key())
    assert (response.status_code, response.json()["code"]) == (403, "refund_limit_exceeded")
    small = site_a.cashier.request(
        "POST", f"/v1/bills/{bill['id']}/refunds", {"line_codes": ["C01"]}, headers=_key()
    )
    assert small.status_code == 201, small.text
    assert small.json()["refunded_fen"] == 20_000


def test_cashier_cannot_manage_terminals_staff_or_the_registry(site_a: Site) -> None:
    for path, body in (
        ("/v1/terminals", {"name": "x"}),
        ("/v1/staff", {"username": "someone", "password": "x" * 12, "role": "admin"}),
        ("/v1/hospitals", {"name": "x", "admin_username": "abc", "admin_password": "x" * 12}),
    ):
        response = site_a.cashier.request("POST", path, body)
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


# The one way templates leave the server: the offline library, sealed to the terminal's own
# X25519 key (facepay.terminal.protocol.seal), so that only that terminal can open it.
SEALED_FOR_A_TERMINAL = {"OfflineLibraryRead", "OfflinePackageRead"}
TERMINAL_PATHS = {"/v1/terminal/offline-package", "/v1/terminal/sealing-key"}


def test_no_endpoint_exposes_templates_or_embeddings(api) -> None:
    schema = api.http.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert set(components) >= SEALED_FOR_A_TERMINAL
    assert set(schema["paths"]) >= TERMINAL_PATHS
    others = {
        **schema,
        "paths": {p: v for p, v in schema["paths"].items() if p not in TERMINAL_PATHS},
        "components": {
            "schemas": {n: v for n, v in components.items() if n not in SEALED_FOR_A_TERMINAL}
        },
    }
    text = str(others).lower()
    for word in ("embedding", "descriptor", "sealed"):
        assert word not in text
    fields = {
        name
        for component in schema["components"]["schemas"].values()
        for name in component.get("properties", {})
    }
    assert not {f for f in fields if "template" in f} - {"template_id", "templates_deleted"}
