"""The demo HIS's sockets, for real on loopback: the interface engine relays facepay's ACK and
loses exactly the message it is told to (answering AA itself), the MLLP inbox ACKs and records
each notification once, and the rest-hook receiver takes only what facepay's key signed."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from facepay.demo.his import Charge, ChargeLine, Ledger
from facepay.demo.his_wire import HookReceiver, InterfaceEngine, MllpInbox, MllpSender
from facepay.terminal.signing import sign_request

REF = "OP20260504-0001"


def notification(control: str, ref: str = REF, total: str = "25.50") -> str:
    return "\r".join([
        f"MSH|^~\\&|FACEPAY|hsp_1|DEMOHIS||20260504090000||DFT^P03^DFT_P03|{control}|P|2.5",
        "EVN|P03|20260504090000",
        "PID|1||MR1^^^HIS^MR",
        f"PV1|1|O|||||||||||||||||{ref}",
        f"FT1|1|bil_1|stl_1|20260504|20260504|PY|TOTAL^医疗费总额|||1|{total}",
    ])  # fmt: skip


@pytest.fixture
def ledger() -> Ledger:
    made = Ledger()
    made.charged(Charge(REF, "mllp", (ChargeLine("A1", "x", "A", 2_550),), datetime.now(UTC)))
    return made


def test_the_engine_relays_acks_and_loses_exactly_what_it_is_told(ledger: Ledger) -> None:
    inbox = MllpInbox(ledger)  # stands in for facepay's listener: it ACKs DFT^P03 AA
    with inbox.running() as upstream:
        engine = InterfaceEngine(("127.0.0.1", upstream), lose={"LOST-1"})
        with engine.running() as port:
            sender = MllpSender("127.0.0.1", port)
            try:
                relayed = sender.send(notification("hsp_1:1"))
                lost = sender.send(notification("LOST-1"))
                again = sender.send(notification("hsp_1:2"))
            finally:
                sender.close()
    assert (relayed.code, relayed.control_id) == ("AA", "hsp_1:1")
    assert (lost.code, lost.control_id) == ("AA", "LOST-1")  # the engine's own ACK
    assert again.code == "AA"
    assert inbox.received == 2  # the lost one never reached the other side
    assert (engine.relayed, engine.lost, engine.lose) == (2, ["LOST-1"], set())


def test_the_inbox_records_each_event_once_and_refuses_what_it_cannot_read(
    ledger: Ledger,
) -> None:
    inbox = MllpInbox(ledger)
    with inbox.running() as port:
        sender = MllpSender("127.0.0.1", port)
        try:
            first = sender.send(notification("hsp_1:5"))
            repeat = sender.send(notification("hsp_1:5", total="99.00"))
            bad = sender.send(notification("hsp_1:6", total="1.234"))
            other = sender.send(notification("hsp_1:7").replace("DFT^P03^DFT_P03", "ADT^A08"))
        finally:
            sender.close()
    assert [a.code for a in (first, repeat, bad, other)] == ["AA", "AA", "AE", "AR"]
    assert ledger.get(REF).heard == {"mllp": 2_550}  # the repeat changed nothing
    assert ledger.repeats == 1


@pytest.fixture
def hook(ledger: Ledger) -> Iterator[tuple[HookReceiver, str, Ed25519PrivateKey]]:
    key = Ed25519PrivateKey.generate()
    receiver = HookReceiver(ledger, "hsp_1")
    with receiver.running() as url:
        yield receiver, url, key


def _bundle(event: str) -> bytes:
    invoice = {"resourceType": "Invoice", "status": "balanced",
               "identifier": [{"system": "https://facepay.dev/fhir/sid/his-invoice",
                               "value": REF}],
               "totalNet": {"value": 25.50, "currency": "CNY"}}  # fmt: skip
    return json.dumps({"resourceType": "Bundle", "type": "history",
                       "identifier": {"value": event},
                       "entry": [{"resource": invoice}]}).encode()  # fmt: skip


def _post(url: str, body: bytes, key: Ed25519PrivateKey, **signing: object) -> httpx.Response:
    path = "/" + url.split("/", 3)[3]
    headers = sign_request(key, "POST", path, body, terminal_id="facepay-server", **signing)  # type: ignore[arg-type]
    return httpx.post(url, content=body, headers=headers)


def test_the_hook_takes_only_what_facepay_signed(
    hook: tuple[HookReceiver, str, Ed25519PrivateKey], ledger: Ledger
) -> None:
    receiver, url, key = hook
    body = _bundle("hsp_1:9")
    assert _post(url, body, key).status_code == 401  # no Subscription key trusted yet
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    receiver.trust(base64.b64encode(raw).decode())
    forged = _post(url, body, Ed25519PrivateKey.generate())
    stale = _post(url, body, key, timestamp=int(datetime.now(UTC).timestamp()) - 3_600)
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert ledger.get(REF).heard == {}
    assert _post(url, body, key, nonce="n" * 22).status_code == 204
    assert _post(url, body, key, nonce="n" * 22).status_code == 401  # a replayed nonce
    assert _post(url, body, key).status_code == 204  # the same event again: dropped
    assert _post(url, b"{not json", key).status_code == 400
    assert ledger.get(REF).heard == {"fhir": 2_550}
    assert ledger.repeats == 1
    assert receiver.refused == ["no key yet", "bad_signature", "timestamp_out_of_window",
                                "nonce_replayed", "unreadable"]  # fmt: skip


def test_the_hook_refuses_a_bad_or_huge_length_without_reading_it(
    hook: tuple[HookReceiver, str, Ed25519PrivateKey],
) -> None:
    _, url, _ = hook
    host, port = url.split("/")[2].split(":")
    for length, status in (("x1", b"400"), (str(2 << 20), b"413")):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(f"POST /fhir-hook HTTP/1.1\r\nHost: h\r\nContent-Length: {length}\r\n"
                         "Connection: close\r\n\r\n".encode())  # fmt: skip
            assert conn.recv(64).split()[1] == status
