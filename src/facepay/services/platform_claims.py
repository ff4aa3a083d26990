"""What the use cases tell a remote settlement platform (facepay.insurance.platform): the claim
of a bill, who acts, and the undo when booking the platform's split fails."""

from __future__ import annotations

import hashlib

from facepay.identity.records import InsuredPerson
from facepay.insurance.model import Bill
from facepay.insurance.platform import Claim, Operator, RemoteSettlement
from facepay.services.context import Services
from facepay.services.ports import UnitOfWork
from facepay.shared.errors import FacepayError

MAX_VISIT_REF = 30
"""`ipt_otp_no` is s(30)."""


def operator_of(uow: UnitOfWork, actor: str) -> Operator:
    """The caller as the platform's `opter`: a kiosk acting on its own is a self-service
    terminal; a window, the HIS or a member of staff is an operator. The id is the actor's
    own (30 characters: a kind letter and 29 of its 32 hex digits)."""
    kind, _, ident = actor.partition(":")
    short = ident.partition("_")[2] or ident
    if kind == "terminal":
        terminal = uow.tenants.terminal(ident)
        name = terminal.name if terminal else "terminal"
        self_service = terminal is not None and terminal.kind == "kiosk"
        return Operator("self_service" if self_service else "operator", f"T{short}"[:30], name)
    staff = uow.tenants.staff_by_id(ident) if kind == "staff" else None
    return Operator("operator", f"S{short}"[:30], staff.username if staff else kind or "facepay")


def visit_ref(external_ref: str) -> str:
    """The hospital's visit number as `ipt_otp_no`: itself when short enough, else a digest
    (two long references never share one)."""
    if len(external_ref) <= MAX_VISIT_REF and external_ref.isascii():
        return external_ref
    return "FP" + hashlib.sha256(external_ref.encode()).hexdigest()[: MAX_VISIT_REF - 2]


def claim_of(
    *,
    posted_ref: str,
    hospital_id: str,
    bill: Bill,
    person: InsuredPerson,
    operator: Operator,
    key: str,
) -> Claim:
    """The claim of `bill` (a posted bill's, what is left of it after a refund, or a stay's),
    `posted_ref` being the hospital's number of the visit."""
    return Claim(
        key=key,
        hospital_id=hospital_id,
        person_id=person.id,
        id_number=person.id_number,
        person_name=person.name,
        category=person.category,
        bill=bill,
        visit_ref=visit_ref(posted_ref),
        operator=operator,
    )


def undo_unbooked(
    ctx: Services, *, claim: Claim, remote: RemoteSettlement, error: BaseException
) -> None:
    """Booking the platform's split failed: cancel it on the platform, unless the booking did
    commit after all (a commit whose answer was lost), then it stands on both sides."""
    with ctx.uow() as uow:
        booked = uow.settlements.by_key(claim.key)
    if booked is not None:
        return
    try:
        ctx.platform.cancel(
            hospital_id=claim.hospital_id,
            key=claim.key,
            cancel_key=f"{claim.key}:unbooked:{remote.platform_ref}",
            operator=claim.operator,
        )
    except FacepayError as failed:
        # The booking's own error is what the caller must see; the platform's is attached.
        error.add_note(f"and cancelling on the platform failed: {failed}")
