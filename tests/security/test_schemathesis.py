"""Property-based fuzzing of every operation from the OpenAPI schema (schemathesis): no input
produces a 5xx, every error is problem+json, and every documented response schema holds.

Requests carry a cashier's token (an admin's on admin and audit paths) so that generated input
reaches the handlers, not only the authentication layer. Run size: MAX_EXAMPLES per operation;
the total number of requests is printed at the end of the module.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from facepay.demo.world import Site, make_site

MAX_EXAMPLES = 40
ADMIN_PATHS = ("/v1/hospitals", "/v1/terminals", "/v1/staff", "/v1/insured-persons", "/v1/audit")
SENT = {"requests": 0, "by_status": {}}


@pytest.fixture(scope="module")
def fuzz_site(api) -> Site:
    return make_site(api.http, api.operator, serial=4242)


def _check(case, api, site: Site) -> None:
    admin_path = case.operation.path.startswith(ADMIN_PATHS)
    session = site.admin if admin_path else site.cashier
    response = case.call(base_url=api.url, headers=dict(session._auth))
    SENT["requests"] += 1
    SENT["by_status"][response.status_code] = SENT["by_status"].get(response.status_code, 0) + 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or [""]
        assert content_type[0].startswith("application/problem+json")
        body = response.json()
        assert body["type"] == f"urn:facepay:problem:{body['code']}"
        assert body["status"] == response.status_code


def test_no_server_error_on_generated_input(api, fuzz_site: Site, capsys) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case) -> None:
            _check(case, api, fuzz_site)

        fuzz()
    summary = f"schemathesis: {len(operations)} operations, {SENT['requests']} requests"
    with capsys.disabled():
        print(f"\n{summary}, by status {dict(sorted(SENT['by_status'].items()))}")
