"""The offline package a terminal fetches every `refresh_seconds`: signed limits, deny list and
the sealed offline library (terminal/protocol.py describes the documents).

Minimum necessary (PIPL): the library holds only the persons the site may need offline today
(an open bill there, a booking of a session today there, or an open stay there) who have a live
consent reaching the site and usable templates of the current model; at most
`offline_library_max_persons`. Templates leave the server only inside the seal, to the one
terminal whose X25519 key was registered; the audit entry names the versions and how many
persons, never a template.

The deny list names the persons among those the site needs who must not pay offline even from an
older library still on the terminal: consent withdrawn at or for this site, a template of theirs
quarantined, or arrears owed (their `arrears:` account is read anyway with their standing, so
this costs nothing more).

Each new (library version, limits version) issued to a terminal is stored with the templates the
library held, so that a voucher is later checked against what was really issued. The library
version is a digest of its content: a refresh that finds nothing changed issues the same version
again, and only moves the stored issue's `last_issued_at` (and is not audited again).
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.hospital.offline import OfflineIssue
from facepay.hospital.tenants import Hospital, match_scopes
from facepay.identity.records import InsuredPerson, TemplateRecord
from facepay.insurance.documents import bill_json, policy_json
from facepay.ledger.accounts import AccountKind, account_id
from facepay.services.consent import reaches
from facepay.services.context import Services
from facepay.services.offline_limits import limits_in_force, site_face_limit, site_limits
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit, mask_name, require_hospital
from facepay.shared.errors import ConfigurationError, NotFound
from facepay.terminal.protocol import (
    LIBRARY_KIND,
    LIMITS_KIND,
    canonical,
    digest,
    ed25519_public_raw,
    library_context,
    score_units,
    seal,
    sign_document,
)

MAX_BILLS_PER_PERSON = 20


@dataclass(frozen=True)
class OfflineLibrary:
    """The sealed library: its version, the sealed bytes and how many persons it holds."""

    version: str
    sealed: bytes
    persons: int


@dataclass(frozen=True)
class OfflinePackage:
    """What `GET /v1/terminal/offline-package` answers."""

    limits: dict[str, str]
    server_public_key: bytes
    library: OfflineLibrary | None
    server_time: datetime


@dataclass(frozen=True)
class _Person:
    entry: dict[str, Any]
    templates: dict[str, str]


def signing_key(ctx: Services) -> Ed25519PrivateKey:
    """The offline signing key of this installation."""
    if ctx.offline_key is None:
        raise ConfigurationError(
            "this server has no offline signing key", code="no_offline_signing_key"
        )
    return ctx.offline_key()


def offline_package(*, ctx: Services, hospital_id: str, terminal_id: str) -> OfflinePackage:
    """The signed limits and, when the terminal registered a sealing key, its sealed library."""
    key = signing_key(ctx)
    now = ctx.clock.now()
    with ctx.uow() as uow:
        site = require_hospital(uow, hospital_id)
        terminal = uow.tenants.terminal(terminal_id)
        if terminal is None or terminal.hospital_id != hospital_id:
            raise NotFound("no such terminal")
        found = site_limits(uow, hospital_id)
        limits = limits_in_force(ctx, site, found)
        sealing = uow.offline.sealing_key(terminal_id)
        wanted = ctx.settings.offline_library_max_persons
        persons: list[_Person] = []
        deny: list[str] = []
        if limits.enabled and sealing is not None and wanted > 0:
            persons, deny = _people(ctx, uow, site, now, wanted)
        library: OfflineLibrary | None = None
        sha: str | None = None
        if sealing is not None and limits.enabled:
            library = _seal_library(
                ctx, site=site, terminal_id=terminal_id, persons=persons, sealing=sealing, now=now
            )
            sha = digest(library.sealed)
        payload = {
            "kind": LIMITS_KIND,
            "version": found.version,
            "terminal_id": terminal_id,
            "hospital_id": hospital_id,
            "issued_at": now.isoformat(),
            "limits": limits.to_json(),
            "deny": sorted(deny),
            "library_version": library.version if library else None,
            "library_sha256": sha,
            "face": {
                "model_version": ctx.gallery.model_version,
                "match_threshold": score_units(ctx.settings.identify_threshold),
                "margin": score_units(ctx.settings.identify_margin),
            },
            "face_pay_limit_fen": site_face_limit(ctx, site),
        }
        if library is not None and sha is not None:
            templates = {t: p.entry["person_id"] for p in persons for t in p.templates}
            issue = OfflineIssue(
                terminal_id=terminal_id,
                hospital_id=hospital_id,
                library_version=library.version,
                limits_version=found.version,
                limits=limits,
                templates=templates,
                library_sha256=sha,
                issued_at=now,
                last_issued_at=now,
            )
            if uow.offline.record_issue(issue):
                audit(
                    ctx,
                    uow,
                    actor=f"terminal:{terminal_id}",
                    action="offline.package",
                    subject=terminal_id,
                    details={
                        "hospital": hospital_id,
                        "library_version": library.version,
                        "limits_version": found.version,
                        "persons": library.persons,
                        "issued_count": len(templates),
                        "persons_sha256": digest(
                            canonical({"persons": sorted(p.entry["person_id"] for p in persons)})
                        ),
                        "deny": len(deny),
                    },
                )
        uow.commit()
    return OfflinePackage(sign_document(key, payload), ed25519_public_raw(key), library, now)


def _people(
    ctx: Services, uow: UnitOfWork, site: Hospital, now: datetime, wanted: int
) -> tuple[list[_Person], list[str]]:
    """The library's persons and the deny list, from the persons the site needs today."""
    local = now + timedelta(minutes=ctx.settings.hospital_utc_offset_minutes)
    ids = sorted(uow.offline.site_people(site.id, day=local.date(), limit=wanted))
    registry = uow.people.get_many(ids)
    # Standing is locked in the order every use case takes it: accumulators rows, then accounts.
    year = local.year
    accumulators = {pid: uow.accumulators.lock(pid, year) for pid in ids if pid in registry}
    wanted_accounts = [
        account_id(kind, pid)
        for pid in accumulators
        for kind in (AccountKind.PERSONAL_ACCOUNT, AccountKind.ARREARS)
    ]
    accounts = uow.ledger.lock_accounts(wanted_accounts)
    scopes = match_scopes(site)
    persons: list[_Person] = []
    deny: list[str] = []
    for pid, totals in accumulators.items():
        person = registry[pid]
        templates = [t for t in uow.templates.of_person(pid) if t.scope in scopes]
        consented = any(reaches(uow, c, site) for c in uow.consents.active_of_person(pid))
        arrears = accounts.get(account_id(AccountKind.ARREARS, pid))
        withdrawn = not consented and bool(uow.consents.erasures(pid, site.id))
        quarantined = any(not t.usable for t in templates)
        if withdrawn or quarantined or (arrears is not None and arrears.balance > 0):
            deny.append(pid)
            continue
        usable = [t for t in templates if t.usable and t.model_version == ctx.gallery.model_version]
        if not consented or not usable:
            continue
        personal = accounts.get(account_id(AccountKind.PERSONAL_ACCOUNT, pid))
        entry = {
            "person_id": pid,
            "display_name": mask_name(person.name),
            "category": person.category,
            "medical_assistance": person.medical_assistance,
            "templates": [_template(ctx, t) for t in usable],
            "accumulators": asdict(totals),
            "account_available_fen": max(personal.available, 0) if personal else 0,
            "bills": _bills(uow, site, person),
        }
        persons.append(_Person(entry, {t.id: pid for t in usable}))
    return persons, deny


def _template(ctx: Services, record: TemplateRecord) -> dict[str, str]:
    data = ctx.sealer.open(record.sealed, template_id=record.id, model_version=record.model_version)
    return {
        "template_id": record.id,
        "model_version": record.model_version,
        "embedding": base64.b64encode(data).decode("ascii"),
    }


def _bills(uow: UnitOfWork, site: Hospital, person: InsuredPerson) -> list[dict[str, Any]]:
    found = uow.offline.open_bills(site.id, person.id, limit=MAX_BILLS_PER_PERSON)
    return [{"bill_id": b.id, "total_fen": b.total, "bill": bill_json(b.bill)} for b in found]


def _seal_library(
    ctx: Services,
    *,
    site: Hospital,
    terminal_id: str,
    persons: list[_Person],
    sealing: bytes,
    now: datetime,
) -> OfflineLibrary:
    """Seal the library to the terminal; its version is a digest of what it holds."""
    policies = [{"id": p.id, "document": policy_json(p)} for p in ctx.policies]
    content = {
        "terminal_id": terminal_id,
        "hospital_id": site.id,
        "policies": policies,
        "persons": [p.entry for p in persons],
    }
    version = "lib-" + digest(canonical(_plain(content)))[:32]
    plaintext = canonical(
        _plain({"kind": LIBRARY_KIND, "version": version, "issued_at": now.isoformat(), **content})
    )
    sealed = seal(sealing, plaintext, context=library_context(terminal_id, version))
    return OfflineLibrary(version, sealed, len(persons))


def _plain(document: dict[str, Any]) -> dict[str, Any]:
    # Policies and bills carry decimal strings already; this only normalises tuples to lists.
    loaded: dict[str, Any] = json.loads(json.dumps(document))
    return loaded
