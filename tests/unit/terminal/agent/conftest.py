"""A fake server speaking the offline wire API (httpx.MockTransport), a fake edge vision, and
an agent wired to both: the terminal agent's unit tests run without a real server or models."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.adapters.interchange import read_document
from facepay.terminal.agent.keys import load_sealing_key
from facepay.terminal.agent.link import ServerLink
from facepay.terminal.agent.offline import Liveness, Probe
from facepay.terminal.agent.service import Agent
from facepay.terminal.agent.store import AgentStore
from facepay.terminal.agent.sync import PackageKeeper
from facepay.terminal.protocol import (
    LIBRARY_KIND,
    LIMITS_KIND,
    OfflineLimits,
    b64,
    digest,
    ed25519_public_raw,
    library_context,
    open_voucher,
    peek_voucher,
    seal,
    sign_document,
)
from facepay.vision.liveness import ChallengeStore, issue_challenge

POLICY = Path(__file__).resolve().parents[4] / "src" / "facepay" / "policies" / "employee-2026.yaml"
TERMINAL = "trm_lobby"
HOSPITAL = "hsp_1"
MODEL = "fake-v1"
DIM = 8


def unit(index: int, wobble: float = 0.0) -> np.ndarray:
    """A unit vector near axis `index` (wobble tilts it towards the next axis)."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[index] = 1.0
    vector[(index + 1) % DIM] = wobble
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def bill_document(unit_price: int) -> dict[str, Any]:
    """An outpatient bill of one class-A line."""
    return {
        "visit_type": "outpatient",
        "hospital_tier": 3,
        "service_date": "2026-03-01",
        "lines": [
            {"code": "A01", "name": "consultation", "item_class": "A",
             "unit_price": unit_price, "quantity": "1"},
        ],
    }  # fmt: skip


def person(
    person_id: str, axis: int, bills: dict[str, int], *, account: int = 5_000, used: int = 180_000
) -> dict[str, Any]:
    """A library person: one template on `axis`, open bills {bill_id: fen}, deductible used."""
    return {
        "person_id": person_id,
        "display_name": person_id[:1] + "*",
        "category": "employee_active",
        "medical_assistance": False,
        "templates": [
            {"template_id": f"tpl_{person_id}", "model_version": MODEL,
             "embedding": b64(unit(axis).astype("<f4").tobytes())},
        ],
        "accumulators": {"year": 2026, "outpatient_deductible_used": used},
        "account_available_fen": account,
        "bills": [
            {"bill_id": bill_id, "total_fen": fen, "bill": bill_document(fen)}
            for bill_id, fen in bills.items()
        ],
    }  # fmt: skip


@dataclass
class FakeServer:
    """The server side of the offline wire API, in memory, with hooks to cut the network."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    terminal_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    limits: OfflineLimits = field(default_factory=OfflineLimits)
    persons: list[dict[str, Any]] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    sealing_key: bytes | None = None
    issued_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    clock_skew: timedelta = timedelta(0)
    """Added to the time the server says it is (the terminal's clock is the test's)."""
    version: int = 0
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    """bill id -> difference the authoritative settlement finds."""
    quarantine_bills: set[str] = field(default_factory=set)
    last_counter: int = 0
    last_hash: str = "0" * 64
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    cut: Callable[[httpx.Request], str | None] = lambda _request: None
    """Returns "before" (connection refused), "after" (processed, answer lost) or None."""
    max_skew: timedelta = timedelta(minutes=5)
    hold_once: set[int] = field(default_factory=set)
    """Counters the server answers `held` once (as if an earlier one had not arrived)."""
    paid_bills: dict[str, str] = field(default_factory=dict)
    """Online: bill id -> the idempotency key that paid it."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        when = self.cut(request)
        if when == "before":
            raise httpx.ConnectError("connection refused", request=request)
        now = datetime.now(UTC) + self.clock_skew
        signed_at = int(request.headers["X-Facepay-Timestamp"])
        date = {"Date": now.strftime("%a, %d %b %Y %H:%M:%S GMT")}
        if abs(signed_at - now.timestamp()) > self.max_skew.total_seconds():
            return httpx.Response(401, json={"code": "timestamp_out_of_window"}, headers=date)
        response = self._route(request, now)
        response.headers.update(date)
        if when == "after":
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    def _route(self, request: httpx.Request, now: datetime) -> httpx.Response:
        path = request.url.path
        if path == "/v1/terminal/sealing-key":
            self.sealing_key = base64.b64decode(json.loads(request.content)["public_key"])
            return httpx.Response(200, json={"terminal_id": TERMINAL, "key_id": "k"})
        if path == "/v1/terminal/offline-package":
            return httpx.Response(200, json=self.package(now))
        if path == "/v1/terminal/vouchers":
            body = json.loads(request.content)
            return httpx.Response(
                200, json={"results": [self.voucher(v) for v in body["vouchers"]]}
            )
        return self._online(request, path, now)

    def _online(self, request: httpx.Request, path: str, now: datetime) -> httpx.Response:
        if path == "/v1/liveness/challenges":
            body = issue_challenge(now=now).to_json()
            return httpx.Response(201, json=body)
        if path == "/v1/identifications":
            return httpx.Response(201, json={
                "identification_id": "idn_1", "decision": "match", "person_id": "per_a",
                "needs_second_factor": False, "display_name": "p*"})  # fmt: skip
        bill_id = path.split("/")[3] if path.startswith("/v1/bills/") else ""
        if path.endswith("/presettlement"):
            if bill_id in self.paid_bills:
                return httpx.Response(409, json={"code": "bill_paid", "detail": "paid"})
            return httpx.Response(200, json={"split": {}, "second_factor_required": False})
        if path.endswith("/payments"):
            key = request.headers["Idempotency-Key"]
            receipt = {"settlement_id": f"stl_{bill_id}", "split": {"psn_cash_pay": 0}}
            if self.paid_bills.get(bill_id) == key:
                return httpx.Response(201, json={**receipt, "replayed": True})
            if bill_id in self.paid_bills:
                return httpx.Response(409, json={"code": "bill_paid", "detail": "paid"})
            self.paid_bills[bill_id] = key
            return httpx.Response(201, json={**receipt, "replayed": False})
        return httpx.Response(404, json={"code": "not_found"})

    def package(self, now: datetime) -> dict[str, Any]:
        self.version += 1
        version = f"lib-{self.version}"
        library = None
        sha = None
        if self.sealing_key is not None:
            plain = json.dumps({
                "kind": LIBRARY_KIND, "version": version, "terminal_id": TERMINAL,
                "hospital_id": HOSPITAL, "issued_at": self.issued_at.isoformat(),
                "policies": [{"id": "example-employee-2026", "document": read_document(POLICY)}],
                "persons": self.persons,
            }, default=str).encode()  # fmt: skip
            sealed = seal(self.sealing_key, plain, context=library_context(TERMINAL, version))
            sha = digest(sealed)
            library = {"version": version, "sealed": b64(sealed), "persons": len(self.persons)}
        limits = sign_document(
            self.key,
            {
                "kind": LIMITS_KIND, "version": f"lim-{self.version}", "terminal_id": TERMINAL,
                "hospital_id": HOSPITAL, "issued_at": self.issued_at.isoformat(),
                "limits": self.limits.to_json(), "deny": self.deny,
                "library_version": version if library else None, "library_sha256": sha,
                "face": {"model_version": MODEL, "match_threshold": 900_000, "margin": 50_000},
                "face_pay_limit_fen": 200_000,
            },
        )  # fmt: skip
        return {
            "limits": limits,
            "server_public_key": b64(ed25519_public_raw(self.key)),
            "library": library,
            "server_time": now.isoformat(),
        }

    def voucher(self, signed: dict[str, str]) -> dict[str, Any]:
        claimed = peek_voucher(signed)
        if claimed.id in self.results:
            return {**self.results[claimed.id], "replayed": True}
        base = {"voucher_id": claimed.id, "counter": claimed.counter, "replayed": False,
                "settlement_id": None, "difference": {"kind": "none", "amount_fen": 0},
                "person_id": claimed.person_id, "message": ""}  # fmt: skip
        try:
            voucher, hashed = open_voucher(signed, ed25519_public_raw(self.terminal_key))
        except Exception:
            return self._final(base, "quarantined", "signature_bad")
        if voucher.counter in self.hold_once:
            self.hold_once.discard(voucher.counter)
            return {**base, "status": "held", "reason": "counter_gap"}
        if voucher.counter > self.last_counter + 1:
            return {**base, "status": "held", "reason": "counter_gap"}
        if voucher.counter <= self.last_counter:
            return self._final(base, "quarantined", "counter_reused")
        if voucher.prev_hash != self.last_hash:
            return self._final(base, "quarantined", "chain_broken")
        self.last_counter, self.last_hash = voucher.counter, hashed
        if voucher.bill_id in self.quarantine_bills:
            return self._final(base, "quarantined", "evidence_rejected")
        self.posted.append(voucher.id)
        difference = self.differences.get(voucher.bill_id, {"kind": "none", "amount_fen": 0})
        message = f"{difference['kind']} of {difference['amount_fen']} fen"
        return self._final(
            {**base, "settlement_id": f"stl_{voucher.counter}", "difference": difference,
             "message": message if difference["kind"] != "none" else ""},
            "posted",
            None,
        )  # fmt: skip

    def _final(self, base: dict[str, Any], status: str, reason: str | None) -> dict[str, Any]:
        result = {**base, "status": status, "reason": reason}
        self.results[base["voucher_id"]] = result
        return result


@dataclass
class FakeVision:
    """Edge vision that sees whoever the test puts in front of it."""

    probe: Probe = field(default_factory=lambda: Probe(unit(0), live()))
    model_version: str = MODEL
    seen: int = 0

    def examine(self, capture: Any, *, book: ChallengeStore, now: datetime, embed: bool) -> Probe:
        self.seen += 1
        return self.probe


def live() -> Liveness:
    return Liveness(True, "Thank you.", ("blink", "turn_left"), {"active": 1_000_000}, 20)


def capture_body() -> dict[str, Any]:
    """A tiny but valid CaptureCreate body (the fake vision does not look at the pixels)."""
    ok, png = cv2.imencode(".png", np.zeros((32, 32, 3), dtype=np.uint8))
    assert ok
    image = base64.b64encode(png.tobytes()).decode()
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "frames": [{"t": 0.1 * i, "image": image} for i in range(3)],
    }


@pytest.fixture
def server() -> FakeServer:
    return FakeServer(
        persons=[
            person("per_a", 0, {"bil_a1": 10_000, "bil_a2": 20_000, "bil_a3": 5_000,
                                "bil_a4": 6_000, "bil_big": 60_000}),
            person("per_b", 3, {"bil_b1": 8_000}),
        ]
    )  # fmt: skip


@dataclass
class Wired:
    """An agent on a fake server."""

    agent: Agent
    server: FakeServer
    vision: FakeVision
    store: AgentStore
    http: httpx.Client

    def reopen(self) -> Wired:
        """The same data folder opened again, as after a restart."""
        self.store.close()
        return wire(self.store.folder, self.server)


def wire(folder: Path, server: FakeServer) -> Wired:
    store = AgentStore(folder)
    store.pin("terminal_id", TERMINAL)
    http = httpx.Client(base_url="http://server", transport=httpx.MockTransport(server.handler))
    link = ServerLink(http, terminal_id=TERMINAL, key=server.terminal_key, store=store)
    vision = FakeVision()
    keeper = PackageKeeper(
        store=store,
        link=link,
        sealing_key=load_sealing_key(folder),
        terminal_id=TERMINAL,
        model_version=MODEL,
    )
    agent = Agent(
        store=store,
        link=link,
        keeper=keeper,
        vision=vision,
        signing_key=server.terminal_key,
        terminal_id=TERMINAL,
    )
    agent.start()
    return Wired(agent, server, vision, store, http)


@pytest.fixture
def wired(tmp_path: Path, server: FakeServer) -> Iterator[Wired]:
    folder = tmp_path / "agent"
    made = wire(folder, server)
    yield made
    made.http.close()
