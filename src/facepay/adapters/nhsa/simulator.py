"""The NHSA platform simulator over HTTP (`facepay nhsa simulate`): a small asyncio HTTP/1.1
server in front of `SimulatedPlatform`, with faults a test can order.

Why not uvicorn: a dropped answer must be a connection closed after the platform applied the
message, with nothing written, which a framework does not let a handler do.

- `POST /` or `POST /fsi/api/<anything>`: one message (JSON envelope), answered as JSON.
- `POST /control/faults` `{"infno", "mode", "delay_seconds", "infcode", "err_msg", "times"}`:
  the next `times` messages of `infno` ("*": any) `timeout` (not applied; the connection is
  held `delay_seconds` and closed), answer `late` (applied; answered after `delay_seconds`),
  `fail` (not applied; answered with `infcode`, default -1) or `drop` (applied; closed unanswered).
  `DELETE /control/faults` clears them.
- `POST /control/people` `{"certno", "name", "category", "balance_fen", "medical_assistance"}`:
  enrol an insured person. `GET /control/state`: what the platform holds (for tests).
The control paths exist only with `control=True` (`--control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.wire import MAX_BODY_BYTES, decode, encode
from facepay.shared.errors import InvalidInput

FaultMode = Literal["timeout", "late", "fail", "drop"]
MAX_HEADER_BYTES = 16_384
MAX_CONNECTIONS = 256
READ_TIMEOUT = 30.0


@dataclass
class Fault:
    """What to do to the next `times` messages of `infno`."""

    infno: str
    mode: FaultMode
    delay_seconds: float = 0.0
    infcode: int = -1
    err_msg: str = "simulated failure"
    times: int = 1


class Simulator:
    """The HTTP side: faults, control paths, and the platform's answers."""

    def __init__(self, platform: SimulatedPlatform, *, control: bool = False) -> None:
        self.platform = platform
        self.control = control
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    def add_fault(self, fault: Fault) -> None:
        """Order a fault."""
        with self._lock:
            self.faults.append(fault)

    def _take(self, infno: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.infno in (infno, "*"):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: one request, one answer (or none), then close."""
        async with self._slots:
            try:
                await self._serve(reader, writer)
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                pass
            except asyncio.CancelledError:
                # The simulator is stopping: a held connection just closes.
                pass
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except asyncio.LimitOverrunError:
            await _respond(writer, 431, {"error": "headers too large"})
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            await _respond(writer, 400, {"error": "bad request line"})
            return
        method, path = parts[0], parts[1].split("?")[0]
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
        }
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            await _respond(writer, 413, {"error": f"body of 0 to {MAX_BODY_BYTES} bytes"})
            return
        body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT) if length else b""
        if path.startswith("/control/") and self.control:
            status, answer = self._control(method, path, body)
            await _respond(writer, status, answer)
            return
        if method != "POST" or not (path == "/" or path.startswith("/fsi/api/")):
            await _respond(writer, 404, {"error": "POST a message to / or /fsi/api/..."})
            return
        try:
            message = decode(body)
        except InvalidInput as bad:
            await _respond(writer, 400, {"infcode": -1, "err_msg": str(bad), "output": {}})
            return
        fault = self._take(str(message.get("infno", "")))
        if fault is None:
            await _respond(writer, 200, await self._apply(message))
        elif fault.mode == "fail":
            answer = self.platform.refuse(message, code=fault.infcode, error=fault.err_msg)
            await _respond(writer, 200, answer)
        elif fault.mode == "timeout":
            self.platform.refuse(message, code=-1, error="timed out")
            await asyncio.sleep(fault.delay_seconds)
        elif fault.mode == "late":
            answer = await self._apply(message)
            await asyncio.sleep(fault.delay_seconds)
            await _respond(writer, 200, answer)
        else:  # drop: applied, never answered
            await self._apply(message)

    async def _apply(self, message: dict[str, Any]) -> dict[str, Any]:
        # The platform's lock is a thread lock: keep it off the event loop.
        return await asyncio.to_thread(self.platform.handle, message)

    def _control(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            data = decode(body) if body else {}
            if (method, path) == ("POST", "/control/faults"):
                self.add_fault(
                    Fault(
                        infno=str(data["infno"]),
                        mode=_mode(data.get("mode")),
                        delay_seconds=float(str(data.get("delay_seconds", 0))),
                        infcode=int(str(data.get("infcode", -1))),
                        err_msg=str(data.get("err_msg", "simulated failure")),
                        times=int(str(data.get("times", 1))),
                    )
                )
                return 200, {"faults": len(self.faults)}
            if (method, path) == ("DELETE", "/control/faults"):
                with self._lock:
                    self.faults.clear()
                return 200, {"faults": 0}
            if (method, path) == ("POST", "/control/people"):
                person = self.platform.enrol(
                    certno=str(data["certno"]),
                    name=str(data["name"]),
                    category=str(data["category"]),
                    balance=_whole(data["balance_fen"]),
                    medical_assistance=bool(data.get("medical_assistance", False)),
                )
                return 200, {"psn_no": person.psn_no}
            if (method, path) == ("GET", "/control/state"):
                return 200, self.state()
        except (KeyError, TypeError, ValueError, InvalidInput) as bad:
            return 400, {"error": f"bad control request: {bad!r}"}
        return 404, {"error": "no such control path"}

    def state(self) -> dict[str, Any]:
        """What the platform holds, in fen (for tests and operators)."""
        p = self.platform
        with p._lock:
            return {
                "received": list(p.received),
                "people": [
                    {"psn_no": x.psn_no, "certno": x.certno, "balance_fen": x.balance}
                    for x in p.people.values()
                ],
                "settlements": [
                    {
                        "setl_id": s.setl_id,
                        "mdtrt_id": s.visit.mdtrt_id,
                        "msgid": s.msgid,
                        "cancelled": s.cancelled,
                        "medfee_fen": s.settlement.medfee_sumamt,
                        "fund_fen": s.settlement.fund_pay_sumamt,
                        "acct_fen": s.settlement.acct_pay,
                        "cash_fen": s.settlement.psn_cash_pay,
                    }
                    for s in p.settlements.values()
                ],
                "visits": [
                    {"mdtrt_id": v.mdtrt_id, "status": v.status, "fees": len(v.fees)}
                    for v in p.visits.values()
                ],
            }


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("balance_fen: a whole number of fen, at least 0")
    return value


def _mode(value: object) -> FaultMode:
    if value not in ("timeout", "late", "fail", "drop"):
        raise ValueError("mode: timeout, late, fail or drop")
    return value


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
}


async def _respond(writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
    data = encode(body)
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + data)
    await writer.drain()


async def start(simulator: Simulator, host: str, port: int) -> asyncio.Server:
    """Listen on host:port (port 0: a free one)."""
    return await asyncio.start_server(simulator.serve, host, port, limit=MAX_HEADER_BYTES)


async def serve_forever(
    simulator: Simulator, host: str, port: int, ready: Callable[[str], None]
) -> None:
    """Listen and serve until cancelled; `ready` gets the base URL once listening."""
    server = await start(simulator, host, port)
    bound = server.sockets[0].getsockname()
    ready(f"http://{bound[0]}:{bound[1]}")
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def running(simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `simulator` on a thread of its own; yields its base URL (tests, the demo)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        box["server"] = loop.run_until_complete(start(simulator, host, port))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="nhsa-simulator", daemon=True)
    thread.start()
    ready.wait(10)
    server: asyncio.Server = box["server"]
    bound = server.sockets[0].getsockname()
    try:
        yield f"http://{bound[0]}:{bound[1]}"
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(server), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def _shutdown(server: asyncio.Server) -> None:
    """Stop listening, end the connections still open (a held `timeout`), stop the threads."""
    server.close()
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.wait_closed()
    await asyncio.get_running_loop().shutdown_default_executor()
