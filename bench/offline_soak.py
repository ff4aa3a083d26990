"""Offline soak: >= 500 offline face payments across 4 terminal agents (real `facepay terminal run`
processes, each behind its own NetCut), with seeded random sync windows (restore, sync, cut
again), answers lost in the middle of a sync (the agent sends again: duplicates the server
refuses by replaying its first answer) and signed vouchers replayed straight to the server.
Then every network is restored and every outbox drained, and the check of the chaos tests runs:
server and terminals agree voucher by voucher, the ledger balances, each bill is settled once.

Prints the result table (vouchers, duplicates refused, held, quarantined, arrears cases, refunds
due, max outbox depth, sync throughput, time, load average) and exits 1 if the check fails.

    PYTHONPATH=src:. .venv/bin/python bench/offline_soak.py [--payments 500] [--terminals 4]
        [--database-url postgresql+psycopg://...] [--seed 12]

The patients are the test photographs (scripts/test-data), enrolled by a real capture; the
captures are synthetic (test data). SQLite (a file in a temporary folder) unless a URL is given.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.chaos_kit import LIMITS, Server, Terminal, check_agreement, offline_bill
from tests.e2e.conftest import SERVED_ENV

from facepay.bootstrap import build_face_engine
from facepay.client import StaffSession
from facepay.config import Settings
from facepay.demo import kiosk
from facepay.demo.netcut import NetCut
from facepay.demo.process import OPERATOR_PASSWORD
from facepay.demo.scenario import expect
from facepay.demo.world import make_site, register_person
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import subjects_from_photo

IMAGES = Path(__file__).resolve().parent.parent / ".test-data" / "images"
PATIENTS = (("obama2.jpg", "obama.jpg"), ("biden.jpg", "biden.jpg"))


@dataclass
class Tally:
    """What the soak saw from the terminals' side."""

    paid: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    replayed: int = 0
    held: int = 0
    max_depth: int = 0
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
        people = []
        for seed, (face_file, chip_file) in enumerate(PATIENTS):
            card = register_person(operator, serial=711 + seed, fund_fen=60_000)
            face = subjects_from_photo(engine, load_image(IMAGES / face_file), "p", "p")[0]
            done = kiosk.enrol(site.kiosk, card, load_image(IMAGES / chip_file), face, seed=seed)
            assert done.status_code == 201, done.text
            people.append((card, face))
        per_terminal = -(-args.payments // args.terminals)
        sessions = [site.kiosk] + [site.add_terminal("kiosk") for _ in range(args.terminals - 1)]
        plans: list[list[tuple[str, Any]]] = []
        for index in range(args.terminals):
            plan = []
            for n in range(per_terminal):
                card, face = people[(index + n) % len(people)]
                plan.append((offline_bill(site, card, 2_000 + n)["id"], face))
            plans.append(plan)
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
        print(f"set up in {setup:.1f} s: {args.terminals} agents, "
              f"{per_terminal * args.terminals} bills", file=sys.stderr)  # fmt: skip
        soak_started = time.monotonic()
        workers = [
            threading.Thread(
                target=_walk,
                args=(
                    terminals[i],
                    cuts[i],
                    plans[i],
                    random.Random(args.seed * 100 + i),
                    tally,
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


def _walk(
    terminal: Terminal,
    cut: NetCut,
    plan: list[tuple[str, Any]],
    rng: random.Random,
    tally: Tally,
) -> None:
    """Pay every bill of the plan offline; now and then (seeded) restore, sync and cut again."""
    cut.cut()
    for n, (bill_id, face) in enumerate(plan):
        answer = terminal.pay(bill_id, face, seed=rng.randrange(1 << 30))
        body = answer.json()
        with tally.lock:
            if answer.status_code == 201:
                tally.paid += 1
            else:
                code = str(body.get("code"))
                tally.refused[code] = tally.refused.get(code, 0) + 1
        depth = terminal.api.get("/status").json()["outbox"]["depth"]
        with tally.lock:
            tally.max_depth = max(tally.max_depth, depth)
        if rng.random() < 0.08 or n == len(plan) - 1:
            if rng.random() < 0.3:
                # The server commits the upload, the answer is lost: the agent sends it again.
                cut.drop_answers(only=b"/v1/terminal/vouchers")
                _sync(terminal, tally, once=True)
            cut.restore()
            _sync(terminal, tally)
            if rng.random() < 0.3:
                _replay(terminal, tally)
            cut.cut()
    cut.restore()


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
    sys.exit(main())
