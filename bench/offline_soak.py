"""Offline soak: >= 500 offline face payments across 4 terminal agents (real `facepay terminal run`
processes, each behind its own NetCut), with seeded random sync windows (restore, sync, cut
again), answers lost in the middle of a sync (the agent sends again: duplicates the server
refuses by replaying its first answer) and signed vouchers replayed straight to the server.
Then every network is restored and every outbox drained, and the check of the chaos tests runs:
server and terminals agree voucher by voucher, the ledger balances, each bill is settled once.

Prints the result table (vouchers, duplicates refused, held, quarantined, arrears cases, refunds
due, max outbox depth, sync throughput, time, load average) and exits 1 if the check fails.

    .venv/bin/python bench/offline_soak.py [--payments 500] [--terminals 4]
        [--database-url postgresql+psycopg://...] [--seed 12]

The patients are the test photographs (scripts/test-data), enrolled by a real capture; the
captures are synthetic (test data). SQLite (a file in a temporary folder) unless a URL is given.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from facepay.bootstrap import build_face_engine
from facepay.client import StaffSession
from facepay.config import Settings
from facepay.demo import kiosk
from facepay.demo.netcut import NetCut
from facepay.demo.process import OPERATOR_PASSWORD
from facepay.demo.scenario import expect
from facepay.demo.world import Site, make_site, register_person
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import subjects_from_photo

# The chaos tests' kit (servers, agents, the agreement check) is shared with this bench.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.chaos_kit import LIMITS, Server, Terminal, check_agreement, offline_bill
from tests.e2e.conftest import SERVED_ENV

IMAGES = Path(__file__).resolve().parent.parent / ".test-data" / "images"
PATIENTS = (
    ("obama2.jpg", "obama.jpg"),
    ("biden.jpg", "biden.jpg"),
)
"""Face, chip photo of the distinct patients (the photographs scripts/test-data fetches);
terminal i serves patient i % 2, so two terminals share each patient (and can spend that
patient's account twice offline: arrears). (Tom_Hanks_54745.png fails local liveness when
animated; 32bit.png is a face already enrolled.)"""
LIBRARY_BILLS = 20
"""The offline library holds a patient's 20 newest open bills."""


@dataclass
class Patient:
    """A terminal's patient: card, face, and the open bills the terminal may pay offline."""

    card: dict[str, Any]
    face: Any
    keep: int = LIBRARY_BILLS
    """Open bills this terminal keeps (the library's 20, shared among the patient's terminals)."""
    open: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """What the soak saw from the terminals' side."""

    paid: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    replayed: int = 0
    held: int = 0
    max_depth: int = 0
    window: int = 0
    synced: int = 0
    sync_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def main() -> int:
    """Run the soak; 0 if server and terminals agree and the ledger balances."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--terminals", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="facepay-soak-"))
    rates = ("TERMINAL_PER_SECOND", "TERMINAL_BURST", "STAFF_PER_SECOND", "STAFF_BURST")
    env = {**SERVED_ENV, **{f"FACEPAY_API_RATE_{name}": "5000" for name in rates}}
    if args.database_url:
        env["FACEPAY_DATABASE_URL"] = args.database_url
    engine = build_face_engine(Settings())
    server = Server(root / "server", env)
    http = httpx.Client(base_url=server.process.url, timeout=180)
    tally = Tally()
    terminals: list[Terminal] = []
    cuts: list[NetCut] = []
    try:
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        site = make_site(http, operator, serial=710)
        expect(site.admin.request("PUT", "/v1/offline-limits", LIMITS), 200)
        enrolled = []
        for seed, (face_file, chip_file) in enumerate(PATIENTS[: args.terminals]):
            # No personal account: a patient who owes arrears is denied offline payment (the
            # package's deny list), and the soak would stall on refusals after the first case.
            card = register_person(operator, serial=711 + seed, fund_fen=0)
            face = subjects_from_photo(engine, load_image(IMAGES / face_file), "p", "p")[0]
            chip = load_image(IMAGES / chip_file)
            done = kiosk.enrol(site.kiosk, card, chip, face, seed=seed)
            assert done.status_code == 201, done.text
            enrolled.append((card, face))
        people = []
        for index in range(args.terminals):
            card, face = enrolled[index % len(enrolled)]
            sharing = len(range(index % len(enrolled), args.terminals, len(enrolled)))
            person = Patient(card, face, keep=LIBRARY_BILLS // sharing)
            person.open = [offline_bill(site, card, 2_000 + n)["id"] for n in range(person.keep)]
            people.append(person)
        per_terminal = -(-args.payments // args.terminals)
        sessions = [site.kiosk] + [site.add_terminal("kiosk") for _ in range(args.terminals - 1)]
        for index, session in enumerate(sessions):
            cut = NetCut(server.port).start()
            cuts.append(cut)
            key = root / f"t{index}.pem"
            key.write_text(_pem(session))
            key.chmod(0o600)
            terminals.append(
                Terminal(
                    f"t{index}", session.terminal_id, key, root / f"agent-{index}", cut.url, env
                )
            )
        starters = [threading.Thread(target=t.start) for t in terminals]
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join()
        for terminal in terminals:
            _until(lambda t=terminal: t.api.get("/status").json()["library"]["persons"])
        setup = time.monotonic() - started
        print(f"set up in {setup:.1f} s: {args.terminals} agents", file=sys.stderr)
        soak_started = time.monotonic()
        workers = [
            threading.Thread(
                target=_walk,
                args=(
                    terminals[i],
                    cuts[i],
                    people[i],
                    per_terminal,
                    random.Random(args.seed * 100 + i),
                    tally,
                    site,
                ),
            )
            for i in range(args.terminals)
        ]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        for cut, terminal in zip(cuts, terminals, strict=True):
            cut.restore()
            _sync(terminal, tally)
        soak = time.monotonic() - soak_started
        try:
            seen = check_agreement(server, site, terminals)
            agreed = "yes"
        except AssertionError as error:
            print(f"DISAGREEMENT: {error}", file=sys.stderr)
            seen, agreed = None, f"NO: {error}"
        load = os.getloadavg()
        rows = [
            ("offline payments paid", tally.paid),
            ("offline payments refused", sum(tally.refused.values())),
            ("paid at the window meanwhile (card)", tally.window),
            ("refusals by code", dict(sorted(tally.refused.items())) or "-"),
            ("vouchers on the server", seen.vouchers if seen else "?"),
            ("posted", seen.posted if seen else "?"),
            ("duplicates refused (replayed)", tally.replayed),
            ("held answers (later released)", tally.held),
            ("held at the end", seen.held if seen else "?"),
            ("quarantined", seen.quarantined if seen else "?"),
            ("arrears cases", seen.arrears if seen else "?"),
            ("refunds due", seen.refunds_due if seen else "?"),
            ("max outbox depth", tally.max_depth),
            ("sync throughput (vouchers/s)",
             f"{tally.synced / tally.sync_seconds:.1f}" if tally.sync_seconds else "-"),
            ("soak time (s)", f"{soak:.1f}"),
            ("set-up time (s)", f"{setup:.1f}"),
            ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in load)),
            ("database", "postgresql" if args.database_url else "sqlite"),
            ("server and terminals agree, ledger balances", agreed),
        ]  # fmt: skip
        width = max(len(name) for name, _ in rows)
        print(f"| {'measure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
        for name, value in rows:
            print(f"| {name:<{width}} | {value} |")
        return 0 if agreed == "yes" else 1
    finally:
        for terminal in terminals:
            terminal.stop()
        for cut in cuts:
            cut.close()
        http.close()
        server.close()
        shutil.rmtree(root, ignore_errors=True)


def _walk(
    terminal: Terminal,
    cut: NetCut,
    patient: Patient,
    payments: int,
    rng: random.Random,
    tally: Tally,
    site: Site,
) -> None:
    """Pay `payments` bills offline (a refused attempt is counted, not paid), a seeded 3 to
    keep-1 between sync windows (restore, sync, new bills, sync, cut again); sometimes the
    window takes a bill by card meanwhile (spending the account the terminal's library still
    shows: arrears at sync)."""
    done = attempts = 0
    while done < payments and attempts < 2 * payments:
        cut.cut()
        for _ in range(min(rng.randint(3, patient.keep - 1), payments - done)):
            bill_id = patient.open.pop(0)
            answer = terminal.pay(bill_id, patient.face, seed=rng.randrange(1 << 30))
            attempts += 1
            with tally.lock:
                if answer.status_code == 201:
                    done += 1
                    tally.paid += 1
                else:
                    code = str(answer.json().get("code"))
                    tally.refused[code] = tally.refused.get(code, 0) + 1
            depth = terminal.api.get("/status").json()["outbox"]["depth"]
            with tally.lock:
                tally.max_depth = max(tally.max_depth, depth)
        if patient.open and rng.random() < 0.3:
            bill_id = patient.open.pop()
            _pay_at_the_window(site, patient, bill_id)
            with tally.lock:
                tally.window += 1
        if rng.random() < 0.3:
            # The server commits the upload, the answer is lost: the agent sends it again.
            cut.drop_answers(only=b"/v1/terminal/vouchers")
            _sync(terminal, tally, once=True)
        cut.restore()
        _sync(terminal, tally)
        while len(patient.open) < patient.keep:
            made = offline_bill(site, patient.card, 2_000 + rng.randrange(3_000))
            patient.open.append(made["id"])
        _sync(terminal, tally)  # the package again: the new bills in the library
        if rng.random() < 0.3:
            _replay(terminal, tally)
    cut.restore()


def _pay_at_the_window(site: Site, patient: Patient, bill_id: str) -> None:
    """The patient pays a bill at the window (ID card + insurance card), online."""
    ident = site.identify_by_card(patient.card)
    expect(
        site.kiosk.request(
            "POST",
            f"/v1/bills/{bill_id}/payments",
            {"identification_id": ident["identification_id"]},
            headers={"Idempotency-Key": f"window-{bill_id}"},
        ),
        201,
    )


def _sync(terminal: Terminal, tally: Tally, *, once: bool = False) -> None:
    for _ in range(1 if once else 6):
        began = time.monotonic()
        try:
            answer = terminal.api.post("/sync")
        except httpx.HTTPError:
            return
        spent = time.monotonic() - began
        if answer.status_code != 200:
            return
        done = answer.json()
        with tally.lock:
            tally.replayed += int(done["replayed"])
            tally.held += int(done["by_status"].get("held", 0))
            if done["sent"]:
                tally.synced += int(done["sent"])
                tally.sync_seconds += spent
        if done["outbox"]["depth"] == 0:
            return


def _replay(terminal: Terminal, tally: Tally) -> None:
    """Signed vouchers from the agent's store, straight to the server again."""
    from facepay.client import TerminalSession  # noqa: PLC0415

    stored = [v for v in terminal.stored() if v["status"] == "synced"][-10:]
    if not stored:
        return
    with httpx.Client(base_url=terminal.server_url, timeout=60) as http:
        session = TerminalSession.from_pem(
            http, terminal.terminal_id, terminal.key_file.read_text()
        )
        body = {"vouchers": [v["signed"] for v in reversed(stored)]}
        results = session.request("POST", "/v1/terminal/vouchers", body).json()["results"]
    with tally.lock:
        tally.replayed += sum(bool(r["replayed"]) for r in results)


def _pem(session: Any) -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return str(
        session.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
    )


def _until(condition: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise SystemExit("an agent did not load its offline library in time")


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C: the agents and the server are stopped by `main`'s finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
