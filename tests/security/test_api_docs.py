"""The API's own documentation on a hospital LAN: /docs and /redoc load Swagger UI and ReDoc from
the server itself (no CDN), every operation says who may call it (made from the route's access
dependency, so it is the policy), and the documentation routes have their own metrics labels."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest

from facepay.access.rbac import ROLE_GRANTS, TERMINAL_KIND_GRANTS, Permission, Role, TerminalKind

WHO = "Who may call:"


class _Assets(HTMLParser):
    """Every URL a page loads: script sources, stylesheets and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


def _assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(("page", "kinds"), [("/docs", {"js", "css"}), ("/redoc", {"js"})])
def test_docs_load_every_asset_from_the_server_itself(api, page: str, kinds: set[str]) -> None:
    response = api.http.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"(https?:)?//[A-Za-z0-9.-]+", html.replace("window.location", "")), html
    urls = _assets(html)
    assert {url.rsplit(".", 1)[-1] for url in urls} >= kinds
    for url in urls:
        assert url.startswith("/"), url  # a path on this server, never another host
        asset = api.http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1_000, url
    assert "/openapi.json" in html
    assert api.http.get("/openapi.json").status_code == 200


def test_swagger_ui_asks_no_online_validator(api) -> None:
    assert '"validatorUrl": null' in api.http.get("/docs").text


def _operations(api) -> dict[tuple[str, str], dict]:
    schema = api.http.get("/openapi.json").json()
    return {
        (method.upper(), path): operation
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }


def test_every_v1_operation_says_who_may_call_it(api) -> None:
    operations = _operations(api)
    v1 = {key: op for key, op in operations.items() if key[1].startswith("/v1/")}
    assert len(v1) >= 25
    for key, operation in v1.items():
        description = operation.get("description", "")
        assert description.count(WHO) == 1, key
        last = description.rsplit("\n\n", 1)[-1]
        assert last.startswith(WHO), key
        assert last.endswith("."), key
        assert len(description) > len(last), key  # the route's own text comes first
    public = {key for key, op in v1.items() if "no credentials are needed" in op["description"]}
    assert public == {("POST", "/v1/auth/login")}


def _expected(permissions: set[Permission], *, terminals: bool, refund_limit: int | None) -> str:
    """The sentence, built straight from the grant tables (all of `permissions` needed)."""
    roles = [r for r in Role if permissions <= ROLE_GRANTS[r]]
    hospital = [r.value for r in roles if not r.is_platform]
    if refund_limit is not None:
        hospital = [f"{r} (refunds up to {refund_limit} fen)" if r == "cashier" else r
                    for r in hospital]  # fmt: skip
    parts = []
    if hospital:
        names = (
            hospital[0] if len(hospital) == 1 else f"{', '.join(hospital[:-1])} or {hospital[-1]}"
        )
        parts.append(f"staff with role {names} of the caller's hospital")
    if Role.PLATFORM_OPERATOR in roles:
        parts.append("a platform operator (staff with role platform_operator, of no hospital)")
    kinds = [k.value for k in TerminalKind if permissions <= TERMINAL_KIND_GRANTS[k]]
    if terminals and kinds:
        names = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"
        parts.append(f"a signed terminal of kind {names} of the caller's hospital")
    return f"{WHO} {'; '.join(parts)}."


@pytest.mark.parametrize(
    ("method", "path", "permissions", "terminals"),
    [
        ("POST", "/v1/bills", {Permission.BILL_CREATE}, True),
        ("DELETE", "/v1/terminals/{terminal_id}", {Permission.TERMINAL_REVOKE}, False),
        ("POST", "/v1/enrolments", {Permission.PATIENT_ENROL, Permission.CONSENT_RECORD}, True),
        ("GET", "/v1/bills/{bill_id}", {Permission.BILL_READ}, True),
        ("POST", "/v1/insured-persons", {Permission.REGISTRY_MANAGE}, False),
    ],
)
def test_who_may_call_is_the_rbac_policy(
    api, method: str, path: str, permissions: set[Permission], terminals: bool
) -> None:
    description = _operations(api)[(method, path)]["description"]
    assert description.endswith(_expected(permissions, terminals=terminals, refund_limit=None))


def test_the_refund_sentence_carries_the_configured_cashier_limit(api) -> None:
    description = _operations(api)[("POST", "/v1/bills/{bill_id}/refunds")]["description"]
    limit = api.services.settings.cashier_refund_limit_fen
    expected = _expected({Permission.PAYMENT_REFUND}, terminals=True, refund_limit=limit)
    assert description.endswith(expected)
    assert "kiosk" not in expected  # no terminal refunds


def test_the_sentence_is_what_the_server_enforces(api, site_a) -> None:
    """POST /v1/bills names the `his` kind and no other: a kiosk is refused, an his passes."""
    description = _operations(api)[("POST", "/v1/bills")]["description"]
    assert "of kind his of" in description
    bill = {"external_ref": "HIS-docs", "id_number": site_a.person["id_number"],
            "visit_type": "outpatient", "hospital_tier": 2, "service_date": "2026-03-01",
            "lines": [{"code": "A1", "name": "x", "item_class": "A", "unit_price": 100,
                       "quantity": "1"}]}  # fmt: skip
    refused = site_a.kiosk.request("POST", "/v1/bills", bill)
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")


def _count(text: str, route: str) -> float:
    pattern = (
        r'^facepay_http_request_duration_seconds_count\{method="GET",route="'
        + re.escape(route)
        + r'",status="200"\} (\S+)$'
    )
    return sum(float(m) for m in re.findall(pattern, text, flags=re.MULTILINE))


def test_docs_and_openapi_have_their_own_metrics_labels(api) -> None:
    before = api.http.get("/metrics").text
    for path in ("/docs", "/openapi.json", "/redoc", "/docs/assets/swagger-ui.css"):
        assert api.http.get(path).status_code == 200
    routes = ("/docs", "/openapi.json", "/redoc", "/docs/assets/{path}")
    # The latency middleware observes a request once its response has gone out: the client can
    # ask for /metrics a moment before the last observation lands.
    deadline = time.monotonic() + 5
    while True:
        after = api.http.get("/metrics").text
        done = all(_count(after, r) >= _count(before, r) + 1 for r in routes)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for route in routes:
        assert _count(after, route) == _count(before, route) + 1, route
    assert _count(after, "unmatched") == _count(before, "unmatched")
