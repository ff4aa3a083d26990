"""Where the NHSA client keeps every outgoing message (`nhsa_messages`) and each site's
national institution code (`nhsa_institutions`): a port and two implementations.

A message is stored, state `sent`, in its own committed transaction BEFORE it goes out, so
that whatever happens next (a timeout, a lost answer, the process killed) its msgid is known
and can be reversed with 2601. States: `sent` -> `answered` (infcode 0) | `failed` (the
platform said no: nothing applied) | `lost` (no answer: unknown) -> `reversed` (2601 done) |
`cancelled` (a settlement undone by its documented cancel, 2208 / 2305).

At most one settlement message per (site, ref) is `sent`, `answered` or `lost` at a time (a partial
unique index): two workers retrying one payment cannot both settle it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import Engine, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.errors import DRIVER_ERRORS, translate
from facepay.adapters.db.tables import nhsa_institutions, nhsa_messages
from facepay.adapters.nhsa.messages import QUERY_INFNOS, REVERSIBLE_INFNOS
from facepay.shared.errors import Conflict, InvalidInput

MessageState = Literal["sent", "answered", "failed", "lost", "reversed", "cancelled"]
CLAIMED = ("sent", "answered", "lost")
"""States in which a settlement message holds its (site, ref): a lost one until reversed."""


@dataclass(frozen=True)
class Institution:
    """A site as the platform knows it: its 12-character code, name and area."""

    hospital_id: str
    fixmedins_code: str
    fixmedins_name: str
    mdtrtarea_admvs: str

    def __post_init__(self) -> None:
        if len(self.fixmedins_code) != 12 or not self.fixmedins_code.isalnum():
            raise InvalidInput(
                "fixmedins_code: the 12 letters and digits the insurer assigned",
                code="nhsa_bad_institution",
            )
        if len(self.mdtrtarea_admvs) != 6 or not self.mdtrtarea_admvs.isdigit():
            raise InvalidInput("mdtrtarea_admvs: 6 digits", code="nhsa_bad_institution")
        if not 1 <= len(self.fixmedins_name) <= 200 or not self.fixmedins_name.isprintable():
            raise InvalidInput("fixmedins_name: 1 to 200 characters", code="nhsa_bad_institution")


@dataclass(frozen=True)
class LoggedMessage:
    """One outgoing message and what became of it."""

    msgid: str
    hospital_id: str
    infno: str
    ref: str | None
    opter: str
    body: str
    state: MessageState
    created_at: datetime
    answer: str | None = None
    updated_at: datetime | None = None


class MessageLog(Protocol):
    """The client's durable memory of what it sent."""

    def reserve(self, message: LoggedMessage) -> bool:
        """Store a new message (state `sent`) and commit; False if the msgid is taken.
        Conflict `nhsa_in_progress` if it is a settlement whose (site, ref) is held."""

    def finish(self, msgid: str, state: MessageState, *, answer: str | None, at: datetime) -> None:
        """Record the outcome of a message and commit."""

    def get(self, msgid: str) -> LoggedMessage | None:
        """By msgid."""

    def find(
        self,
        hospital_id: str,
        *,
        infno: str,
        ref: str | None = None,
        opter: str | None = None,
        since: datetime | None = None,
        states: tuple[MessageState, ...] = (),
    ) -> list[LoggedMessage]:
        """A site's messages of one transaction, newest first."""

    def lost(self, *, before: datetime, limit: int) -> list[LoggedMessage]:
        """Queries and reversible messages whose answer never came, oldest first (what
        `recover` reverses)."""

    def institution(self, hospital_id: str) -> Institution | None:
        """The site's national code, if registered."""

    def save_institution(self, institution: Institution, *, at: datetime) -> None:
        """Register (or change) a site's national code."""


class SqlAlchemyMessageLog:
    """`MessageLog` on the facepay database; each call is one short committed transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The database it writes to."""
        return self._engine

    def reserve(self, message: LoggedMessage) -> bool:
        row = {**message.__dict__}
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(nhsa_messages).values(**row))
        except IntegrityError:
            if self.get(message.msgid) is not None:
                return False
            raise _in_progress(message) from None
        except DRIVER_ERRORS as error:
            raise translate(error) from error
        return True

    def finish(self, msgid: str, state: MessageState, *, answer: str | None, at: datetime) -> None:
        values: dict[str, object] = {"state": state, "updated_at": at}
        if answer is not None:
            values["answer"] = answer
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    update(nhsa_messages).where(nhsa_messages.c.msgid == msgid).values(**values)
                )
        except DRIVER_ERRORS as error:
            raise translate(error) from error

    def get(self, msgid: str) -> LoggedMessage | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(nhsa_messages).where(nhsa_messages.c.msgid == msgid)).first()
        return _message(row._mapping) if row else None

    def find(
        self,
        hospital_id: str,
        *,
        infno: str,
        ref: str | None = None,
        opter: str | None = None,
        since: datetime | None = None,
        states: tuple[MessageState, ...] = (),
    ) -> list[LoggedMessage]:
        t = nhsa_messages.c
        query = select(nhsa_messages).where(t.hospital_id == hospital_id, t.infno == infno)
        if ref is not None:
            query = query.where(t.ref == ref)
        if opter is not None:
            query = query.where(t.opter == opter)
        if since is not None:
            query = query.where(t.created_at >= since)
        if states:
            query = query.where(t.state.in_(states))
        with self._engine.connect() as conn:
            rows = conn.execute(
                query.order_by(t.created_at.desc(), t.msgid.desc()).limit(100)
            ).all()
        return [_message(r._mapping) for r in rows]

    def lost(self, *, before: datetime, limit: int) -> list[LoggedMessage]:
        t = nhsa_messages.c
        query = (
            select(nhsa_messages)
            .where(
                t.state.in_(("lost", "sent")),
                t.created_at < before,
                t.infno.in_(sorted(REVERSIBLE_INFNOS | QUERY_INFNOS)),
            )
            .order_by(t.created_at, t.msgid)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_message(r._mapping) for r in conn.execute(query).all()]

    def institution(self, hospital_id: str) -> Institution | None:
        t = nhsa_institutions.c
        with self._engine.connect() as conn:
            row = conn.execute(
                select(nhsa_institutions).where(t.hospital_id == hospital_id)
            ).first()
        if row is None:
            return None
        m = row._mapping
        return Institution(
            m["hospital_id"], m["fixmedins_code"], m["fixmedins_name"], m["mdtrtarea_admvs"]
        )

    def save_institution(self, institution: Institution, *, at: datetime) -> None:
        t = nhsa_institutions.c
        values = {**institution.__dict__, "updated_at": at}
        try:
            with self._engine.begin() as conn:
                done = conn.execute(
                    update(nhsa_institutions)
                    .where(t.hospital_id == institution.hospital_id)
                    .values(**values)
                )
                if not done.rowcount:
                    conn.execute(insert(nhsa_institutions).values(**values))
        except IntegrityError:
            raise Conflict(
                f"fixmedins_code {institution.fixmedins_code} is another site's",
                code="nhsa_bad_institution",
            ) from None
        except DRIVER_ERRORS as error:
            raise translate(error) from error


def _message(m: RowMapping) -> LoggedMessage:
    get = m.__getitem__
    return LoggedMessage(
        msgid=get("msgid"),
        hospital_id=get("hospital_id"),
        infno=get("infno"),
        ref=get("ref"),
        opter=get("opter"),
        body=get("body"),
        state=get("state"),
        created_at=get("created_at"),
        answer=get("answer"),
        updated_at=get("updated_at"),
    )


def _in_progress(message: LoggedMessage) -> Conflict:
    return Conflict(
        "this payment is being settled with the national platform by another request; "
        "retry in a moment with the same key",
        code="nhsa_in_progress",
    )


class InMemoryMessageLog:
    """`MessageLog` in memory (unit tests); the same rules, one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, LoggedMessage] = {}
        self._sites: dict[str, Institution] = {}

    def reserve(self, message: LoggedMessage) -> bool:
        with self._lock:
            if message.msgid in self._rows:
                return False
            if (
                message.infno in ("2207", "2304")
                and message.ref is not None
                and any(
                    (r.hospital_id, r.infno, r.ref)
                    == (message.hospital_id, message.infno, message.ref)
                    and r.state in CLAIMED
                    for r in self._rows.values()
                )
            ):
                raise _in_progress(message)
            self._rows[message.msgid] = message
            return True

    def finish(self, msgid: str, state: MessageState, *, answer: str | None, at: datetime) -> None:
        with self._lock:
            row = self._rows[msgid]
            self._rows[msgid] = replace(
                row, state=state, answer=answer or row.answer, updated_at=at
            )

    def get(self, msgid: str) -> LoggedMessage | None:
        with self._lock:
            return self._rows.get(msgid)

    def find(
        self,
        hospital_id: str,
        *,
        infno: str,
        ref: str | None = None,
        opter: str | None = None,
        since: datetime | None = None,
        states: tuple[MessageState, ...] = (),
    ) -> list[LoggedMessage]:
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if (r.hospital_id, r.infno) == (hospital_id, infno)
                and (ref is None or r.ref == ref)
                and (opter is None or r.opter == opter)
                and (since is None or r.created_at >= since)
                and (not states or r.state in states)
            ]
        return sorted(rows, key=lambda r: (r.created_at, r.msgid), reverse=True)

    def lost(self, *, before: datetime, limit: int) -> list[LoggedMessage]:
        with self._lock:
            rows = [
                r
                for r in self._rows.values()
                if r.state in ("lost", "sent")
                and r.created_at < before
                and r.infno in REVERSIBLE_INFNOS | QUERY_INFNOS
            ]
        return sorted(rows, key=lambda r: (r.created_at, r.msgid))[:limit]

    def institution(self, hospital_id: str) -> Institution | None:
        with self._lock:
            return self._sites.get(hospital_id)

    def save_institution(self, institution: Institution, *, at: datetime) -> None:
        with self._lock:
            for other in self._sites.values():
                if (
                    other.fixmedins_code == institution.fixmedins_code
                    and other.hospital_id != institution.hospital_id
                ):
                    raise Conflict("fixmedins_code is another site's", code="nhsa_bad_institution")
            self._sites[institution.hospital_id] = institution
