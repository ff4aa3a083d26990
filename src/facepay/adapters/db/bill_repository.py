"""Bills, alerts and tenants (hospitals, terminals, staff, seen nonces) on SQLAlchemy Core."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    Table,
    and_,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import (
    alerts,
    bills,
    hospitals,
    installation,
    regions,
    seen_nonces,
    staff_users,
    terminals,
)
from facepay.adapters.interchange import parse_bill
from facepay.hospital.bills import LineOrder, PostedBill
from facepay.hospital.tenants import Hospital, Region, StaffUser, TerminalRecord
from facepay.insurance.documents import line_json
from facepay.insurance.model import Bill, BillLine
from facepay.services.repositories import PageKey, RecordQuery
from facepay.shared.errors import Conflict
from facepay.supervision.alerts import Alert


def line_items(lines: tuple[BillLine, ...]) -> list[dict[str, Any]]:
    """Bill lines in the interchange format (amounts in fen, quantities and ratios as decimal
    strings, optional fields left out when unset)."""
    return [line_json(line) for line in lines]


def bill_document(bill: Bill) -> str:
    """The bill in the interchange format of INSURANCE.md (what `parse_bill` reads)."""
    body = {
        "visit_type": bill.visit_type,
        "hospital_tier": bill.hospital_tier,
        "service_date": bill.service_date.isoformat(),
        "lines": line_items(bill.lines),
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def line_orders_document(orders: tuple[LineOrder, ...]) -> str | None:
    """The bill's order data as stored in `bills.line_orders` (NULL when it has none)."""
    if not orders:
        return None
    return json.dumps([asdict(order) for order in orders], ensure_ascii=False, sort_keys=True)


def parse_line_orders(document: str | None) -> tuple[LineOrder, ...]:
    """The order data of a stored bill (none for NULL: a bill posted without it)."""
    if not document:
        return ()
    return tuple(LineOrder(**item) for item in json.loads(document))


def _bill(row: RowMapping) -> PostedBill:
    return PostedBill(
        id=row["id"],
        hospital_id=row["hospital_id"],
        person_id=row["person_id"],
        external_ref=row["external_ref"],
        bill=parse_bill(json.loads(row["document"])),
        point_of_sale="pharmacy" if row["point_of_sale"] == "pharmacy" else "hospital",
        status=row["status"],
        created_at=utc(row["created_at"]),
        settlement_id=row["settlement_id"],
        paid_at=utc(row["paid_at"]) if row["paid_at"] else None,
        orders=parse_line_orders(row["line_orders"]),
    )


def keyset(
    query: Select[Any], search: RecordQuery, at: ColumnElement[Any], key: ColumnElement[Any]
) -> Select[Any]:
    """`query` bounded by the search's time range and page key, ordered by (at, key), limited:
    ascending after `after`, descending before `before` (the caller reverses that page)."""
    if search.since is not None:
        query = query.where(at >= search.since)
    if search.until is not None:
        query = query.where(at < search.until)
    if search.after is not None:
        when, last = search.after
        query = query.where(or_(at > when, and_(at == when, key > last)))
    if search.before is not None:
        when, last = search.before
        query = query.where(or_(at < when, and_(at == when, key < last)))
        return query.order_by(at.desc(), key.desc()).limit(search.limit)
    return query.order_by(at, key).limit(search.limit)


def bill_from_row(row: RowMapping) -> PostedBill:
    """A posted bill from its `bills` row."""
    return _bill(row)


class SqlAlchemyBillRepository:
    """Posted bills."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def _values(self, bill: PostedBill) -> dict[str, object]:
        values = {k: v for k, v in bill.__dict__.items() if k not in ("bill", "orders")}
        return {
            **values,
            "document": bill_document(bill.bill),
            "total": bill.total,
            "line_orders": line_orders_document(bill.orders),
        }

    def add(self, bill: PostedBill) -> None:
        """Insert; (hospital, external ref) is unique."""
        if self.by_external_ref(bill.hospital_id, bill.external_ref) is not None:
            raise Conflict("this bill was posted already", code="duplicate_bill")
        self._c.execute(insert(bills).values(**self._values(bill)))

    def get(self, bill_id: str, hospital_id: str) -> PostedBill | None:
        """Within the hospital; FOR UPDATE (one payment or refund at a time)."""
        query = (
            select(bills)
            .where(bills.c.id == bill_id, bills.c.hospital_id == hospital_id)
            .with_for_update()
        )
        found = self._c.execute(query).mappings().first()
        return _bill(found) if found else None

    def by_external_ref(self, hospital_id: str, external_ref: str) -> PostedBill | None:
        """By the hospital's reference."""
        query = select(bills).where(
            bills.c.hospital_id == hospital_id, bills.c.external_ref == external_ref
        )
        found = self._c.execute(query).mappings().first()
        return _bill(found) if found else None

    def has_person(self, hospital_id: str, person_id: str) -> bool:
        """Whether the hospital posted any bill for this person."""
        query = select(bills.c.id).where(
            bills.c.hospital_id == hospital_id, bills.c.person_id == person_id
        )
        return self._c.execute(query.limit(1)).first() is not None

    def search(self, query: RecordQuery) -> list[PostedBill]:
        """The site's bills matching `query`, in (created_at, id) order."""
        t = bills
        found = select(t).where(t.c.hospital_id == query.hospital_id)
        if query.person_id is not None:
            found = found.where(t.c.person_id == query.person_id)
        if query.statuses is not None:
            found = found.where(t.c.status.in_(sorted(query.statuses)))
        found = keyset(found, query, t.c.created_at, t.c.id)
        rows = [_bill(row) for row in self._c.execute(found).mappings()]
        return rows[::-1] if query.before is not None else rows

    def save(self, bill: PostedBill) -> None:
        """Overwrite."""
        self._c.execute(update(bills).where(bills.c.id == bill.id).values(**self._values(bill)))


class SqlAlchemyAlertRepository:
    """Supervision alerts."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, alert: Alert) -> None:
        """Insert."""
        values = {**alert.__dict__, "details": json.dumps(alert.details, sort_keys=True)}
        self._c.execute(insert(alerts).values(**values))

    def of_hospital(self, hospital_id: str, *, kind: str | None = None) -> list[Alert]:
        """Oldest first."""
        query = select(alerts).where(alerts.c.hospital_id == hospital_id)
        if kind is not None:
            query = query.where(alerts.c.kind == kind)
        rows = self._c.execute(query.order_by(alerts.c.created_at)).mappings()
        return [
            Alert(
                id=r["id"],
                hospital_id=r["hospital_id"],
                kind=r["kind"],
                subject=r["subject"],
                details=json.loads(r["details"]),
                created_at=utc(r["created_at"]),
            )
            for r in rows
        ]


def _keyset(query: Select[Any], table: Table, after: PageKey | None) -> Select[Any]:
    """`query` in (created_at, id) order, from just after the key `after`."""
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                table.c.created_at > at,
                and_(table.c.created_at == at, table.c.id > last_id),
            )
        )
    return query.order_by(table.c.created_at, table.c.id)


def _terminal(row: RowMapping) -> TerminalRecord:
    return TerminalRecord(
        row["id"],
        row["hospital_id"],
        row["name"],
        bytes(row["public_key"]),
        utc(row["created_at"]),
        bool(row["active"]),
        row["kind"],
    )


def _staff_user(row: RowMapping) -> StaffUser:
    return StaffUser(
        row["id"],
        row["hospital_id"],
        row["username"],
        row["password_hash"],
        row["role"],
        utc(row["created_at"]),
        bool(row["active"]),
    )


def _site(row: RowMapping) -> Hospital:
    return Hospital(
        row["id"],
        row["name"],
        utc(row["created_at"]),
        region_id=row["region_id"],
        kind=row["kind"],
        tier=row["tier"],
    )


class SqlAlchemyTenantRepository:
    """Hospitals, terminals, staff users and seen nonces."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add_hospital(self, hospital: Hospital) -> None:
        """Insert."""
        if self.hospital(hospital.id) is not None:
            raise Conflict("hospital exists", code="duplicate_hospital")
        self._c.execute(insert(hospitals).values(**hospital.__dict__))

    def hospital(self, hospital_id: str) -> Hospital | None:
        """By id."""
        row = self._c.execute(select(hospitals).where(hospitals.c.id == hospital_id))
        found = row.mappings().first()
        return _site(found) if found is not None else None

    def sites(self, region_id: str) -> list[Hospital]:
        """Every site of the region, by id."""
        query = select(hospitals).where(hospitals.c.region_id == region_id)
        return [_site(row) for row in self._c.execute(query.order_by(hospitals.c.id)).mappings()]

    def region(self, region_id: str) -> Region | None:
        """By id."""
        found = self._c.execute(select(regions).where(regions.c.id == region_id)).mappings().first()
        return Region(found["id"], found["name"], utc(found["created_at"])) if found else None

    def set_region_name(self, region_id: str, name: str) -> None:
        """Rename."""
        self._c.execute(update(regions).where(regions.c.id == region_id).values(name=name))

    def add_terminal(self, terminal: TerminalRecord) -> None:
        """Insert."""
        self._c.execute(insert(terminals).values(**terminal.__dict__))

    def terminal(self, terminal_id: str) -> TerminalRecord | None:
        """By id."""
        found = self._c.execute(select(terminals).where(terminals.c.id == terminal_id))
        row = found.mappings().first()
        return _terminal(row) if row is not None else None

    def terminals_of(
        self, hospital_id: str, *, after: PageKey | None, limit: int
    ) -> list[TerminalRecord]:
        """A hospital's terminals (revoked ones too) in (created_at, id) order, after `after`."""
        query = select(terminals).where(terminals.c.hospital_id == hospital_id)
        query = _keyset(query, terminals, after).limit(limit)
        return [_terminal(row) for row in self._c.execute(query).mappings()]

    def set_terminal_active(self, terminal_id: str, active: bool) -> None:
        """Revoke or enable."""
        query = update(terminals).where(terminals.c.id == terminal_id).values(active=active)
        self._c.execute(query)

    def add_staff(self, user: StaffUser) -> None:
        """Insert; user names are unique."""
        if self.staff_by_username(user.username) is not None:
            raise Conflict("user name taken", code="duplicate_username")
        self._c.execute(insert(staff_users).values(**user.__dict__))

    def staff_by_username(self, username: str) -> StaffUser | None:
        """By user name."""
        return self._staff(staff_users.c.username == username)

    def staff_by_id(self, staff_id: str) -> StaffUser | None:
        """By staff id."""
        return self._staff(staff_users.c.id == staff_id)

    def _staff(self, condition: Any) -> StaffUser | None:
        row = self._c.execute(select(staff_users).where(condition)).mappings().first()
        return _staff_user(row) if row is not None else None

    def staff_of(self, hospital_id: str, *, after: PageKey | None, limit: int) -> list[StaffUser]:
        """A hospital's staff (disabled ones too) in (created_at, id) order, after `after`."""
        query = select(staff_users).where(staff_users.c.hospital_id == hospital_id)
        query = _keyset(query, staff_users, after).limit(limit)
        return [_staff_user(row) for row in self._c.execute(query).mappings()]

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Replace the hash."""
        query = update(staff_users).where(staff_users.c.id == staff_id)
        self._c.execute(query.values(password_hash=password_hash))

    def platform_operator_names(self) -> list[str]:
        """User names of the platform operators."""
        query = select(staff_users.c.username).where(staff_users.c.role == "platform_operator")
        return sorted(self._c.execute(query).scalars())

    def installation_value(self, name: str) -> str | None:
        """A recorded fact about this installation."""
        query = select(installation.c.value).where(installation.c.name == name)
        found: str | None = self._c.execute(query).scalar_one_or_none()
        return found

    def set_installation_value(self, name: str, value: str, *, at: datetime) -> None:
        """Insert or replace a fact."""
        self._c.execute(delete(installation).where(installation.c.name == name))
        self._c.execute(insert(installation).values(name=name, value=value, updated_at=at))

    def remember_nonce(
        self, *, terminal_id: str, nonce: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Insert (terminal, nonce); the primary key makes check-and-insert one atomic step."""
        t = seen_nonces
        # An expired row of the same nonce may be reused: drop it first.
        self._c.execute(
            delete(t).where(
                t.c.terminal_id == terminal_id, t.c.nonce == nonce, t.c.expires_at <= now
            )
        )
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(t).values(terminal_id=terminal_id, nonce=nonce, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        return True

    def purge_nonces(self, *, now: datetime) -> int:
        """Delete expired nonces; returns how many."""
        return int(
            self._c.execute(delete(seen_nonces).where(seen_nonces.c.expires_at <= now)).rowcount
        )
