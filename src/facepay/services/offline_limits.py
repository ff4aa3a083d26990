"""A site's offline limits (what its terminals may do while they cannot reach the server) and
the terminals' sealing keys (the X25519 keys their offline library is sealed to).

Offline there is no second factor, so no offline payment may reach the face-payment limit
(INSURANCE.md §5): the site's `per_payment_fen` stays below it, and the limits a terminal is
sent are clamped below it again should the setting be lowered after the site chose its limits.
"""

from __future__ import annotations

from dataclasses import replace

from facepay.hospital.offline import SiteOfflineLimits
from facepay.hospital.tenants import Hospital
from facepay.services.context import Services
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, require_hospital
from facepay.shared.errors import InvalidInput, NotFound
from facepay.terminal.protocol import OfflineLimits, canonical, digest, key_id, uuid7

SEALING_KEY_BYTES = 32
DEFAULT_VERSION = "default-" + digest(canonical(OfflineLimits().to_json()))[:16]
"""The version of the defaults (changes only if a release changes the defaults)."""


def site_face_limit(ctx: Services, site: Hospital) -> int:
    """Fen from which a face payment at this site needs a second factor: the pharmacy limit at
    a retail pharmacy, the hospital limit elsewhere."""
    s = ctx.settings
    return s.face_pay_limit_pharmacy_fen if site.kind == "pharmacy" else s.face_pay_limit_fen


def site_limits(uow: UnitOfWork, hospital_id: str) -> SiteOfflineLimits:
    """The site's own limits, else the defaults."""
    return uow.offline.limits(hospital_id) or SiteOfflineLimits(OfflineLimits(), DEFAULT_VERSION)


def limits_in_force(ctx: Services, site: Hospital, found: SiteOfflineLimits) -> OfflineLimits:
    """The limits a terminal is sent: the site's, with every payment below the face limit."""
    ceiling = max(site_face_limit(ctx, site) - 1, 0)
    limits = found.limits
    if limits.per_payment_fen > ceiling:
        limits = replace(limits, per_payment_fen=ceiling)
    return limits


def get_limits(*, ctx: Services, hospital_id: str) -> SiteOfflineLimits:
    """The offline limits in force at the caller's site, and their version."""
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        found = site_limits(uow, hospital_id)
        return replace(found, limits=limits_in_force(ctx, site, found))


def set_limits(
    *, ctx: Services, hospital_id: str, actor: str, limits: OfflineLimits
) -> SiteOfflineLimits:
    """Give the site its own offline limits (a new version, sent with the next packages)."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        face_limit = site_face_limit(ctx, site)
        if limits.per_payment_fen >= face_limit:
            raise InvalidInput(
                f"per_payment_fen must stay below the face-payment limit of {face_limit} fen: "
                "offline there is no second factor",
                code="offline_limit_above_face_limit",
            )
        record = SiteOfflineLimits(limits, uuid7(), now, actor)
        uow.offline.set_limits(hospital_id, record)
        audit(
            ctx,
            uow,
            actor=actor,
            action="offline.limits",
            subject=hospital_id,
            details={"hospital": hospital_id, "version": record.version, **limits.to_json()},
        )
        uow.commit()
    return record


def register_sealing_key(
    *, ctx: Services, hospital_id: str, terminal_id: str, public_key: bytes
) -> str:
    """Register the calling terminal's X25519 key (its library is sealed to it from now on);
    returns the key's id."""
    if len(public_key) != SEALING_KEY_BYTES or public_key == bytes(SEALING_KEY_BYTES):
        raise InvalidInput("public_key: the 32 raw bytes of an X25519 key", code="bad_sealing_key")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        terminal = uow.tenants.terminal(terminal_id)
        if terminal is None or terminal.hospital_id != hospital_id:
            raise NotFound("no such terminal")
        uow.offline.set_sealing_key(terminal_id, public_key, at=now)
        audit(
            ctx,
            uow,
            actor=f"terminal:{terminal_id}",
            action="offline.sealing_key",
            subject=terminal_id,
            details={"hospital": hospital_id, "key_id": key_id(public_key)},
        )
        uow.commit()
    return key_id(public_key)
