"""In-memory `OrderRepository`: dispensing orders, window events and service requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, cast

from facepay.hospital.orders import DispensingOrder, ServiceRequest
from facepay.services.repositories import PageKey, RecordQuery, WindowEvent
from facepay.shared.errors import Conflict

EventKind = Literal["created", "collected", "returned"]


class InMemoryOrderRepository:
    """Orders and requests in dicts, events in a list (the store lock serialises writers)."""

    def __init__(self) -> None:
        self.orders: dict[str, DispensingOrder] = {}
        self.requests: dict[str, ServiceRequest] = {}
        self.events: list[tuple[str, str, WindowEvent]] = []

    def add_dispensing(self, order: DispensingOrder) -> None:
        """Store; one order per (bill, window)."""
        taken = {(o.bill_id, o.window) for o in self.orders.values()}
        if (order.bill_id, order.window) in taken:
            raise Conflict("the bill has an order for this window", code="duplicate_order")
        self.orders[order.id] = order

    def dispensing(self, order_id: str, hospital_id: str) -> DispensingOrder | None:
        """Within the hospital only."""
        found = self.orders.get(order_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def save_dispensing(self, order: DispensingOrder) -> None:
        """Overwrite."""
        self.orders[order.id] = order

    def dispensing_of_bill(self, bill_id: str) -> list[DispensingOrder]:
        """By window."""
        return sorted((o for o in self.orders.values() if o.bill_id == bill_id), key=_window)

    def window_queue(
        self, hospital_id: str, window: str, *, limit: int, open_only: bool = True
    ) -> list[DispensingOrder]:
        """Oldest first."""
        rows = [
            o
            for o in self.orders.values()
            if (o.hospital_id, o.window) == (hospital_id, window)
            and (not open_only or o.status != "done")
        ]
        return sorted(rows, key=lambda o: (o.created_at, o.id))[:limit]

    def search_dispensing(self, query: RecordQuery) -> list[DispensingOrder]:
        """The site's orders matching `query`, in (created_at, id) order."""
        keyed: list[tuple[PageKey, object]] = [
            ((o.created_at, o.id), o)
            for o in self.orders.values()
            if o.hospital_id == query.hospital_id
            and query.admits((o.created_at, o.id), person_id=o.person_id, status=o.status)
        ]
        return [o for o in query.page(keyed) if isinstance(o, DispensingOrder)]

    def add_event(
        self, hospital_id: str, window: str, *, order_id: str, kind: str, at: datetime
    ) -> None:
        """Append, numbered after every earlier event."""
        event = WindowEvent(len(self.events) + 1, order_id, cast(EventKind, kind), at)
        self.events.append((hospital_id, window, event))

    def last_event(self, hospital_id: str, window: str) -> int:
        """The highest number of the window."""
        seqs = [e.seq for h, w, e in self.events if (h, w) == (hospital_id, window)]
        return max(seqs, default=0)

    def events_after(
        self, hospital_id: str, window: str, after: int, *, limit: int
    ) -> list[WindowEvent]:
        """In order."""
        found = [e for h, w, e in self.events if (h, w) == (hospital_id, window) and e.seq > after]
        return found[:limit]

    def add_request(self, request: ServiceRequest) -> None:
        """Store; one request per bill line."""
        if any(
            (r.bill_id, r.line_code) == (request.bill_id, request.line_code)
            for r in self.requests.values()
        ):
            raise Conflict("the bill line has a request", code="duplicate_request")
        self.requests[request.id] = request

    def request(self, request_id: str, hospital_id: str) -> ServiceRequest | None:
        """Within the hospital only."""
        found = self.requests.get(request_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def save_request(self, request: ServiceRequest) -> None:
        """Overwrite."""
        self.requests[request.id] = request

    def worklist(
        self, hospital_id: str, department: str, *, statuses: Sequence[str], limit: int
    ) -> list[ServiceRequest]:
        """Oldest first."""
        rows = [
            r
            for r in self.requests.values()
            if (r.hospital_id, r.department) == (hospital_id, department) and r.status in statuses
        ]
        return sorted(rows, key=lambda r: (r.created_at, r.id))[:limit]

    def requests_of_person(
        self, hospital_id: str, person_id: str, *, limit: int
    ) -> list[ServiceRequest]:
        """Newest first."""
        rows = [
            r
            for r in self.requests.values()
            if (r.hospital_id, r.person_id) == (hospital_id, person_id)
        ]
        return sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    def requests_of_bill(self, bill_id: str) -> list[ServiceRequest]:
        """By line."""
        rows = [r for r in self.requests.values() if r.bill_id == bill_id]
        return sorted(rows, key=lambda r: r.line_code)


def _window(order: DispensingOrder) -> str:
    return order.window
