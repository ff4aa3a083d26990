"""Error mapping: each facepay error class has one status and a stable problem type."""

from __future__ import annotations

import pytest

from facepay.api.problems import BodyTooLarge, errors, problem_response, status_of
from facepay.services.ports import StorageBusy
from facepay.shared.errors import (
    Conflict,
    Forbidden,
    ImageRejected,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PolicyError,
    RateLimited,
    Unauthorized,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("x"), 422),
        (ImageRejected("x"), 422),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (InsufficientFunds("x"), 409),
        (PolicyError("x"), 422),
        (Unauthorized("x"), 401),
        (Forbidden("x"), 403),
        (RateLimited("x", retry_after=1.0), 429),
        (BodyTooLarge("x"), 413),
        (StorageBusy("x"), 503),
    ],
)
def test_status_by_error_class(error: Exception, status: int) -> None:
    assert status_of(error) == status  # type: ignore[arg-type]


def test_problem_body_and_media_type() -> None:
    response = problem_response(404, "not_found", "no such bill", instance="/v1/bills/x")
    assert response.media_type == "application/problem+json"
    assert b'"type":"urn:facepay:problem:not_found"' in response.body
    assert b'"errors"' not in response.body


def test_documented_errors_reference_the_problem_schema() -> None:
    documented = errors(401, 429)
    assert set(documented) == {401, 429}
    content = documented[401]["content"]["application/problem+json"]
    assert content["schema"]["$ref"] == "#/components/schemas/Problem"
