"""Property-based fuzzing of every operation from the OpenAPI schema (schemathesis): no input
produces a 5xx, every error is problem+json, and every documented response schema holds.

Requests carry the token of a staff role the operation grants (its "Who may call" sentence names
them; the cashier when it names none of the site's roles) so that generated input reaches the
handlers, not only the access check. Run size: MAX_EXAMPLES per operation on SQLite, and the
first PG_EXAMPLES of the same (derandomised) examples on PostgreSQL, which is there for what
only PostgreSQL refuses (a NUL byte in a text, an integer past 64 bits); the total number of
requests is printed at the end of the module.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from facepay.client import StaffSession
from facepay.demo.world import Site, make_site

MAX_EXAMPLES = 10
PG_EXAMPLES = 5
ROLES = ("cashier", "admin", "auditor", "nurse", "doctor", "pharmacist")
SENT = {"requests": 0, "by_status": {}}


@pytest.fixture(scope="module")
def fuzz_site(api) -> Site:
    return make_site(api.http, api.operator, serial=4242)


@pytest.fixture(scope="module")
def sessions(fuzz_site: Site) -> dict[str, StaffSession]:
    """A logged-in member of each hospital role at the fuzzed site."""
    made = {"cashier": fuzz_site.cashier, "admin": fuzz_site.admin, "auditor": fuzz_site.auditor}
    for role in ("nurse", "doctor", "pharmacist"):
        made[role] = fuzz_site.add_staff(role)[0]
    return made


def session_for(operation, sessions: dict[str, StaffSession]) -> StaffSession:
    """The first of the site's roles the operation's "Who may call" sentence grants. An event
    stream (a pharmacy window's) stays open by design, so it is called as a role it refuses:
    its own tests (tests/unit/api/test_push.py, tests/flows/test_orders.py) cover the stream."""
    ok = operation.definition.raw.get("responses", {}).get("200", {})
    if "text/event-stream" in ok.get("content", {}):
        return sessions["cashier"]
    sentence = (operation.definition.raw.get("description") or "").split("Who may call:")[-1]
    staff = sentence.split(";")[0]
    for role in ROLES:
        if re.search(rf"\b{role}\b", staff):
            return sessions[role]
    return sessions["cashier"]


def _check(case, api, session: StaffSession) -> None:
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


def fuzz_operation(operation, api, session: StaffSession, examples: int) -> None:
    """Send `examples` generated requests to one operation as `session`."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case) -> None:
        _check(case, api, session)

    fuzz()


def test_no_server_error_on_generated_input(api, sessions: dict[str, StaffSession], capsys) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    examples = PG_EXAMPLES if api.services.settings.database_url else MAX_EXAMPLES
    for operation in operations:
        fuzz_operation(operation, api, session_for(operation, sessions), examples)
    summary = f"schemathesis: {len(operations)} operations, {SENT['requests']} requests"
    with capsys.disabled():
        print(f"\n{summary}, by status {dict(sorted(SENT['by_status'].items()))}")
