"""Offline payment: the site's limits, the terminal's sealing key, package and voucher upload,
and the site's review of the vouchers (docs/offline.md)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from facepay.access.rbac import Permission, Principal
from facepay.api.access import may
from facepay.api.deps import StateDep
from facepay.api.pagination import After, Limit, decode_cursor, encode_cursor
from facepay.api.problems import errors
from facepay.api.schemas import Id, PlainText, RequestModel, ResponseModel
from facepay.hospital.offline import OfflineVoucherRecord, SiteOfflineLimits
from facepay.services import offline_limits, offline_review, offline_sync
from facepay.services.offline_package import offline_package
from facepay.services.offline_sync import VoucherResult
from facepay.shared.errors import InvalidInput
from facepay.terminal.protocol import MAX_DOCUMENT_BYTES, OfflineLimits

router = APIRouter(tags=["offline"])
Whole = Annotated[int, Field(strict=True, ge=0)]
B64_DOCUMENT = (MAX_DOCUMENT_BYTES * 4) // 3 + 4
LISTING = "offline-vouchers"


class OfflineLimitsCreate(RequestModel):
    """The site's offline limits (every field; the defaults apply until set)."""

    enabled: bool
    per_payment_fen: Whole
    cumulative_fen: Whole
    per_patient_consecutive: Whole
    per_terminal_consecutive: Whole
    max_upload_age_seconds: Whole
    max_library_age_seconds: Whole
    refresh_seconds: Whole


class OfflineLimitsRead(ResponseModel):
    """The offline limits the site's terminals are sent, and their version."""

    version: str
    updated_at: datetime | None
    enabled: bool
    per_payment_fen: int
    cumulative_fen: int
    per_patient_consecutive: int
    per_terminal_consecutive: int
    max_upload_age_seconds: int
    max_library_age_seconds: int
    refresh_seconds: int


class SealingKeyCreate(RequestModel):
    """The terminal's X25519 public key: 32 raw bytes, standard base64."""

    public_key: Annotated[str, Field(min_length=44, max_length=44)]


class SealingKeyRead(ResponseModel):
    """The registered sealing key."""

    terminal_id: str
    key_id: str


class SignedDocumentCreate(RequestModel):
    """A signed document as terminal/protocol.py makes it."""

    payload: Annotated[str, Field(min_length=1, max_length=B64_DOCUMENT)]
    signature: Annotated[str, Field(min_length=1, max_length=200)]
    key_id: Annotated[str, Field(min_length=1, max_length=64)]


class SignedDocumentRead(ResponseModel):
    """A signed document: base64 canonical JSON, its Ed25519 signature and the key's id."""

    payload: str
    signature: str
    key_id: str


class OfflineLibraryRead(ResponseModel):
    """The sealed offline library: only the terminal's X25519 key opens it."""

    version: str
    sealed: str
    persons: int


class OfflinePackageRead(ResponseModel):
    """Signed limits and deny list, the server's public key and the sealed library."""

    limits: SignedDocumentRead
    server_public_key: str
    library: OfflineLibraryRead | None
    server_time: datetime


class OfflineVoucherBatchCreate(RequestModel):
    """1 to 50 signed vouchers, oldest first."""

    vouchers: Annotated[
        list[SignedDocumentCreate],
        Field(min_length=1, max_length=offline_sync.MAX_VOUCHERS),
    ]


class DifferenceRead(ResponseModel):
    """What the authoritative settlement differs by from the cash collected offline."""

    kind: Literal["none", "arrears", "refund_due"]
    amount_fen: int


class OfflineVoucherResultRead(ResponseModel):
    """What one voucher became: `posted` and `quarantined` are final, `held` waits."""

    voucher_id: str
    counter: int
    status: Literal["posted", "held", "quarantined"]
    replayed: bool
    reason: str | None
    settlement_id: str | None
    difference: DifferenceRead
    person_id: str | None
    message: str


class OfflineVoucherResultPage(ResponseModel):
    """The result of each voucher, in the order sent."""

    results: list[OfflineVoucherResultRead]


class OfflineVoucherRead(ResponseModel):
    """A received voucher and its outcome, for the site's review."""

    id: str
    terminal_id: str
    counter: int
    status: Literal["posted", "held", "quarantined"]
    reason: str | None
    person_id: str
    bill_id: str
    cash_collected_fen: int
    created_at: datetime
    """The terminal's clock when it took the payment."""
    received_at: datetime
    decided_at: datetime | None
    settlement_id: str | None
    difference: DifferenceRead
    message: str
    review: Literal["post", "reject"] | None
    reviewed_by: str | None
    review_note: str | None


class OfflineVoucherPage(ResponseModel):
    """A page of the site's vouchers, oldest received first."""

    items: list[OfflineVoucherRead]
    next: str | None


class OfflineVoucherReviewCreate(RequestModel):
    """Post (settle it now) or reject (refund what was collected) a quarantined voucher."""

    decision: Literal["post", "reject"]
    note: Annotated[PlainText, Field(max_length=300)] = ""


def _limits_read(found: SiteOfflineLimits) -> OfflineLimitsRead:
    return OfflineLimitsRead(
        version=found.version, updated_at=found.updated_at, **found.limits.to_json()
    )


def _result_read(result: VoucherResult) -> OfflineVoucherResultRead:
    return OfflineVoucherResultRead(
        voucher_id=result.voucher_id,
        counter=result.counter,
        status=result.status,
        replayed=result.replayed,
        reason=result.reason,
        settlement_id=result.settlement_id,
        difference=DifferenceRead(kind=result.difference_kind, amount_fen=result.difference_fen),
        person_id=result.person_id,
        message=result.message,
    )


def voucher_read(r: OfflineVoucherRecord) -> OfflineVoucherRead:
    """A stored voucher as the API shows it (also in a patient's balances)."""
    return OfflineVoucherRead(
        id=r.id,
        terminal_id=r.terminal_id,
        counter=r.counter,
        status=r.status,
        reason=r.reason,
        person_id=r.person_id,
        bill_id=r.bill_id,
        cash_collected_fen=r.cash_collected_fen,
        created_at=r.created_at,
        received_at=r.received_at,
        decided_at=r.decided_at,
        settlement_id=r.settlement_id,
        difference=DifferenceRead(kind=r.difference_kind, amount_fen=r.difference_fen),
        message=r.message,
        review=r.review,
        reviewed_by=r.reviewed_by,
        review_note=r.review_note,
    )


@router.get("/v1/offline-limits", response_model=OfflineLimitsRead, responses=errors(401, 403, 429))
def get_limits(
    state: StateDep,
    who: Annotated[Principal, may(Permission.OFFLINE_LIMITS_READ, terminals=False)],
) -> OfflineLimitsRead:
    """The offline limits the caller's site's terminals are sent."""
    return _limits_read(offline_limits.get_limits(ctx=state.services, hospital_id=who.hospital))


@router.put(
    "/v1/offline-limits",
    response_model=OfflineLimitsRead,
    responses=errors(401, 403, 413, 422, 429),
)
def put_limits(
    body: OfflineLimitsCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.OFFLINE_LIMITS_SET, terminals=False)],
) -> OfflineLimitsRead:
    """Set the site's offline limits: per payment (below the face-payment limit), cumulative,
    consecutive payments per patient and terminal, upload and library ages, refresh period."""
    offline_limits.set_limits(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        limits=OfflineLimits(**body.model_dump()),
    )
    return _limits_read(offline_limits.get_limits(ctx=state.services, hospital_id=who.hospital))


@router.put(
    "/v1/terminal/sealing-key",
    response_model=SealingKeyRead,
    responses=errors(401, 403, 413, 422, 429),
)
def put_sealing_key(
    body: SealingKeyCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.OFFLINE_SYNC, staff=False)],
) -> SealingKeyRead:
    """Register the calling terminal's X25519 key: its offline library is sealed to it."""
    try:
        raw = base64.b64decode(body.public_key, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("public_key is not base64", code="bad_sealing_key") from None
    key_id = offline_limits.register_sealing_key(
        ctx=state.services, hospital_id=who.hospital, terminal_id=who.id, public_key=raw
    )
    return SealingKeyRead(terminal_id=who.id, key_id=key_id)


@router.get(
    "/v1/terminal/offline-package",
    response_model=OfflinePackageRead,
    responses=errors(401, 403, 429, 503),
)
def get_package(
    state: StateDep, who: Annotated[Principal, may(Permission.OFFLINE_SYNC, staff=False)]
) -> OfflinePackageRead:
    """The signed offline limits and deny list, and the library sealed to this terminal (null
    until it registers a sealing key)."""
    package = offline_package(ctx=state.services, hospital_id=who.hospital, terminal_id=who.id)
    library = package.library
    return OfflinePackageRead(
        limits=SignedDocumentRead(**package.limits),
        server_public_key=base64.b64encode(package.server_public_key).decode("ascii"),
        library=OfflineLibraryRead(
            version=library.version,
            sealed=base64.b64encode(library.sealed).decode("ascii"),
            persons=library.persons,
        )
        if library
        else None,
        server_time=package.server_time,
    )


@router.post(
    "/v1/terminal/vouchers",
    response_model=OfflineVoucherResultPage,
    responses=errors(401, 403, 409, 413, 422, 429, 503),
)
def post_vouchers(
    body: OfflineVoucherBatchCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.OFFLINE_SYNC, staff=False)],
) -> OfflineVoucherResultPage:
    """Upload offline vouchers of this site's terminals: each is decided once (posted, held
    for an earlier counter, or quarantined for review); sending one again returns its result."""
    results = offline_sync.sync_vouchers(
        ctx=state.services, caller=who, vouchers=[v.model_dump() for v in body.vouchers]
    )
    return OfflineVoucherResultPage(results=[_result_read(r) for r in results])


@router.get(
    "/v1/offline-vouchers",
    response_model=OfflineVoucherPage,
    responses=errors(400, 401, 403, 422, 429),
)
def list_vouchers(
    state: StateDep,
    who: Annotated[Principal, may(Permission.OFFLINE_READ, terminals=False)],
    *,
    status: Annotated[Literal["posted", "held", "quarantined"] | None, Query()] = None,
    terminal: Annotated[Id | None, Query()] = None,
    limit: Limit = 50,
    after: After = None,
) -> OfflineVoucherPage:
    """The caller's site's offline vouchers (of one status, of one terminal), oldest first."""
    items = offline_review.list_vouchers(
        ctx=state.services,
        hospital_id=who.hospital,
        status=status,
        terminal_id=terminal,
        after=decode_cursor(LISTING, after),
        limit=limit,
    )
    last = (items[-1].received_at, items[-1].id) if len(items) == limit else None
    return OfflineVoucherPage(
        items=[voucher_read(r) for r in items], next=encode_cursor(LISTING, last)
    )


@router.get(
    "/v1/offline-vouchers/{voucher_id}",
    response_model=OfflineVoucherRead,
    responses=errors(401, 403, 404, 422, 429),
)
def get_voucher(
    voucher_id: Id,
    state: StateDep,
    who: Annotated[Principal, may(Permission.OFFLINE_READ, terminals=False)],
) -> OfflineVoucherRead:
    """One offline voucher of the caller's site."""
    found = offline_review.get_voucher(
        ctx=state.services, hospital_id=who.hospital, voucher_id=voucher_id
    )
    return voucher_read(found)


@router.post(
    "/v1/offline-vouchers/{voucher_id}/review",
    response_model=OfflineVoucherRead,
    responses=errors(401, 403, 404, 409, 413, 422, 429, 503),
)
def review(
    voucher_id: Id,
    body: OfflineVoucherReviewCreate,
    state: StateDep,
    who: Annotated[Principal, may(Permission.OFFLINE_REVIEW, terminals=False)],
) -> OfflineVoucherRead:
    """Post (settle now, without the chain check) or reject (refund what was collected) a
    quarantined voucher of the caller's site."""
    found = offline_review.review_voucher(
        ctx=state.services,
        hospital_id=who.hospital,
        actor=who.actor,
        voucher_id=voucher_id,
        decision=body.decision,
        note=body.note,
    )
    return voucher_read(found)
