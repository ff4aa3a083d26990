"""The asyncio MLLP listener: one site, peers by CIDR, a connection limit, an idle timeout, a
bounded buffer per connection, and messages of one connection answered one at a time in order
(HL7 original acknowledgement mode). The database work runs in a small thread pool; the event
loop only moves bytes.

A message the database could not store now gets no ACK: the connection is closed, and the
hospital system sends it again (its ACK timeout), as MLLP senders do.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from facepay.adapters.hl7v2.framing import Frame, MllpDecoder, frame
from facepay.adapters.hl7v2.inbound import Receiver
from facepay.adapters.hl7v2.messages import Hl7Reject
from facepay.config import Settings

log = logging.getLogger(__name__)

READ_CHUNK = 65_536
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[IpNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


def parse_networks(values: Sequence[str]) -> tuple[IpNetwork, ...]:
    """CIDR blocks (a bare address is one host); ValueError names a bad one."""
    found: list[IpNetwork] = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"--allow {value!r}: not an address or CIDR block") from None
    return tuple(found)


@dataclass
class MllpListener:
    """Serves `receiver` on MLLP; `start` binds, `stop` drains and closes."""

    receiver: Receiver
    allow: tuple[IpNetwork, ...] = LOOPBACK
    workers: int = 4
    _server: asyncio.Server | None = None
    _clients: set[asyncio.Task[None]] = field(default_factory=set)
    _pool: ThreadPoolExecutor | None = None

    @property
    def _settings(self) -> Settings:
        return self.receiver.ctx.settings

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind and listen; the address bound (port 0 picks a free one)."""
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="hl7")
        self._server = await asyncio.start_server(self._serve, host, port, limit=READ_CHUNK)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def stop(self) -> None:
        """Stop accepting, let each connection finish the message it is on, then close."""
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _allowed(self, peer: object) -> bool:
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allow)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters = self.receiver.counters
        peer = writer.get_extra_info("peername")
        if not self._allowed(peer) or len(self._clients) >= self._settings.hl7_max_connections:
            counters.add("refused_connections")
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        counters.add("connections")
        try:
            await self._converse(reader, writer)
        except (asyncio.CancelledError, ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        settings = self._settings
        decoder = MllpDecoder(settings.hl7_max_message_bytes)
        counters = self.receiver.counters
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await asyncio.wait_for(
                    reader.read(READ_CHUNK), timeout=settings.hl7_idle_timeout_seconds
                )
            except TimeoutError:
                data = b""
            garbage = decoder.garbage
            events = decoder.feed(data) if data else []
            if not data:
                decoder.close()  # an unterminated frame is dropped (counted as garbage)
            counters.add("garbage_bytes", decoder.garbage - garbage)
            for event in events:
                if isinstance(event, Frame):
                    job = loop.run_in_executor(self._pool, self.receiver.answer, event.payload)
                    try:
                        answer = await asyncio.shield(job)
                    except asyncio.CancelledError:
                        # Stopping (SIGTERM): the message being stored finishes and is
                        # answered; the connection closes after that.
                        done = await job
                        if done is not None:
                            writer.write(frame(done))
                            await writer.drain()
                        raise
                    if answer is None:
                        return  # not stored: no ACK, and the sender resends
                else:
                    counters.add("oversized")
                    limit = settings.hl7_max_message_bytes
                    reject = Hl7Reject(
                        f"the message is longer than {limit} bytes",
                        location="MSH",
                        code=207,
                        ack="AR",
                    )
                    answer = self.receiver.rejection(event.head, reject)
                writer.write(frame(answer))
                await writer.drain()
            if not data:
                return
