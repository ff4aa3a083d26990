"""Notifications to the hospital system: a DFT^P03 over MLLP for each bill of the site paid or
refunded, read off the site's event feed (facepay.services.his_events, the audit chain as a
transactional outbox). MSH-10 is the event id (`<site>:<seq>`), stable across retries, so the
receiver drops a repeat; the durable cursor (hl7_cursors) moves only after the receiver's ACK AA
(or CA), so delivery is at least once. A refused or missing ACK is retried with a doubling wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from facepay.adapters.hl7v2.ack import escape, header, timestamp
from facepay.adapters.hl7v2.charsets import Charset
from facepay.adapters.hl7v2.framing import Frame, MllpDecoder, frame
from facepay.adapters.hl7v2.messages import Hl7Reject, parse
from facepay.services.context import Storage
from facepay.services.his_events import HisEvent, events_after, head

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 50
MAX_ACK_BYTES = 65_536


def yuan(fen: int) -> str:
    """Fen as a yuan amount with 2 decimals (HL7 MO), exactly."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def notification(
    ctx: Storage, event: HisEvent, *, to_application: str, to_facility: str, charset: str
) -> str | None:
    """The DFT^P03 telling of `event` (None: an event of a kind the HIS is not told of)."""
    if event.kind not in ("bill.paid", "bill.refunded"):
        return None
    with ctx.uow() as uow:
        bill = uow.bills.get(event.bill_id, event.hospital_id)
        link = uow.hl7.patient_of_person(event.hospital_id, bill.person_id) if bill else None
    if bill is None:
        return None
    day = event.at.strftime("%Y%m%d%H%M%S")
    msh = header(
        message_type="DFT^P03^DFT_P03",
        control_id=event.id,
        at=event.at,
        sender=event.hospital_id,
        receiver_application=to_application,
        receiver_facility=to_facility,
        charset=charset,
    )
    patient = f"{escape(link.his_patient_id)}^^^HIS^MR" if link else ""
    settlement = escape(event.settlement_id or "")
    visit = "I" if bill.bill.visit_type == "inpatient" else "O"
    segments = [
        msh,
        f"EVN|P03|{timestamp(event.at)}",
        f"PID|1||{patient}",
        f"PV1|1|{visit}|||||||||||||||||{escape(bill.external_ref)}",
    ]
    if event.kind == "bill.paid":
        d = event.details
        parts = [
            ("TOTAL", "医疗费总额", event.amount_fen or 0),
            ("FUND", "基金支付", d.get("fund_fen")),
            ("ACCOUNT", "个人账户支付", d.get("account_fen")),
            ("CASH", "个人现金支付", d.get("cash_fen")),
        ]
        kind = "PY"
    else:
        parts = [("REFUND", "退费", -(event.amount_fen or 0))]
        kind = "CD"
    for number, (code, name, amount) in enumerate(parts, start=1):
        fen = amount if isinstance(amount, int) else 0
        segments.append(
            f"FT1|{number}|{escape(bill.id)}|{settlement}|{day}|{day}|{kind}|{code}^{name}"
            f"|||1|{yuan(fen)}"
        )
    return "\r".join(segments)


class Refused(Exception):  # noqa: N818 - the receiver's answer
    """The hospital system answered AE / AR, or something that is not the ACK of ours."""


@dataclass
class NotifyCounters:
    """Deliveries since start."""

    sent: int = 0
    acknowledged: int = 0
    retries: int = 0
    skipped: int = 0


@dataclass
class MllpNotifier:
    """Delivers the site's events to one MLLP endpoint, in order, at least once."""

    ctx: Storage
    hospital_id: str
    host: str
    port: int
    to_application: str = "HIS"
    to_facility: str = ""
    charset: Charset = field(default_factory=lambda: Charset("", "utf-8"))
    poll_seconds: float = 1.0
    counters: NotifyCounters = field(default_factory=NotifyCounters)
    _stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @property
    def endpoint(self) -> str:
        """The cursor's name."""
        return f"mllp://{self.host}:{self.port}"

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set (a delivery under way finishes or times out first)."""
        cursor = await self._thread(self._start)
        backoff = 1.0
        try:
            while not stop.is_set():
                try:
                    cursor, delivered = await self._round(cursor)
                    backoff = 1.0
                except (OSError, TimeoutError, Refused, asyncio.IncompleteReadError) as error:
                    log.warning("HL7 notify to %s failed: %s", self.endpoint, error)
                    self.counters.retries += 1
                    await self._close()
                    await _wait(stop, backoff)
                    backoff = min(backoff * 2, self.ctx.settings.hl7_notify_max_backoff_seconds)
                    continue
                if not delivered:
                    await _wait(stop, self.poll_seconds)
        finally:
            await self._close()

    async def _round(self, cursor: int) -> tuple[int, bool]:
        events, reached = await self._thread(
            lambda: events_after(
                self.ctx, hospital_id=self.hospital_id, after_seq=cursor, limit=BATCH
            )
        )
        for event in events:
            text = await self._thread(
                lambda e=event: notification(  # type: ignore[misc]
                    self.ctx,
                    e,
                    to_application=self.to_application,
                    to_facility=self.to_facility,
                    charset=self.charset.name,
                )
            )
            if text is None:
                self.counters.skipped += 1
            else:
                await self._deliver(text, event.id)
            await self._thread(lambda s=event.seq: self._move(s))  # type: ignore[misc]
            cursor = event.seq
        if reached > cursor:
            await self._thread(lambda: self._move(reached))
            cursor = reached
        return cursor, bool(events)

    async def _deliver(self, text: str, control_id: str) -> None:
        if self._stream is None:
            self._stream = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port),
                timeout=self.ctx.settings.hl7_ack_timeout_seconds,
            )
        reader, writer = self._stream
        writer.write(frame(self.charset.encode(text)))
        await writer.drain()
        self.counters.sent += 1
        payload = await asyncio.wait_for(
            _one_frame(reader), timeout=self.ctx.settings.hl7_ack_timeout_seconds
        )
        try:
            ack = parse(payload.decode(self.charset.codec, errors="replace"))
        except Hl7Reject as error:
            raise Refused(f"not an ACK: {error.text}") from None
        msa = ack.one("MSA") if ack.segments("MSA") else None
        code = msa.get(1).upper() if msa else ""
        if msa is None or msa.get(2) != control_id:
            raise Refused(f"the ACK is not of {control_id}")
        if code not in ("AA", "CA"):
            raise Refused(f"{control_id} answered {code}: {msa.get(3)}")
        self.counters.acknowledged += 1

    def _start(self) -> int:
        with self.ctx.uow() as uow:
            seq = uow.hl7.cursor(self.hospital_id, self.endpoint)
        if seq is not None:
            return seq
        # A new endpoint hears what happens from now on, not the site's whole history.
        start = head(self.ctx, hospital_id=self.hospital_id)
        self._move(start)
        return start

    def _move(self, seq: int) -> None:
        with self.ctx.uow() as uow:
            uow.hl7.move_cursor(self.hospital_id, self.endpoint, seq, self.ctx.clock.now())
            uow.commit()

    async def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()

    async def _thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, call)


async def _one_frame(reader: asyncio.StreamReader) -> bytes:
    decoder = MllpDecoder(MAX_ACK_BYTES)
    while True:
        data = await reader.read(4_096)
        if not data:
            raise asyncio.IncompleteReadError(b"", None)
        for event in decoder.feed(data):
            if isinstance(event, Frame):
                return event.payload
            raise Refused("an oversized answer")


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
