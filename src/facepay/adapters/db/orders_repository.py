"""Dispensing orders, window events and service requests on SQLAlchemy Core."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, cast

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from facepay.adapters.db.bill_repository import keyset
from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import dispensing_events, dispensing_orders, service_requests
from facepay.hospital.bills import OrderKind
from facepay.hospital.orders import (
    Conclusion,
    DispensingLine,
    DispensingOrder,
    ExamResult,
    RequestStatus,
    ServiceRequest,
)
from facepay.services.repositories import RecordQuery, WindowEvent
from facepay.shared.errors import Conflict

EventKind = Literal["created", "collected", "returned"]


def _lines_document(order: DispensingOrder) -> str:
    return json.dumps(
        [
            {
                "code": line.code,
                "name": line.name,
                "quantity": str(line.quantity),
                "amount": line.amount,
                "handed": str(line.handed),
                "returned": line.returned,
            }
            for line in order.lines
        ],
        ensure_ascii=False,
        sort_keys=True,
    )


def _order(row: RowMapping) -> DispensingOrder:
    lines = tuple(
        DispensingLine(
            code=item["code"],
            name=item["name"],
            quantity=Decimal(item["quantity"]),
            amount=int(item["amount"]),
            handed=Decimal(item["handed"]),
            returned=bool(item["returned"]),
        )
        for item in json.loads(row["lines"])
    )
    return DispensingOrder(
        id=row["id"],
        hospital_id=row["hospital_id"],
        bill_id=row["bill_id"],
        person_id=row["person_id"],
        window=row["window"],
        lines=lines,
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def _result_document(result: ExamResult | None) -> str | None:
    if result is None:
        return None
    body = {
        "summary": result.summary,
        "conclusion": result.conclusion,
        "image_ref": result.image_ref,
        "performed_at": result.performed_at.isoformat(),
        "recorded_at": result.recorded_at.isoformat(),
        "recorded_by": result.recorded_by,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def _result(document: str | None) -> ExamResult | None:
    if not document:
        return None
    body: dict[str, Any] = json.loads(document)
    return ExamResult(
        summary=body["summary"],
        conclusion=cast(Conclusion, body["conclusion"]),
        image_ref=body["image_ref"],
        performed_at=datetime.fromisoformat(body["performed_at"]),
        recorded_at=datetime.fromisoformat(body["recorded_at"]),
        recorded_by=body["recorded_by"],
    )


def _request(row: RowMapping) -> ServiceRequest:
    return ServiceRequest(
        id=row["id"],
        hospital_id=row["hospital_id"],
        bill_id=row["bill_id"],
        line_code=row["line_code"],
        name=row["name"],
        kind=cast(OrderKind, row["kind"]),
        department=row["department"],
        ordered_by=row["ordered_by"],
        person_id=row["person_id"],
        status=cast(RequestStatus, row["status"]),
        created_at=utc(row["created_at"]),
        checked_in_at=utc(row["checked_in_at"]) if row["checked_in_at"] else None,
        done_at=utc(row["done_at"]) if row["done_at"] else None,
        result=_result(row["result"]),
    )


def _request_values(request: ServiceRequest) -> dict[str, object]:
    values = {k: v for k, v in request.__dict__.items() if k != "result"}
    return {**values, "result": _result_document(request.result), "ready_at": request.ready_at}


class SqlAlchemyOrderRepository:
    """Dispensing orders, their window events and service requests."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add_dispensing(self, order: DispensingOrder) -> None:
        """Insert; (bill, window) is unique."""
        t = dispensing_orders
        taken = select(t.c.id).where(t.c.bill_id == order.bill_id, t.c.window == order.window)
        if self._c.execute(taken).first() is not None:
            raise Conflict("the bill has an order for this window", code="duplicate_order")
        self._c.execute(insert(t).values(**self._order_values(order)))

    def _order_values(self, order: DispensingOrder) -> dict[str, object]:
        values = {k: v for k, v in order.__dict__.items() if k != "lines"}
        return {**values, "lines": _lines_document(order), "status": order.status}

    def dispensing(self, order_id: str, hospital_id: str) -> DispensingOrder | None:
        """Within the hospital; FOR UPDATE (one collection or return at a time)."""
        t = dispensing_orders
        query = select(t).where(t.c.id == order_id, t.c.hospital_id == hospital_id)
        found = self._c.execute(query.with_for_update()).mappings().first()
        return _order(found) if found else None

    def save_dispensing(self, order: DispensingOrder) -> None:
        """Overwrite."""
        t = dispensing_orders
        self._c.execute(update(t).where(t.c.id == order.id).values(**self._order_values(order)))

    def dispensing_of_bill(self, bill_id: str) -> list[DispensingOrder]:
        """By window."""
        t = dispensing_orders
        query = select(t).where(t.c.bill_id == bill_id).order_by(t.c.window)
        return [_order(row) for row in self._c.execute(query).mappings()]

    def window_queue(
        self, hospital_id: str, window: str, *, limit: int, open_only: bool = True
    ) -> list[DispensingOrder]:
        """Oldest first."""
        t = dispensing_orders
        query = select(t).where(t.c.hospital_id == hospital_id, t.c.window == window)
        if open_only:
            query = query.where(t.c.status != "done")
        query = query.order_by(t.c.created_at, t.c.id).limit(limit)
        return [_order(row) for row in self._c.execute(query).mappings()]

    def search_dispensing(self, query: RecordQuery) -> list[DispensingOrder]:
        """The site's orders matching `query`, in (created_at, id) order."""
        t = dispensing_orders
        found = select(t).where(t.c.hospital_id == query.hospital_id)
        if query.person_id is not None:
            found = found.where(t.c.person_id == query.person_id)
        if query.statuses is not None:
            found = found.where(t.c.status.in_(sorted(query.statuses)))
        found = keyset(found, query, t.c.created_at, t.c.id)
        rows = [_order(row) for row in self._c.execute(found).mappings()]
        return rows[::-1] if query.before is not None else rows

    def add_event(
        self, hospital_id: str, window: str, *, order_id: str, kind: str, at: datetime
    ) -> None:
        """Append; the database numbers it."""
        values = {"hospital_id": hospital_id, "window": window, "order_id": order_id}
        self._c.execute(insert(dispensing_events).values(**values, kind=kind, at=at))

    def last_event(self, hospital_id: str, window: str) -> int:
        """max(seq) of the window, on its index."""
        t = dispensing_events
        window_rows = (t.c.hospital_id == hospital_id) & (t.c.window == window)
        query = select(func.max(t.c.seq)).where(window_rows)
        return int(self._c.execute(query).scalar_one() or 0)

    def events_after(
        self, hospital_id: str, window: str, after: int, *, limit: int
    ) -> list[WindowEvent]:
        """In order."""
        t = dispensing_events
        query = (
            select(t)
            .where(t.c.hospital_id == hospital_id, t.c.window == window, t.c.seq > after)
            .order_by(t.c.seq)
            .limit(limit)
        )
        return [
            WindowEvent(int(r["seq"]), r["order_id"], cast(EventKind, r["kind"]), utc(r["at"]))
            for r in self._c.execute(query).mappings()
        ]

    def add_request(self, request: ServiceRequest) -> None:
        """Insert; (bill, line) is unique."""
        t = service_requests
        taken = select(t.c.id).where(
            t.c.bill_id == request.bill_id, t.c.line_code == request.line_code
        )
        if self._c.execute(taken).first() is not None:
            raise Conflict("the bill line has a request", code="duplicate_request")
        self._c.execute(insert(t).values(**_request_values(request)))

    def request(self, request_id: str, hospital_id: str) -> ServiceRequest | None:
        """Within the hospital; FOR UPDATE."""
        t = service_requests
        query = select(t).where(t.c.id == request_id, t.c.hospital_id == hospital_id)
        found = self._c.execute(query.with_for_update()).mappings().first()
        return _request(found) if found else None

    def save_request(self, request: ServiceRequest) -> None:
        """Overwrite."""
        t = service_requests
        self._c.execute(update(t).where(t.c.id == request.id).values(**_request_values(request)))

    def worklist(
        self, hospital_id: str, department: str, *, statuses: Sequence[str], limit: int
    ) -> list[ServiceRequest]:
        """Oldest first."""
        t = service_requests
        query = (
            select(t)
            .where(
                t.c.hospital_id == hospital_id,
                t.c.department == department,
                t.c.status.in_(list(statuses)),
            )
            .order_by(t.c.created_at, t.c.id)
            .limit(limit)
        )
        return [_request(row) for row in self._c.execute(query).mappings()]

    def requests_of_person(
        self, hospital_id: str, person_id: str, *, limit: int
    ) -> list[ServiceRequest]:
        """Newest first."""
        t = service_requests
        query = (
            select(t)
            .where(t.c.hospital_id == hospital_id, t.c.person_id == person_id)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        return [_request(row) for row in self._c.execute(query).mappings()]

    def requests_of_bill(self, bill_id: str) -> list[ServiceRequest]:
        """By line."""
        t = service_requests
        query = select(t).where(t.c.bill_id == bill_id).order_by(t.c.line_code)
        return [_request(row) for row in self._c.execute(query).mappings()]
