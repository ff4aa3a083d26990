"""One inbound message, from bytes to the bytes of its ACK: charset, parse, header checks,
deduplication on MSH-10, and the handler applied in the same transaction that stores the
message, so that the ACK is sent only for what is durably stored.

A message whose key (site, MSH-3, MSH-4, MSH-10) was stored already is answered with the ACK
stored with it, and nothing changes. When the database cannot store now (busy, down), no ACK
is sent at all: the hospital system sends the message again after its ACK timeout, which is
what MLLP senders do.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from facepay.adapters.hl7v2 import ack as acks
from facepay.adapters.hl7v2.charsets import UTF8, BadEncoding, Charset, UnknownCharset, charset_of
from facepay.adapters.hl7v2.mapping import HANDLERS, Inbound
from facepay.adapters.hl7v2.messages import (
    INTERNAL_ERROR,
    REQUIRED_FIELD_MISSING,
    TABLE_VALUE_NOT_FOUND,
    UNSUPPORTED_EVENT,
    UNSUPPORTED_MESSAGE_TYPE,
    UNSUPPORTED_PROCESSING_ID,
    UNSUPPORTED_VERSION,
    AckCode,
    Hl7Reject,
    Parsed,
    parse,
)
from facepay.services.context import Services, Storage
from facepay.services.his_interface import joined
from facepay.services.his_messages import Hl7Message, MessageStatus
from facepay.services.ports import StorageBusy, UnitOfWork
from facepay.shared.errors import Unavailable
from facepay.shared.ids import new_id

log = logging.getLogger(__name__)

PRUNE_BATCH = 500
STATUS: dict[AckCode, MessageStatus] = {"AA": "applied", "AE": "error", "AR": "rejected"}
_TRANSIENT = (StorageBusy, Unavailable)


@dataclass
class Counters:
    """What a listener has done since it started (the metrics line and the tests read it)."""

    received: int = 0
    applied: int = 0
    errors: int = 0
    rejected: int = 0
    replayed: int = 0
    unanswered: int = 0
    oversized: int = 0
    garbage_bytes: int = 0
    connections: int = 0
    refused_connections: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, count: int = 1) -> None:
        """Count, from any thread (messages are answered on a thread pool)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def applied_one(self, message_type: str) -> None:
        """Count an applied message and its type."""
        with self._lock:
            self.applied += 1
            self.by_type[message_type] = self.by_type.get(message_type, 0) + 1


@dataclass(frozen=True)
class Site:
    """The site a listener is bound to and the MSH-6 values that name it (its id, and the
    facility code the hospital system is configured with, if another)."""

    hospital_id: str
    facilities: frozenset[str]


@dataclass(frozen=True)
class _Incoming:
    text: str
    parsed: Parsed | None
    charset: Charset


@dataclass
class Receiver:
    """Answers the messages of one listener's connections."""

    ctx: Services
    site: Site
    counters: Counters = field(default_factory=Counters)

    def answer(self, raw: bytes) -> bytes | None:
        """The ACK to send for `raw` (one MLLP payload), or None to send none."""
        self.counters.add("received")
        charset = UTF8
        parsed: Parsed | None = None
        try:
            charset = charset_of(raw)
            parsed = parse(charset.decode(raw))
            self._check_header(parsed)
        except (UnknownCharset, BadEncoding) as error:
            reject = Hl7Reject(
                str(error), location="MSH^1^18", code=TABLE_VALUE_NOT_FOUND, ack="AR"
            )
            incoming = _Incoming(raw.decode("latin-1"), _header_only(raw), UTF8)
            return self._refuse(incoming, reject)
        except Hl7Reject as reject:
            text = charset.decode(raw) if parsed is not None else raw.decode("latin-1")
            return self._refuse(_Incoming(text, parsed, charset), reject)
        return self._apply(_Incoming(charset.decode(raw), parsed, charset), parsed)

    def rejection(self, head: bytes, reject: Hl7Reject) -> bytes:
        """The AR of a message not read at all (too long), from its first bytes; not stored
        (nothing of it is applied, and its text is not kept)."""
        self.counters.add("rejected")
        try:
            charset = charset_of(head)
        except UnknownCharset:
            charset = UTF8
        return charset.encode(self._ack(_header_only(head), "AR", charset, reject))

    def _ack(
        self,
        parsed: Parsed | None,
        code: AckCode,
        charset: Charset,
        reject: Hl7Reject | None,
        note: str = "",
    ) -> str:
        return acks.ack_of(
            parsed,
            code=code,
            at=self.ctx.clock.now(),
            site=self.site.hospital_id,
            charset=charset.name,
            reject=reject,
            note=note,
        )

    def _check_header(self, parsed: Parsed) -> None:
        if parsed.receiving_facility not in self.site.facilities:
            raise Hl7Reject(
                "MSH-6 receiving facility is not this listener's site",
                location="MSH^1^6",
                code=TABLE_VALUE_NOT_FOUND,
                ack="AR",
            )
        if not parsed.sending_application:
            raise Hl7Reject(
                "MSH-3 sending application is required",
                location="MSH^1^3",
                code=REQUIRED_FIELD_MISSING,
                ack="AR",
            )
        if parsed.msh.get(11, 1).upper() not in ("P", ""):
            raise Hl7Reject(
                "MSH-11: only P (production) messages",
                location="MSH^1^11",
                code=UNSUPPORTED_PROCESSING_ID,
                ack="AR",
            )
        if not parsed.version.startswith("2."):
            raise Hl7Reject(
                "MSH-12: HL7 version 2.x", location="MSH^1^12", code=UNSUPPORTED_VERSION, ack="AR"
            )
        if parsed.message_type not in HANDLERS:
            kind = parsed.msh.get(9, 1)
            known = any(t.startswith(f"{kind}^") for t in HANDLERS)
            raise Hl7Reject(
                f"{parsed.message_type}: not a message this listener takes",
                location="MSH^1^9",
                code=UNSUPPORTED_EVENT if known else UNSUPPORTED_MESSAGE_TYPE,
                ack="AR",
            )

    def _apply(self, incoming: _Incoming, parsed: Parsed) -> bytes | None:
        handler = HANDLERS[parsed.message_type]
        actor = f"hl7:{parsed.sending_application}"[:200]
        message_id = new_id("hl7")
        charset = incoming.charset
        try:
            with self.ctx.uow() as uow:
                seen = self._seen(uow, parsed)
                if seen is not None:
                    self.counters.add("replayed")
                    return charset.encode(seen.ack)
                inbound = Inbound(
                    joined(self.ctx, uow), self.site.hospital_id, actor, parsed, message_id
                )
                note = handler(inbound)
                record = self._record(
                    incoming, parsed, code="AA", reject=None, message_id=message_id, note=note
                )
                uow.hl7.add_message(record)
                uow.commit()
        except Hl7Reject as reject:
            return self._refuse(incoming, reject, message_id)
        except _TRANSIENT as error:
            return self._replay_or_nothing(incoming, parsed, error)
        except Exception:
            # A fault of ours: AE 207, not stored, so that the message can be sent again.
            log.exception("HL7 %s %s failed", parsed.message_type, parsed.control_id)
            self.counters.add("errors")
            fault = Hl7Reject("internal error", location=None, code=INTERNAL_ERROR)
            return charset.encode(self._ack(parsed, "AE", charset, fault))
        self.counters.applied_one(parsed.message_type)
        return charset.encode(record.ack)

    def _seen(self, uow: UnitOfWork, parsed: Parsed) -> Hl7Message | None:
        return uow.hl7.message(
            self.site.hospital_id,
            parsed.sending_application[:180],
            parsed.sending_facility[:180],
            parsed.control_id,
        )

    def _record(
        self,
        incoming: _Incoming,
        parsed: Parsed,
        *,
        code: AckCode,
        reject: Hl7Reject | None,
        message_id: str,
        note: str = "",
    ) -> Hl7Message:
        now = self.ctx.clock.now()
        return Hl7Message(
            id=message_id,
            hospital_id=self.site.hospital_id,
            sending_application=parsed.sending_application[:180],
            sending_facility=parsed.sending_facility[:180],
            control_id=parsed.control_id,
            message_type=parsed.message_type[:20],
            received_at=now,
            status=STATUS[code],
            ack_code=code,
            ack=self._ack(parsed, code, incoming.charset, reject, note),
            error=(f"{reject.location or ''} {reject.text}".strip()[:300] if reject else None),
            raw=incoming.text,
        )

    def _refuse(
        self, incoming: _Incoming, reject: Hl7Reject, message_id: str | None = None
    ) -> bytes | None:
        """Store an AE / AR with its message (when its key can be read), then answer it."""
        if reject.ack == "AR":
            self.counters.add("rejected")
        else:
            self.counters.add("errors")
        parsed, charset = incoming.parsed, incoming.charset
        if parsed is None or not parsed.sending_application or reject.location == "MSH^1^6":
            # No key to keep it under, or a message for another site: answered, not kept.
            return charset.encode(self._ack(parsed, reject.ack, charset, reject))
        record = self._record(
            incoming,
            parsed,
            code=reject.ack,
            reject=reject,
            message_id=message_id or new_id("hl7"),
        )
        try:
            with self.ctx.uow() as uow:
                seen = self._seen(uow, parsed)
                if seen is not None:
                    return charset.encode(seen.ack)
                uow.hl7.add_message(record)
                uow.commit()
        except _TRANSIENT as error:
            return self._replay_or_nothing(incoming, parsed, error)
        return charset.encode(record.ack)

    def _replay_or_nothing(
        self, incoming: _Incoming, parsed: Parsed, error: Exception
    ) -> bytes | None:
        """After a lost race on the key, the winner's ACK; after other storage trouble, none."""
        try:
            with self.ctx.uow() as uow:
                seen = self._seen(uow, parsed)
        except _TRANSIENT:
            seen = None
        if seen is not None:
            self.counters.add("replayed")
            return incoming.charset.encode(seen.ack)
        self.counters.add("unanswered")
        log.warning("HL7 %s not stored (%s): no ACK sent", parsed.control_id, error)
        return None


def _header_only(raw: bytes) -> Parsed | None:
    """The MSH of a message read as Latin-1 (the header is ASCII), to answer it."""
    first = raw.split(b"\r", 1)[0].split(b"\n", 1)[0]
    try:
        return parse(first.decode("latin-1"))
    except Hl7Reject:
        return None


def prune(ctx: Storage) -> int:
    """Drop the raw text of messages older than Settings.hl7_raw_retention_days."""
    before = ctx.clock.now() - timedelta(days=ctx.settings.hl7_raw_retention_days)
    total = 0
    while True:
        with ctx.uow() as uow:
            done = uow.hl7.prune_raw(before=before, limit=PRUNE_BATCH)
            uow.commit()
        total += done
        if done < PRUNE_BATCH:
            return total
