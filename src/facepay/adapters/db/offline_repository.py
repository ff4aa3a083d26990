"""Offline limits, sealing keys, issued packages, chain positions and vouchers on SQLAlchemy
Core (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.bill_repository import bill_from_row
from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import (
    appointment_schedules,
    appointments,
    bills,
    inpatient_stays,
    offline_issues,
    offline_limits,
    offline_sync_state,
    offline_vouchers,
    terminals,
)
from facepay.hospital.bills import PostedBill
from facepay.hospital.offline import (
    DifferenceKind,
    OfflineIssue,
    OfflineVoucherRecord,
    ReviewDecision,
    SiteOfflineLimits,
    SyncState,
    VoucherStatus,
)
from facepay.services.repositories import PageKey
from facepay.shared.errors import Conflict
from facepay.terminal.protocol import GENESIS, OfflineLimits


def _maybe(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _limits(text: str) -> OfflineLimits:
    return OfflineLimits.from_json(json.loads(text))


def _issue(row: Mapping[Any, Any]) -> OfflineIssue:
    return OfflineIssue(
        terminal_id=row["terminal_id"],
        hospital_id=row["hospital_id"],
        library_version=row["library_version"],
        limits_version=row["limits_version"],
        limits=_limits(row["limits"]),
        templates=dict(json.loads(row["templates"])),
        library_sha256=row["library_sha256"],
        issued_at=utc(row["issued_at"]),
        last_issued_at=utc(row["last_issued_at"]),
    )


def _voucher(row: Mapping[Any, Any]) -> OfflineVoucherRecord:
    return OfflineVoucherRecord(
        id=row["id"],
        terminal_id=row["terminal_id"],
        hospital_id=row["hospital_id"],
        counter=int(row["counter"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        document=row["document"],
        status=cast(VoucherStatus, row["status"]),
        reason=row["reason"],
        person_id=row["person_id"],
        bill_id=row["bill_id"],
        cash_collected_fen=int(row["cash_collected_fen"]),
        created_at=utc(row["created_at"]),
        received_at=utc(row["received_at"]),
        settlement_id=row["settlement_id"],
        difference_kind=cast(DifferenceKind, row["difference_kind"]),
        difference_fen=int(row["difference_fen"]),
        message=row["message"],
        decided_at=_maybe(row["decided_at"]),
        review=cast(ReviewDecision | None, row["review"]),
        reviewed_by=row["reviewed_by"],
        review_note=row["review_note"],
    )


class SqlAlchemyOfflineRepository:
    """The offline tables, and the site's people read from bills, bookings and stays."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def _insert(self) -> Any:
        return postgresql.insert if self._c.dialect.name == "postgresql" else sqlite.insert

    def limits(self, hospital_id: str) -> SiteOfflineLimits | None:
        """The site's row, if any."""
        t = offline_limits
        row = self._c.execute(select(t).where(t.c.hospital_id == hospital_id)).mappings().first()
        if row is None:
            return None
        return SiteOfflineLimits(
            _limits(row["limits"]), row["version"], utc(row["updated_at"]), row["updated_by"]
        )

    def set_limits(self, hospital_id: str, limits: SiteOfflineLimits) -> None:
        """Upsert the row."""
        t = offline_limits
        values = {
            "limits": json.dumps(limits.limits.to_json(), sort_keys=True),
            "version": limits.version,
            "updated_at": limits.updated_at,
            "updated_by": limits.updated_by or "",
        }
        statement = self._insert()(t).values(hospital_id=hospital_id, **values)
        self._c.execute(
            statement.on_conflict_do_update(index_elements=["hospital_id"], set_=values)
        )

    def sealing_key(self, terminal_id: str) -> bytes | None:
        """The terminal's column."""
        t = terminals
        found = self._c.execute(select(t.c.sealing_key).where(t.c.id == terminal_id)).scalar()
        return bytes(found) if found is not None else None

    def set_sealing_key(self, terminal_id: str, public_key: bytes, *, at: datetime) -> None:
        """Overwrite the terminal's columns."""
        t = terminals
        self._c.execute(
            update(t).where(t.c.id == terminal_id).values(sealing_key=public_key, sealing_key_at=at)
        )

    def site_people(self, hospital_id: str, *, day: date, limit: int) -> list[str]:
        """Three small queries (each bounded), merged in order, each person once."""
        b, a, s, st = bills, appointments, appointment_schedules, inpatient_stays
        queries = [
            select(b.c.person_id)
            .where(b.c.hospital_id == hospital_id, b.c.status == "open")
            .order_by(b.c.created_at.desc(), b.c.id),
            select(a.c.person_id)
            .join(s, s.c.id == a.c.schedule_id)
            .where(
                a.c.hospital_id == hospital_id,
                a.c.status != "cancelled",
                s.c.session_date == day,
            )
            .order_by(s.c.starts_at, a.c.id),
            select(st.c.person_id)
            .where(st.c.hospital_id == hospital_id, st.c.status == "admitted")
            .order_by(st.c.admitted_at.desc(), st.c.id),
        ]
        found: dict[str, None] = {}
        for query in queries:
            for person_id in self._c.execute(query.limit(limit)).scalars():
                found.setdefault(person_id)
        return list(found)[:limit]

    def open_bills(self, hospital_id: str, person_id: str, *, limit: int) -> list[PostedBill]:
        """Newest first."""
        b = bills
        query = (
            select(b)
            .where(b.c.hospital_id == hospital_id, b.c.person_id == person_id, b.c.status == "open")
            .order_by(b.c.created_at.desc(), b.c.id)
            .limit(limit)
        )
        return [bill_from_row(row) for row in self._c.execute(query).mappings()]

    def record_issue(self, issue: OfflineIssue) -> bool:
        """Insert, or move `last_issued_at` of the same package."""
        t = offline_issues
        key = (
            t.c.terminal_id == issue.terminal_id,
            t.c.library_version == issue.library_version,
            t.c.limits_version == issue.limits_version,
        )
        seen = self._c.execute(select(t.c.terminal_id).where(*key)).first() is not None
        values = {
            "terminal_id": issue.terminal_id,
            "library_version": issue.library_version,
            "limits_version": issue.limits_version,
            "hospital_id": issue.hospital_id,
            "limits": json.dumps(issue.limits.to_json(), sort_keys=True),
            "templates": json.dumps(issue.templates, sort_keys=True),
            "library_sha256": issue.library_sha256,
            "issued_at": issue.issued_at,
            "last_issued_at": issue.last_issued_at,
        }
        statement = self._insert()(t).values(**values)
        self._c.execute(
            statement.on_conflict_do_update(
                index_elements=["terminal_id", "library_version", "limits_version"],
                set_={"last_issued_at": issue.last_issued_at},
            )
        )
        return not seen

    def issues(self, terminal_id: str, library_version: str) -> list[OfflineIssue]:
        """By terminal and library."""
        t = offline_issues
        query = (
            select(t)
            .where(t.c.terminal_id == terminal_id, t.c.library_version == library_version)
            .order_by(t.c.limits_version)
        )
        return [_issue(row) for row in self._c.execute(query).mappings()]

    def lock_sync(self, terminal_id: str) -> SyncState:
        """Insert the row if absent (waiting for a concurrent insert to commit), then FOR UPDATE."""
        t = offline_sync_state
        values = {"terminal_id": terminal_id, "last_counter": 0, "last_hash": GENESIS}
        self._c.execute(self._insert()(t).values(**values).on_conflict_do_nothing())
        query = select(t).where(t.c.terminal_id == terminal_id).with_for_update()
        row = self._c.execute(query).mappings().one()
        return SyncState(terminal_id, int(row["last_counter"]), row["last_hash"])

    def save_sync(self, state: SyncState) -> None:
        """Overwrite."""
        t = offline_sync_state
        self._c.execute(
            update(t)
            .where(t.c.terminal_id == state.terminal_id)
            .values(last_counter=state.last_counter, last_hash=state.last_hash)
        )

    def voucher(self, voucher_id: str) -> OfflineVoucherRecord | None:
        """By id."""
        t = offline_vouchers
        row = self._c.execute(select(t).where(t.c.id == voucher_id)).mappings().first()
        return _voucher(row) if row else None

    def live_with_counter(self, terminal_id: str, counter: int) -> OfflineVoucherRecord | None:
        """Not quarantined, with this counter."""
        t = offline_vouchers
        query = select(t).where(
            t.c.terminal_id == terminal_id, t.c.counter == counter, t.c.status != "quarantined"
        )
        row = self._c.execute(query).mappings().first()
        return _voucher(row) if row else None

    def add_voucher(self, record: OfflineVoucherRecord) -> None:
        """Insert; the id and the live (terminal, counter) are unique."""
        try:
            with self._c.begin_nested():
                self._c.execute(insert(offline_vouchers).values(**record.__dict__))
        except IntegrityError:
            raise Conflict("this voucher was received already", code="voucher_exists") from None

    def save_voucher(self, record: OfflineVoucherRecord) -> None:
        """Overwrite."""
        t = offline_vouchers
        self._c.execute(update(t).where(t.c.id == record.id).values(**record.__dict__))

    def vouchers(
        self,
        hospital_id: str,
        *,
        status: str | None,
        terminal_id: str | None,
        after: PageKey | None,
        limit: int,
    ) -> list[OfflineVoucherRecord]:
        """A page in (received_at, id) order."""
        t = offline_vouchers
        query = select(t).where(t.c.hospital_id == hospital_id)
        if status is not None:
            query = query.where(t.c.status == status)
        if terminal_id is not None:
            query = query.where(t.c.terminal_id == terminal_id)
        if after is not None:
            at, last = after
            query = query.where(
                or_(t.c.received_at > at, and_(t.c.received_at == at, t.c.id > last))
            )
        query = query.order_by(t.c.received_at, t.c.id).limit(limit)
        return [_voucher(row) for row in self._c.execute(query).mappings()]

    def differences_of(
        self, hospital_id: str, person_id: str, *, limit: int
    ) -> list[OfflineVoucherRecord]:
        """Newest received first (index ix_offline_vouchers_person)."""
        t = offline_vouchers
        query = (
            select(t)
            .where(
                t.c.hospital_id == hospital_id,
                t.c.person_id == person_id,
                t.c.difference_kind != "none",
            )
            .order_by(t.c.received_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        return [_voucher(row) for row in self._c.execute(query).mappings()]
