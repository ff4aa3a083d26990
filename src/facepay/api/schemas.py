"""Request and response bodies shared by several routers.

Request models forbid unknown fields (a client cannot slip in `amount`, `fund_account` or
`hospital_id` and have it silently used); response models are named `XRead` / `XPage`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from facepay.access.rbac import Role
from facepay.insurance.model import MAX_LINE_FEN

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Fen = Annotated[int, Field(ge=0, le=10**12, description="Integer fen (1 yuan = 100 fen)")]
LineFen = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=MAX_LINE_FEN,
        description=f"Integer fen, at most {MAX_LINE_FEN} (100 million yuan)",
    ),
]


def _printable(value: object) -> object:
    """Text without control codes: no NUL, DEL, C1 controls, BOM or direction overrides.
    Checked before whitespace is stripped: NEL (U+0085) is whitespace to `str.strip`."""
    if isinstance(value, str) and not value.isprintable():
        raise ValueError("must be printable text (no control or formatting characters)")
    return value


PlainText = Annotated[str, BeforeValidator(_printable)]
"""A text field a person reads: refused if it holds a control or format character."""
Base64Image = Annotated[
    str,
    # Not stripped: stripping would copy every frame's text (megabytes) for nothing.
    StringConstraints(strip_whitespace=False),
    Field(
        min_length=16,
        max_length=12_000_000,
        description="A JPEG, PNG, WEBP or BMP image in standard base64",
    ),
]


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are refused (422), strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    """Base of every response body."""

    model_config = ConfigDict(from_attributes=True)


class LoginCreate(RequestModel):
    """Staff credentials."""

    username: Annotated[PlainText, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class TokenRead(ResponseModel):
    """A short-lived staff bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_at: datetime
    role: Role
    hospital_id: str | None
    """None for a platform operator, who belongs to no hospital."""


class FrameCreate(RequestModel):
    """One camera frame of a capture."""

    t: Annotated[float, Field(ge=0, le=120, description="Seconds since the capture started")]
    image: Base64Image


class CaptureCreate(RequestModel):
    """A short video answering a liveness challenge."""

    challenge_nonce: (
        Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")] | None
    ) = None
    """The nonce of POST /v1/liveness/challenges, as issued (URL-safe base64)."""
    started_at: datetime
    frames: Annotated[list[FrameCreate], Field(min_length=1, max_length=600)]


class ChallengeStepRead(ResponseModel):
    """One action the patient is asked to do, and when (seconds since the capture starts)."""

    action: str
    prompt: str
    start: float
    end: float


class ChallengeRead(ResponseModel):
    """A liveness challenge; its nonce answers one capture only."""

    nonce: str
    issued_at: datetime
    expires_at: datetime
    steps: list[ChallengeStepRead]


class LivenessRead(ResponseModel):
    """The liveness verdict on a capture."""

    decision: Literal["live", "spoof", "retry"]
    message: str
    reason: str
    attack: str | None = None


class AuditVerificationRead(ResponseModel):
    """Result of re-hashing audit chains: which were checked, and the first broken one."""

    ok: bool
    entries_checked: int
    chains: list[str]
    chain: str | None = None
    first_bad_seq: int | None = None
    problem: str | None = None
    detail: str = ""


class HealthRead(ResponseModel):
    """Liveness of the API process and its database."""

    status: Literal["ok"]
    version: str
