"""Tenants: the region, its sites (hospitals, pharmacies, service centres), their terminals
(Ed25519 public keys) and staff users (argon2id hashes); and where a face template may match.

A region is the insurance bureau that runs the platform; each site belongs to one. A template
carries a scope: `region:<id>` when the person consented to paying by face anywhere in the
region, `site:<id>` when only at the enrolling site. Identification at a site searches the scopes
that include it (`match_scopes`): its own and its region's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from facepay.shared.errors import InvalidInput

SiteKind = Literal["hospital", "pharmacy", "service_centre"]
SITE_KINDS: tuple[SiteKind, ...] = ("hospital", "pharmacy", "service_centre")
"""A hospital, a designated retail pharmacy, or the bureau's own service centre (an enrolment
and help desk, where consents default to the whole region)."""
Tier = Literal["primary", "secondary", "tertiary"]
TIERS: tuple[Tier, ...] = ("primary", "secondary", "tertiary")
"""A hospital's grade (一级, 二级, 三级): what insurance policies key reimbursement on."""
Reach = Literal["region", "site"]
REACHES: tuple[Reach, ...] = ("region", "site")
DEFAULT_REGION = "rgn-default"
"""The region of an installation made before regions existed, and of a new one (migration 0011)."""


@dataclass(frozen=True)
class Region:
    """The insurance bureau's platform: the sites where an enrolled person may pay."""

    id: str
    name: str
    created_at: datetime


TERMINAL_KINDS = ("kiosk", "window", "his", "ward", "exam_room", "lis_pacs")
"""What a terminal is: a patient-facing kiosk, a cashier's window camera, or the hospital
information system (which also posts bills); facepay.access.rbac.TerminalKind has the same
values."""


@dataclass(frozen=True)
class Hospital:
    """A site of the region (historically always a hospital, hence the name): a hospital, a
    pharmacy or a service centre. Every bill, terminal, staff user and identification belongs to
    one, and so does every template's enrolment."""

    id: str
    name: str
    created_at: datetime
    region_id: str = DEFAULT_REGION
    kind: SiteKind = "hospital"
    tier: Tier | None = None

    def __post_init__(self) -> None:
        if self.kind not in SITE_KINDS:
            raise InvalidInput(f"site kind: one of {', '.join(SITE_KINDS)}", code="bad_site_kind")
        if self.tier is not None and (self.tier not in TIERS or self.kind != "hospital"):
            raise InvalidInput(
                f"tier: one of {', '.join(TIERS)}, for a hospital only", code="bad_site_kind"
            )

    @property
    def default_reach(self) -> Reach:
        """The reach of a consent that names none: the whole region at the bureau's service
        centres, this site only elsewhere (PIPL: no wider than the person asked for)."""
        return "region" if self.kind == "service_centre" else "site"


def site_scope(site_id: str) -> str:
    """The gallery scope of templates matched at one site only."""
    return f"site:{site_id}"


def region_scope(region_id: str) -> str:
    """The gallery scope of templates matched at every site of a region."""
    return f"region:{region_id}"


def template_scope(site: Hospital, reach: Reach) -> str:
    """The scope of a template enrolled at `site` with a consent of `reach`."""
    return region_scope(site.region_id) if reach == "region" else site_scope(site.id)


def match_scopes(site: Hospital) -> frozenset[str]:
    """The scopes whose templates may match at `site`: its own and its region's."""
    return frozenset({site_scope(site.id), region_scope(site.region_id)})


def region_wide_scopes(region_id: str, site_ids: Iterable[str]) -> frozenset[str]:
    """Every scope of a region: its own and each of its sites' (the emergency desk's search,
    facepay.hospital.emergency; nowhere else does a site match another site's templates)."""
    return frozenset({region_scope(region_id), *(site_scope(site) for site in site_ids)})


@dataclass(frozen=True)
class TerminalRecord:
    """A registered terminal of one of `TERMINAL_KINDS`; `active` False once revoked."""

    id: str
    hospital_id: str
    name: str
    public_key: bytes
    created_at: datetime
    active: bool = True
    kind: str = "kiosk"


@dataclass(frozen=True)
class StaffUser:
    """A staff login: role name (facepay.access.rbac.Role values) and argon2id hash; a platform
    operator (the insurance bureau's staff) has no hospital."""

    id: str
    hospital_id: str | None
    username: str
    password_hash: str
    role: str
    created_at: datetime
    active: bool = True
