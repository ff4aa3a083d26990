"""Sealed templates that cannot be opened: a wrong key is the operator's to fix, a damaged row is
quarantined.

The database records the id of the key its templates are sealed with (`installation`,
`template_key_id`). A start with another key is refused in one sentence (`ConfigurationError`)
before any row is judged - every row would fail, and none of them is damaged. A database from
before the id was recorded has its first readable template vouch for the key instead.

While `facepay admin rotate-key` runs, the templates are sealed under two keys: the database
records the key being retired too (`template_key_retiring`), and a start whose keyring lacks it
is refused as well - opening the rows without it would quarantine every row not yet re-sealed.

With the right key, a row that fails authentication was damaged or altered. It is quarantined -
kept, never matched - with an alert for its hospital, an entry in that hospital's audit chain and
a log line, and the service goes on. `facepay admin check` lists the quarantined rows; the
patient enrols again, which replaces the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import structlog

from facepay.gallery.ports import Sealer
from facepay.identity.records import TemplateRecord
from facepay.services.admin import TEMPLATE_KEY_ID
from facepay.services.context import Storage
from facepay.services.ports import UnitOfWork
from facepay.services.support import audit
from facepay.shared.errors import ConfigurationError, InvalidInput
from facepay.shared.ids import new_id
from facepay.supervision.alerts import TEMPLATE_QUARANTINED, Alert

KEY_ID = TEMPLATE_KEY_ID
RETIRING_KEY_ID = "template_key_retiring"
"""The installation fact naming the key a rotation is retiring ('' or absent: none)."""
_log = structlog.get_logger("facepay.templates")


@dataclass(frozen=True)
class OpenedTemplates:
    """The usable templates of one model, opened: ids, scopes and the embedding matrix."""

    ids: list[str]
    scopes: list[str]
    rows: list[np.ndarray]
    quarantined: list[str] = field(default_factory=list)
    """Rows quarantined while opening them (this call)."""


@dataclass(frozen=True)
class QuarantinedTemplate:
    """A template kept out of matching, and why."""

    template_id: str
    hospital_id: str
    person_id: str
    since: str
    reason: str


@dataclass(frozen=True)
class TemplateCheck:
    """`check_templates`: how many rows there are, and every quarantined one."""

    checked: int
    """Rows of the model: those that opened and those quarantined."""
    quarantined: list[QuarantinedTemplate]
    key_id: str


@runtime_checkable
class Keyring(Protocol):
    """A sealer that opens with several keys (`facepay.adapters.crypto.TemplateKeyring`)."""

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key that opens records, the current one first."""
        ...


def key_ids(sealer: Sealer) -> tuple[str, ...]:
    """The ids of every key `sealer` opens records with."""
    return sealer.key_ids if isinstance(sealer, Keyring) else (sealer.key_id,)


def require_template_key(*, ctx: Storage, sealer: Sealer, model_version: str) -> None:
    """Refuse a key other than the one the templates are sealed with (or, during a rotation,
    a keyring without the key being retired); record the key if the database names none."""
    held = key_ids(sealer)
    with ctx.uow() as uow:
        recorded = uow.tenants.installation_value(KEY_ID)
        retiring = uow.tenants.installation_value(RETIRING_KEY_ID) or None
        if retiring is not None and retiring not in held:
            where = ctx.settings.resolved_template_key_file()
            raise ConfigurationError(
                f"a template key rotation is under way and the key it retires (id {retiring}) "
                f"is not at {where}.previous: restore that file (mode 0600), then run "
                "`facepay admin rotate-key` again to finish the rotation",
                code="wrong_template_key",
            )
        if recorded is not None:
            if recorded not in held:
                raise _wrong_key(ctx, sealer, f"the templates were sealed with key {recorded}")
            return
        failed = _failing_before_one_opens(uow, sealer, model_version)
        if failed:
            raise _wrong_key(ctx, sealer, f"none of the {failed} stored templates opens")
        uow.tenants.set_installation_value(KEY_ID, sealer.key_id, at=ctx.clock.now())
        uow.commit()


def open_templates(*, ctx: Storage, sealer: Sealer, model_version: str) -> OpenedTemplates:
    """Every usable template of `model_version`, opened; a row that fails is quarantined.
    Call `require_template_key` first: with a wrong key every row would be quarantined."""
    with ctx.uow() as uow:
        records = list(_usable(uow, model_version))
    return open_records(ctx=ctx, sealer=sealer, records=records)


def open_records(
    *, ctx: Storage, sealer: Sealer, records: Iterable[TemplateRecord]
) -> OpenedTemplates:
    """Open template rows read already (outside any unit of work: a row that fails is
    quarantined in a transaction of its own)."""
    opened = OpenedTemplates([], [], [])
    failed: list[tuple[TemplateRecord, str]] = []
    for record in records:
        try:
            plain = sealer.open(
                record.sealed, template_id=record.id, model_version=record.model_version
            )
        except InvalidInput as error:
            failed.append((record, error.code))
            continue
        opened.ids.append(record.id)
        opened.scopes.append(record.scope)
        opened.rows.append(np.frombuffer(plain, dtype="<f4"))
    for record, reason in failed:
        _quarantine(ctx, record, reason)
        opened.quarantined.append(record.id)
    return opened


def check_templates(*, ctx: Storage, sealer: Sealer, model_version: str) -> TemplateCheck:
    """Open every template with the key (quarantining any that fails) and list the quarantined
    ones: what `facepay admin check` reports."""
    require_template_key(ctx=ctx, sealer=sealer, model_version=model_version)
    opened = open_templates(ctx=ctx, sealer=sealer, model_version=model_version)
    with ctx.uow() as uow:
        quarantined = [
            QuarantinedTemplate(
                template_id=r.id,
                hospital_id=r.hospital_id,
                person_id=r.person_id,
                since=r.quarantined_at.isoformat() if r.quarantined_at else "",
                reason=r.quarantine_reason or "",
            )
            for r in uow.templates.iterate(model_version)
            if not r.usable
        ]
    return TemplateCheck(len(opened.ids) + len(quarantined), quarantined, sealer.key_id)


def _usable(uow: UnitOfWork, model_version: str) -> Iterator[TemplateRecord]:
    return (r for r in uow.templates.iterate(model_version) if r.usable)


def _failing_before_one_opens(uow: UnitOfWork, sealer: Sealer, model_version: str) -> int:
    """0 if some template opens with `sealer` (or there is none), else how many there are."""
    failed = 0
    for record in _usable(uow, model_version):
        try:
            sealer.open(record.sealed, template_id=record.id, model_version=model_version)
        except InvalidInput:
            failed += 1
        else:
            return 0
    return failed


def _wrong_key(ctx: Storage, sealer: Sealer, why: str) -> ConfigurationError:
    where = ctx.settings.resolved_template_key_file()
    return ConfigurationError(
        f"the template key {where} (id {sealer.key_id}) is not the key of this database: {why}; "
        "restore the right key file, or set FACEPAY_TEMPLATE_KEY_FILE to it",
        code="wrong_template_key",
    )


def _quarantine(ctx: Storage, record: TemplateRecord, reason: str) -> None:
    now = ctx.clock.now()
    with ctx.uow() as uow:
        uow.templates.quarantine(record.id, at=now, reason=reason)
        uow.alerts.add(
            Alert(
                id=new_id("alr"),
                hospital_id=record.hospital_id,
                kind=TEMPLATE_QUARANTINED,
                subject=record.person_id,
                details={"template_id": record.id, "reason": reason},
                created_at=now,
            )
        )
        audit(
            ctx,
            uow,
            actor="system:templates",
            action="template.quarantine",
            subject=record.id,
            details={"hospital": record.hospital_id, "person": record.person_id, "reason": reason},
        )
        uow.commit()
    _log.warning(
        "template_quarantined",
        template_id=record.id,
        hospital=record.hospital_id,
        reason=reason,
    )
