"""Errors as `OperationOutcome`: one issue per problem, the facepay code in `details`.

The issue's `code` is from the FHIR issue-type value set, chosen by the HTTP status; the stable
machine-readable facepay code (the same as problem+json's `type` tail elsewhere in the API)
travels as `details.coding` of the code system `.../CodeSystem/facepay-error`, and `diagnostics`
is the English sentence for people. Input values are never echoed back.
"""

from __future__ import annotations

from typing import Any

from facepay.adapters.fhir.common import BASE, emit

CS_ERROR = f"{BASE}/CodeSystem/facepay-error"
ISSUE_BY_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


def operation_outcome(
    status: int,
    code: str,
    diagnostics: str,
    *,
    issues: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The OperationOutcome of an error answered with HTTP `status`; `issues` adds one issue
    per (element path, message) of a resource that failed validation."""
    issue_code = ISSUE_BY_STATUS.get(status, "processing" if status < 500 else "exception")
    details = {"coding": [{"system": CS_ERROR, "code": code}], "text": code}
    found: list[dict[str, Any]] = [
        {"severity": "error", "code": issue_code, "details": details, "diagnostics": diagnostics}
    ]
    for where, message in issues or ():
        issue: dict[str, Any] = {"severity": "error", "code": "structure", "diagnostics": message}
        if where:
            issue["expression"] = [where]
        found.append(issue)
    return emit({"resourceType": "OperationOutcome", "issue": found})
