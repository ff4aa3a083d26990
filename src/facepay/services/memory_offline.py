"""In-memory `OfflineRepository` (services.repositories): the fake for use-case tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

from facepay.hospital.bills import PostedBill
from facepay.hospital.offline import (
    OfflineIssue,
    OfflineVoucherRecord,
    SiteOfflineLimits,
    SyncState,
)
from facepay.services.repositories import PageKey
from facepay.shared.errors import Conflict

SitePeople = Callable[[str, date, int], list[str]]
OpenBills = Callable[[str, str], list[PostedBill]]


class InMemoryOfflineRepository:
    """Limits, keys, issues, vouchers and chain positions in dicts. `people` and `bills` answer
    `site_people` and `open_bills` from the store's bills, bookings and stays (plain functions,
    so that the unit of work's snapshot copies leave them pointing at the live store)."""

    def __init__(self, people: SitePeople | None = None, bills: OpenBills | None = None) -> None:
        self.people = people
        self.bills = bills
        self.site_limits: dict[str, SiteOfflineLimits] = {}
        self.keys: dict[str, bytes] = {}
        self.issue_rows: dict[tuple[str, str, str], OfflineIssue] = {}
        self.states: dict[str, SyncState] = {}
        self.rows: dict[str, OfflineVoucherRecord] = {}

    def limits(self, hospital_id: str) -> SiteOfflineLimits | None:
        """The site's own limits."""
        return self.site_limits.get(hospital_id)

    def set_limits(self, hospital_id: str, limits: SiteOfflineLimits) -> None:
        """Replace."""
        self.site_limits[hospital_id] = limits

    def sealing_key(self, terminal_id: str) -> bytes | None:
        """The registered key."""
        return self.keys.get(terminal_id)

    def set_sealing_key(self, terminal_id: str, public_key: bytes, *, at: datetime) -> None:
        """Replace."""
        self.keys[terminal_id] = public_key

    def site_people(self, hospital_id: str, *, day: date, limit: int) -> list[str]:
        """From the store's other repositories."""
        return self.people(hospital_id, day, limit) if self.people else []

    def open_bills(self, hospital_id: str, person_id: str, *, limit: int) -> list[PostedBill]:
        """From the store's bills."""
        return self.bills(hospital_id, person_id)[:limit] if self.bills else []

    def record_issue(self, issue: OfflineIssue) -> bool:
        """Store, or move `last_issued_at`."""
        key = (issue.terminal_id, issue.library_version, issue.limits_version)
        found = self.issue_rows.get(key)
        self.issue_rows[key] = (
            replace(found, last_issued_at=issue.last_issued_at) if found else issue
        )
        return found is None

    def issues(self, terminal_id: str, library_version: str) -> list[OfflineIssue]:
        """Of this terminal and library."""
        return [
            issue
            for (terminal, library, _), issue in sorted(self.issue_rows.items())
            if (terminal, library) == (terminal_id, library_version)
        ]

    def lock_sync(self, terminal_id: str) -> SyncState:
        """The row (the store lock already serialises writers)."""
        return self.states.setdefault(terminal_id, SyncState(terminal_id))

    def save_sync(self, state: SyncState) -> None:
        """Overwrite."""
        self.states[state.terminal_id] = state

    def voucher(self, voucher_id: str) -> OfflineVoucherRecord | None:
        """By id."""
        return self.rows.get(voucher_id)

    def live_with_counter(self, terminal_id: str, counter: int) -> OfflineVoucherRecord | None:
        """Not quarantined, with this counter."""
        return next(
            (
                r
                for r in self.rows.values()
                if (r.terminal_id, r.counter) == (terminal_id, counter)
                and r.status != "quarantined"
            ),
            None,
        )

    def add_voucher(self, record: OfflineVoucherRecord) -> None:
        """Store (unique id and live counter, as the database enforces)."""
        taken = record.status != "quarantined" and self.live_with_counter(
            record.terminal_id, record.counter
        )
        if record.id in self.rows or taken:
            raise Conflict("this voucher was received already", code="voucher_exists")
        self.rows[record.id] = record

    def save_voucher(self, record: OfflineVoucherRecord) -> None:
        """Overwrite."""
        self.rows[record.id] = record

    def vouchers(
        self,
        hospital_id: str,
        *,
        status: str | None,
        terminal_id: str | None,
        after: PageKey | None,
        limit: int,
    ) -> list[OfflineVoucherRecord]:
        """A page, in (received_at, id) order."""
        rows = sorted(
            (
                r
                for r in self.rows.values()
                if r.hospital_id == hospital_id
                and (status is None or r.status == status)
                and (terminal_id is None or r.terminal_id == terminal_id)
            ),
            key=lambda r: (r.received_at, r.id),
        )
        return [r for r in rows if after is None or (r.received_at, r.id) > after][:limit]

    def differences_of(
        self, hospital_id: str, person_id: str, *, limit: int
    ) -> list[OfflineVoucherRecord]:
        """Newest received first."""
        rows = [
            r
            for r in self.rows.values()
            if r.hospital_id == hospital_id
            and r.person_id == person_id
            and r.difference_kind != "none"
        ]
        rows.sort(key=lambda r: (r.received_at, r.id), reverse=True)
        return rows[:limit]
