"""What the terminal chaos tests and the offline soak bench share: a real `facepay serve` that can
be killed and started again on its data, real `facepay terminal run` agents behind one NetCut,
payments through an agent's local API with synthetic captures (test data), and the check that
ends every scenario: server and terminals agree voucher by voucher, the ledger balances, nothing
is lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from facepay.adapters.db.tables import account_deltas, accounts, bills, offline_vouchers
from facepay.config import Settings
from facepay.demo.netcut import NetCut
from facepay.demo.process import AgentProcess, ServerProcess, agent_process, serve_process
from facepay.demo.scenario import expect
from facepay.demo.world import Site
from facepay.ledger.accounts import AccountKind, account_id
from facepay.terminal.agent.store import AgentStore
from facepay.terminal.capture import SubjectSource, capture_body, challenge_of
from facepay.vision.liveness.synth.bona_fide import Subject

LIMITS = {
    "enabled": True,
    "per_payment_fen": 100_000,
    "cumulative_fen": 10_000_000,
    "per_patient_consecutive": 100,
    "per_terminal_consecutive": 5_000,
    "max_upload_age_seconds": 86_400,
    "max_library_age_seconds": 3_600,
    "refresh_seconds": 600,
}
"""Wide limits: the scenarios test the network and the processes, not the offline decision."""


class Server:
    """A `facepay serve` on a data folder, that a scenario may kill -9 and start again."""

    def __init__(self, folder: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        self.env = dict(env)
        self._stack = ExitStack()
        self.process: ServerProcess = self._stack.enter_context(serve_process(folder, env=env))

    @property
    def port(self) -> int:
        """The port it listens on now (a restart takes a new one)."""
        return int(self.process.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        """kill -9."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.process.wait(timeout=30)

    def restart(self) -> None:
        """Start again on the same data (after `kill`, or a clean stop)."""
        self._stack.close()
        self._stack = ExitStack()
        self.process = self._stack.enter_context(
            serve_process(self.folder, env=self.env, init=False)
        )

    def close(self) -> None:
        """Stop it."""
        self._stack.close()

    def database_url(self) -> str:
        """The database it runs on."""
        url = self.env.get("FACEPAY_DATABASE_URL")
        return url or Settings(data_dir=self.folder).resolved_database_url()


@dataclass
class Terminal:
    """One kiosk's agent process (restartable) and its local API."""

    name: str
    terminal_id: str
    key_file: Path
    data: Path
    server_url: str
    env: dict[str, str]
    agent: AgentProcess | None = None
    local: httpx.Client | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def start(self, **extra_env: str) -> Terminal:
        """Start the agent (keeping its local port across restarts)."""
        port = int(self.agent.url.rsplit(":", 1)[1]) if self.agent else None
        self._stack = ExitStack()
        self.agent = self._stack.enter_context(
            agent_process(
                server_url=self.server_url,
                key_file=self.key_file,
                data_dir=self.data,
                terminal_id=self.terminal_id,
                env={**self.env, **extra_env},
                port=port,
            )
        )
        self.local = self._stack.enter_context(httpx.Client(base_url=self.agent.url, timeout=120))
        return self

    def kill(self) -> None:
        """kill -9 the agent."""
        assert self.agent is not None
        os.kill(self.agent.process.pid, signal.SIGKILL)
        self.agent.process.wait(timeout=30)
        self._stack.close()

    def stop(self) -> None:
        """Stop it (SIGTERM)."""
        self._stack.close()

    @property
    def api(self) -> httpx.Client:
        """The local API."""
        assert self.local is not None
        return self.local

    def pay(
        self, bill_id: str, subject: Subject, *, seed: int, key: str | None = None
    ) -> httpx.Response:
        """Film the patient answering the agent's challenge, and pay `bill_id` (a capture that
        liveness refuses locally is filmed again, as a kiosk asks the patient to)."""
        for attempt in range(3):
            answer = self.challenge_and_pay(bill_id, subject, seed=seed, key=key, attempt=attempt)
            if answer.json().get("code") not in ("liveness_local", "liveness_retry"):
                return answer
        return answer

    def challenge_and_pay(
        self, bill_id: str, subject: Subject, *, seed: int, key: str | None, attempt: int = 0
    ) -> httpx.Response:
        """One challenge, one capture, one `POST /payments`."""
        challenge = expect(self.api.post("/challenges"), 201)
        recorded = SubjectSource(subject, seed).record(
            challenge_of(challenge), lambda _text: None, attempt=attempt
        )
        body: dict[str, Any] = {"bill_id": bill_id, "capture": capture_body(recorded)}
        if key is not None:
            body["idempotency_key"] = key
        return self.api.post("/payments", json=body)

    def sync(self) -> dict[str, Any]:
        """`POST /sync` until nothing waits (a held voucher may need a second round)."""
        for _ in range(5):
            done = expect(self.api.post("/sync"), 200)
            if done["outbox"]["depth"] == 0:
                return dict(done)
        return dict(done)

    def log_has(self, text: str) -> bool:
        """Whether the agent's output says `text`."""
        assert self.agent is not None
        return text in self.agent.log_file.read_text(errors="replace")

    def stored(self) -> list[dict[str, Any]]:
        """The agent's vouchers from its store (read while it runs: WAL)."""
        store = AgentStore(self.data, create=False)
        try:
            return [
                {"id": r.voucher_id, "counter": r.counter, "status": r.status,
                 "result": r.result, "bill_id": r.bill_id, "cash_fen": r.cash_fen,
                 "signed": r.signed}
                for r in store.vouchers()
            ]  # fmt: skip
        finally:
            store.close()


def offline_bill(site: Site, person: dict[str, Any], fen: int) -> dict[str, Any]:
    """An outpatient bill of one class-A line of `fen`, dated today."""
    return site.post_visit(fen, person=person)


def server_vouchers(site: Site, terminal_id: str) -> list[dict[str, Any]]:
    """Every voucher the server holds of a terminal (`GET /v1/offline-vouchers`, all pages)."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        path = f"/v1/offline-vouchers?terminal={terminal_id}&limit=200"
        page = expect(site.auditor.request("GET", path + (f"&after={after}" if after else "")), 200)
        found += page["items"]
        after = page["next"]
        if not after:
            return found


def status_json(terminal: Terminal) -> dict[str, Any]:
    """`facepay terminal status --json` (reads the store; works while the agent runs)."""
    from facepay.demo.process import run_cli  # noqa: PLC0415

    done = run_cli(["terminal", "status", "--data", str(terminal.data), "--json"], terminal.env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@dataclass
class Agreement:
    """What the check counted (the soak prints it)."""

    vouchers: int = 0
    posted: int = 0
    held: int = 0
    quarantined: int = 0
    arrears: int = 0
    refunds_due: int = 0


def check_agreement(
    server: Server, site: Site, terminals: list[Terminal], *, settled: bool = True
) -> Agreement:
    """Server and terminals agree voucher by voucher; the ledger balances; nothing is lost or
    doubled. `settled`: every voucher is synced by now (the outbox is empty)."""
    seen = Agreement()
    for terminal in terminals:
        mine = terminal.stored()
        theirs = {v["id"]: v for v in server_vouchers(site, terminal.terminal_id)}
        assert [v["counter"] for v in mine] == list(range(1, len(mine) + 1)), "counter gap"
        assert len(theirs) == len({v["counter"] for v in theirs.values()}), "a counter twice"
        if settled:
            assert {v["id"] for v in mine} == set(theirs), f"{terminal.name}: lost or foreign"
        for voucher in mine:
            if voucher["status"] == "synced" or settled:
                assert voucher["status"] == "synced", f"{terminal.name}: {voucher['id']} unsynced"
                there = theirs[voucher["id"]]
                assert there["counter"] == voucher["counter"]
                assert there["status"] == voucher["result"]["status"]
                assert there["settlement_id"] == voucher["result"]["settlement_id"]
                assert there["cash_collected_fen"] == voucher["cash_fen"]
                assert there["difference"] == voucher["result"]["difference"]
        for there in theirs.values():
            seen.vouchers += 1
            seen.posted += there["status"] == "posted"
            seen.held += there["status"] == "held"
            seen.quarantined += there["status"] == "quarantined"
            seen.arrears += there["difference"]["kind"] == "arrears"
            seen.refunds_due += there["difference"]["kind"] == "refund_due"
    check_ledger(server, [t.terminal_id for t in terminals])
    return seen


def _totals(connection: Any, ids: list[str] | None = None) -> tuple[int, int]:
    debit, credit = 0, 0
    for table in (accounts, account_deltas):
        key = table.c.id if table is accounts else table.c.account_id
        query = select(func.sum(table.c.debits_posted), func.sum(table.c.credits_posted))
        if ids is not None:
            query = query.where(key.in_(ids))
        row = connection.execute(query).one()
        debit, credit = debit + int(row[0] or 0), credit + int(row[1] or 0)
    return debit, credit


def check_ledger(server: Server, terminal_ids: list[str]) -> None:
    """Debits equal credits over the whole ledger; each terminal's suspense account holds the
    cash its decided vouchers collected; each bill is settled once (one settlement, at most one
    voucher posted with a settlement)."""
    engine = create_engine(server.database_url())
    try:
        with engine.connect() as connection:
            debit, credit = _totals(connection)
            assert debit == credit, f"the ledger does not balance: {debit} != {credit}"
            for terminal_id in terminal_ids:
                suspense = account_id(AccountKind.TERMINAL_SUSPENSE, terminal_id)
                d, c = _totals(connection, [suspense])
                rows = connection.execute(
                    select(offline_vouchers).where(offline_vouchers.c.terminal_id == terminal_id)
                ).mappings()
                decided = sum(
                    int(r["cash_collected_fen"])
                    for r in rows
                    if r["status"] == "posted" or r["review"] is not None
                )
                assert d - c == decided, f"suspense of {terminal_id}: {d - c} != {decided}"
            settled = connection.execute(
                select(offline_vouchers.c.bill_id, func.count())
                .where(offline_vouchers.c.settlement_id.is_not(None))
                .group_by(offline_vouchers.c.bill_id)
            ).all()
            assert all(n == 1 for _, n in settled), f"a bill settled twice offline: {settled}"
            paid = dict(
                connection.execute(
                    select(offline_vouchers.c.bill_id, offline_vouchers.c.settlement_id).where(
                        offline_vouchers.c.settlement_id.is_not(None)
                    )
                ).all()
            )
            for bill_id, settlement_id in paid.items():
                row = connection.execute(
                    select(bills.c.status, bills.c.settlement_id).where(bills.c.id == bill_id)
                ).one()
                assert (row[0], row[1]) == ("paid", settlement_id), f"bill {bill_id}: {row}"
    finally:
        engine.dispose()


def wait_for(condition: Any, seconds: float = 30.0, what: str = "condition") -> None:
    """Poll until `condition()` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def proxy_to(server: Server) -> Iterator[NetCut]:
    """A NetCut in front of the server (its upstream follows a restart: `follow`)."""
    with NetCut(server.port) as cut:
        yield cut


def follow(cut: NetCut, server: Server) -> None:
    """Point the proxy at the server's new port after a restart."""
    cut.upstream_port = server.port
