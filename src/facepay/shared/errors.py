"""facepay's exception tree. Every error a user can cause is a `FacepayError` with a stable code.

FacepayError
├── InvalidInput          bad or unsafe input: corrupt image, wrong type, out of range
│   ├── ImageRejected     an image that cannot be decoded or is too large
│   └── BadRequest        a request that cannot be parsed at all (HTTP 400, not 422)
├── NotFound              a referenced object does not exist (or is not visible to the caller)
├── Conflict              state forbids the request: idempotency clash, already resolved hold
│   └── InsufficientFunds a bounded account would go below zero
├── PolicyError           the insurance policy does not cover the request
├── Unauthorized          not authenticated: missing, bad, stale or replayed credentials
├── Forbidden             authenticated but not allowed
├── ConfigurationError    a setting, the data folder or the key is wrong: the operator's to fix
└── Unavailable           the server cannot serve it now (storage full or down, too busy):
                          nothing was done, retry after `retry_after` seconds (HTTP 503)
"""

from __future__ import annotations


class FacepayError(Exception):
    """Base of every facepay error; `code` is stable and machine-readable."""

    code = "facepay_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(FacepayError):  # noqa: N818 - the tree reads as nouns, like httpx's
    """The caller sent something malformed or unsafe."""

    code = "invalid_input"


class ImageRejected(InvalidInput):
    """An image could not be decoded safely (corrupt, truncated, too large, unsupported)."""

    code = "image_rejected"


class BadRequest(InvalidInput):
    """The request cannot be parsed (not JSON, an unknown search parameter, a malformed
    resource): HTTP 400, where input that parses but breaks a rule is a 422."""

    code = "bad_request"


class NotFound(FacepayError):  # noqa: N818
    """A referenced object does not exist or is not visible to the caller."""

    code = "not_found"


class Conflict(FacepayError):  # noqa: N818
    """The current state forbids the request."""

    code = "conflict"


class InsufficientFunds(Conflict):
    """A bounded account would go below zero."""

    code = "insufficient_funds"


class PolicyError(FacepayError):
    """The insurance policy does not cover what was asked."""

    code = "policy_error"


class Unauthorized(FacepayError):  # noqa: N818
    """The caller could not be authenticated (signature, token or password)."""

    code = "unauthorized"


class Forbidden(FacepayError):  # noqa: N818
    """The caller is known but not allowed to do this."""

    code = "forbidden"


class ConfigurationError(FacepayError):
    """The installation is set up wrongly (a setting, the data folder, the key file)."""

    code = "bad_configuration"


class RateLimited(FacepayError):  # noqa: N818 - the tree reads as nouns
    """Too many requests from one caller; `retry_after` seconds until a token is free."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(FacepayError):  # noqa: N818
    """The server cannot do it now; nothing was done, and the same request may be retried."""

    code = "unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
