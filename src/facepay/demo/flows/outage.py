"""The afternoon's network outage at the pharmacy window, through a real terminal agent.

The window's agent (`facepay.terminal.agent`, opened in this process on the demo's face engine,
its local API served on loopback as `facepay terminal run` serves it) reaches the server only
through a `NetCut`. The patient, enrolled at the lobby kiosk, pays one bill online through the
agent; the network is cut; three bills are paid offline (signed vouchers on the agent's disk,
the insurance share provisional); meanwhile the lobby kiosk, still online, takes another bill
from the patient's personal account, so the last voucher's authoritative settlement has less
account to draw on and becomes arrears. The network comes back, the outbox drains, and the
walk checks voucher by voucher that the agent and the server agree (status, counter,
settlement, difference), that every bill is paid once, and that the agent shows the arrears at
the patient's next visit.

The agent's background loop runs as in production; after the restore the walk runs one round
of it at once (`Agent.tick`) instead of waiting for the offline retry timer (10 s).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from facepay.demo.in_thread import serve_in_thread
from facepay.demo.netcut import NetCut
from facepay.demo.scenario import DemoError, expect
from facepay.demo.world import Site, register_person
from facepay.terminal.agent.api import create_app
from facepay.terminal.agent.runtime import open_agent
from facepay.terminal.agent.service import Agent
from facepay.terminal.agent.vision import LocalVision
from facepay.terminal.agent_kiosk import AgentKiosk, AgentPayment
from facepay.terminal.capture import SubjectSource
from facepay.terminal.kiosk import Kiosk
from facepay.vision.engine import FaceEngine
from facepay.vision.image import load_image
from facepay.vision.liveness.evaluation import faces_camera
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo

GROUP_PHOTO = "t1.jpg"
"""The patient is the last face of the group photo that looks at the camera: the kiosk
scenario enrols that face and then erases it (its consent-withdrawal step), and the 1:N
duplicate screen spans every hospital, so no other face of the sample photos is free."""
ACCOUNT_FEN = 30_000
ONLINE_FEN = 5_000
OFFLINE_FEN = (8_000, 6_000, 10_000)
ELSEWHERE_FEN = 10_000
"""Chosen so that only the last voucher runs out of personal account: after the online bill
250 yuan are left; the lobby takes 100 while the window is offline; at sync 80 and 60 still come
from the account and the last 100 finds 10 there: 90 yuan of arrears. Every bill stays under
the outpatient deductible, so the fund pays nothing and the account is the only difference."""
ATTEMPTS = 4


@dataclass(frozen=True)
class OutageKit:
    """What the outage needs beyond the site: the face models, the sample photos, and a folder
    for the agent's data and key (0700)."""

    engine: FaceEngine
    images_dir: Path
    folder: Path


@dataclass
class _Cast:
    """What the outage is played with: the window terminal, its key, the patient and bills."""

    window: dict[str, Any]
    folder: Path
    key_file: Path
    face: Subject
    patient: dict[str, Any]
    online: dict[str, Any]
    offline: list[dict[str, Any]]
    elsewhere: dict[str, Any]


class _Laps:
    """Milliseconds per phase of the walk, for the report (the demo's added time)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._last = self._first = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = round((now - self._last) * 1000, 1)
        self._last = now

    def total(self) -> float:
        return round((time.perf_counter() - self._first) * 1000, 1)


def walk(site: Site, http: httpx.Client, *, today: date, kit: OutageKit) -> dict[str, Any]:
    """The outage, walked; its report (every payment, the sync results, the check)."""
    laps = _Laps()
    limits = expect(site.admin.request("GET", "/v1/offline-limits"), 200)
    cast = _cast(site, kit, today)
    report: dict[str, Any] = {
        "terminal_id": cast.window["id"],
        "terminal_kind": "window",
        "limits": {k: v for k, v in limits.items() if k != "hospital_id"},
        "patient": {"person_id": cast.patient["person_id"], "account_fen": ACCOUNT_FEN},
        "payments": [],
    }
    laps.lap("set_up")
    upstream = int(str(http.base_url.port))
    with NetCut(upstream) as cut, _agent(cut, cast, kit) as (agent, local):
        agent.keeper.refresh()  # the loop's first round does the same; the walk needs it now
        laps.lap("agent_start")
        kiosk = AgentKiosk(local, SubjectSource(cast.face, 710), attempts=ATTEMPTS)
        paid = kiosk.pay(cast.online["id"])
        report["payments"].append(_seen("online", cast.online, paid))
        agent.keeper.refresh()  # the library's account snapshot after the online payment
        report["library"] = kiosk.status()["library"]
        laps.lap("online")
        cut.cut()
        for index, made in enumerate(cast.offline):
            if index == len(cast.offline) - 1:
                report["elsewhere"] = _pay_elsewhere(site, cast.patient, cast.elsewhere)
            kiosk.source = SubjectSource(cast.face, 720 + index)
            paid = kiosk.pay(made["id"])
            if paid.mode != "offline":
                raise DemoError(f"the payment of {made['id']} was not offline: {paid.body}")
            report["payments"].append(_seen("offline", made, paid))
        report["while_offline"] = _status_of(kiosk.status())
        laps.lap("offline")
        cut.restore()
        report["sync"] = _drain(agent)
        report["after_sync"] = _status_of(kiosk.status())
        report["notices"] = kiosk.notices(cast.patient["person_id"])
        report["netcut"] = vars(cut.counters)
        rows = agent.store.vouchers()
        laps.lap("sync")
    report["server"] = _server_view(site, cast.window["id"])
    report["bills"] = {
        b["id"]: expect(site.cashier.request("GET", f"/v1/bills/{b['id']}"), 200)["status"]
        for b in (cast.online, *cast.offline, cast.elsewhere)
    }
    differences = [v["difference"] for v in report["server"]]
    report["arrears_fen"] = sum(d["amount_fen"] for d in differences if d["kind"] == "arrears")
    report["disagreements"] = _disagreements(report, rows)
    report["agree"] = not report["disagreements"]
    laps.lap("check")
    report["phase_ms"] = laps.ms
    report["took_ms"] = laps.total()
    return report


def _cast(site: Site, kit: OutageKit, today: date) -> _Cast:
    """The window terminal (its key in a folder of its own), the patient enrolled at the lobby
    kiosk with a small personal account, and their bills, posted before the agent's first
    package so that the library holds them."""
    window = expect(
        site.admin.request("POST", "/v1/terminals", {"name": "pharmacy-window", "kind": "window"}),
        201,
    )
    folder = kit.folder / window["id"]  # a new one each run
    key_file = _key_file(folder, window["private_key_pem"])
    group = load_image(kit.images_dir / GROUP_PHOTO)
    face = [s for s in subjects_from_photo(kit.engine, group, "t1", "t1") if faces_camera(s)][-1]
    patient = register_person(
        site.operator, serial=300_000 + secrets.randbelow(10**6), name="Window Patient",
        fund_fen=ACCOUNT_FEN,
    )  # fmt: skip
    Kiosk(site.kiosk, SubjectSource(face, 700), attempts=ATTEMPTS).enrol(
        patient, face.image, consent_purpose="pay hospital bills by face"
    )
    return _Cast(
        window=window,
        folder=folder,
        key_file=key_file,
        face=face,
        patient=patient,
        online=_bill(site, patient, ONLINE_FEN, today),
        offline=[_bill(site, patient, fen, today) for fen in OFFLINE_FEN],
        elsewhere=_bill(site, patient, ELSEWHERE_FEN, today),
    )


@contextmanager
def _agent(cut: NetCut, cast: _Cast, kit: OutageKit) -> Iterator[tuple[Agent, httpx.Client]]:
    """The window's agent on the demo's engine, its background loop running and its local API
    on a loopback port; yields the agent and a client of its local API."""
    running = open_agent(
        server=cut.url,
        key_file=cast.key_file,
        data=cast.folder / "agent",
        terminal=cast.window["id"],
        vision=lambda: LocalVision(kit.engine),
    )
    stop = threading.Event()
    loop = threading.Thread(target=running.agent.run, args=(stop,), daemon=True)
    loop.start()
    try:
        with (
            serve_in_thread(create_app(running.agent)) as url,
            httpx.Client(base_url=url, timeout=120) as local,
        ):
            yield running.agent, local
    finally:
        stop.set()
        running.agent.wake()
        loop.join(timeout=30)
        running.close()


def _key_file(folder: Path, pem: str) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "pharmacy-window.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(pem)
    return path


def _bill(site: Site, patient: dict[str, Any], fen: int, today: date) -> dict[str, Any]:
    """An outpatient dispensing bill of one class-A line."""
    body = {
        "external_ref": f"HIS-RX-{secrets.token_hex(5)}",
        "id_number": patient["id_number"],
        "visit_type": "outpatient",
        "hospital_tier": 3,
        "service_date": today.isoformat(),
        "lines": [{"code": "A-RX", "name": "dispensed medicine", "item_class": "A",
                   "unit_price": fen, "quantity": "1"}],
    }  # fmt: skip
    return expect(site.cashier.request("POST", "/v1/bills", body), 201)


def _pay_elsewhere(site: Site, patient: dict[str, Any], made: dict[str, Any]) -> dict[str, Any]:
    """The lobby kiosk, still online, takes a bill from the personal account (by card)."""
    ident = site.identify_by_card(patient)
    receipt = expect(
        site.kiosk.request(
            "POST",
            f"/v1/bills/{made['id']}/payments",
            {"identification_id": ident["identification_id"]},
            headers={"Idempotency-Key": f"outage-{secrets.token_hex(8)}"},
        ),
        201,
    )
    split = receipt["split"]
    return {
        "bill_id": made["id"],
        "total_fen": made["total"],
        "acct_pay": split["acct_pay"],
        "psn_cash_pay": split["psn_cash_pay"],
        "settlement_id": receipt["settlement_id"],
    }


def _seen(mode: str, made: dict[str, Any], paid: AgentPayment) -> dict[str, Any]:
    body = paid.body
    row: dict[str, Any] = {
        "expected_mode": mode,
        "mode": paid.mode,
        "bill_id": made["id"],
        "total_fen": made["total"],
        "retakes": paid.retakes,
        "message": body["message"],
        "provisional": body["provisional"],
    }
    if paid.mode == "online":
        receipt = body["receipt"]
        row.update(settlement_id=receipt["settlement_id"], acct_pay=receipt["split"]["acct_pay"],
                   cash_fen=receipt["split"]["psn_cash_pay"])  # fmt: skip
    else:
        voucher = body["voucher"]
        row.update(
            voucher_id=voucher["id"],
            counter=voucher["counter"],
            acct_pay=body["split"]["acct_pay"],
            cash_fen=body["cash_collected_fen"],
        )
    return row


def _status_of(status: dict[str, Any]) -> dict[str, Any]:
    return {"mode": status["mode"], "outbox": status["outbox"], "counter": status["counter"]}


def _drain(agent: Agent, rounds: int = 5) -> list[dict[str, Any]]:
    """One round of the agent's loop (refresh, drain) now, repeated while vouchers wait (a
    round that raced the restore); the results the agent stored, in counter order."""
    for _ in range(rounds):
        agent.tick(time.monotonic())
        if not agent.store.unsynced(1):
            break
        time.sleep(0.2)
    return [
        {"voucher_id": row.voucher_id, "counter": row.counter, "outbox": row.status,
         **{k: (row.result or {}).get(k) for k in ("status", "settlement_id", "difference",
                                                   "reason", "replayed")}}
        for row in agent.store.vouchers()
    ]  # fmt: skip


def _server_view(site: Site, terminal_id: str) -> list[dict[str, Any]]:
    """The site's vouchers of the window, as the auditor reads them."""
    page = expect(
        site.auditor.request("GET", f"/v1/offline-vouchers?terminal={terminal_id}&limit=200"), 200
    )
    keep = ("id", "counter", "status", "reason", "bill_id", "cash_collected_fen", "settlement_id",
            "difference", "message")  # fmt: skip
    return [{k: v[k] for k in keep} for v in page["items"]]


def _disagreements(report: dict[str, Any], rows: list[Any]) -> list[str]:
    """Every way the agent, the server and the walk's expectations differ (empty: they agree)."""
    problems: list[str] = []
    server = {v["id"]: v for v in report["server"]}
    if set(server) != {row.voucher_id for row in rows}:
        problems.append(
            f"vouchers: agent {sorted(r.voucher_id for r in rows)}, server {sorted(server)}"
        )
    for row in rows:
        seen = server.get(row.voucher_id)
        result = row.result or {}
        if seen is None:
            continue
        mine = (row.counter, result.get("status"), result.get("settlement_id"),
                result.get("difference"),
                row.cash_fen)  # fmt: skip
        theirs = (seen["counter"], seen["status"], seen["settlement_id"], seen["difference"],
                  seen["cash_collected_fen"])  # fmt: skip
        if mine != theirs:
            problems.append(f"voucher {row.voucher_id}: agent {mine}, server {theirs}")
    for payment in report["payments"]:
        if payment["mode"] != payment["expected_mode"]:
            problems.append(f"bill {payment['bill_id']} was paid {payment['mode']}")
    unpaid = sorted(bill for bill, status in report["bills"].items() if status != "paid")
    if unpaid:
        problems.append(f"bills not paid: {unpaid}")
    owed = sum(n["amount_fen"] for n in report["notices"] if n["kind"] == "arrears")
    if owed != report["arrears_fen"]:
        problems.append(f"arrears: the agent tells the patient {owed}, the server booked "
                        f"{report['arrears_fen']}")  # fmt: skip
    arrears_cases = [v for v in report["server"] if v["difference"]["kind"] == "arrears"]
    if len(arrears_cases) != 1:
        problems.append(f"{len(arrears_cases)} arrears cases, the walk expects one")
    if report["after_sync"]["outbox"]["depth"] != 0:
        problems.append(f"outbox not drained: {report['after_sync']['outbox']}")
    return problems
