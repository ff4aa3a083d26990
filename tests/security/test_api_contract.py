"""The API's contract: schema names, health, metrics, terminal kinds and key registration."""

from __future__ import annotations

import re

from facepay.client import TerminalSession
from facepay.demo.world import Site
from facepay.terminal.signing import generate_terminal_key, public_key_pem

NAMED = re.compile(r"^[A-Z][A-Za-z]*(Create|Read|Page)$")


def test_every_body_schema_is_named_create_read_or_page(api) -> None:
    schema = api.http.get("/openapi.json").json()
    names = set(schema["components"]["schemas"])
    assert {n for n in names if not NAMED.match(n)} <= {"Problem", "FieldError", "Role"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    content = response["content"]["application/problem+json"]
                    assert content["schema"]["$ref"].endswith("/Problem"), (method, path)
    assert {"staffBearer", "terminalSignature"} <= set(schema["components"]["securitySchemes"])


def test_healthz_and_metrics(api, site_a: Site) -> None:
    assert api.http.get("/healthz").json()["status"] == "ok"
    site_a.kiosk.request("POST", "/v1/liveness/challenges")
    text = api.http.get("/metrics").text
    assert 'facepay_http_request_duration_seconds_bucket{le="0.005",method="POST",' in text
    assert 'route="/v1/liveness/challenges"' in text
    for family in (
        "facepay_settlements_total",
        "facepay_identification_decisions_total",
        "facepay_liveness_outcomes_total",
    ):
        assert f"# TYPE {family} counter" in text


def test_a_terminal_registered_with_its_own_public_key(api, site_a: Site) -> None:
    key = generate_terminal_key()
    created = site_a.admin.request(
        "POST",
        "/v1/terminals",
        {"name": "own-key", "kind": "window", "public_key": public_key_pem(key)},
    )
    assert created.status_code == 201, created.text
    assert created.json()["private_key_pem"] is None
    assert created.json()["fingerprint"].startswith("SHA256:")
    own = TerminalSession(api.http, created.json()["id"], key)
    assert own.request("POST", "/v1/liveness/challenges").status_code == 201


def test_only_the_hospital_system_terminal_posts_bills(api, site_a: Site) -> None:
    created = site_a.admin.request("POST", "/v1/terminals", {"name": "his-1", "kind": "his"})
    his = TerminalSession.from_pem(
        api.http, created.json()["id"], created.json()["private_key_pem"]
    )
    body = {"external_ref": "HIS-his-1", "id_number": site_a.person["id_number"],
            "visit_type": "outpatient", "hospital_tier": 2, "service_date": "2026-03-01",
            "lines": [{"code": "A1", "name": "consultation", "item_class": "A",
                       "unit_price": 2_500, "quantity": "1"}]}  # fmt: skip
    assert his.request("POST", "/v1/bills", body).status_code == 201
    body["external_ref"] = "HIS-kiosk-1"
    assert site_a.kiosk.request("POST", "/v1/bills", body).status_code == 403
