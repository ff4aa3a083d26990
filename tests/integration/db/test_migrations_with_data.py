"""Migrations 0005 (audit chains per hospital) and 0006 (books per hospital) on a database that
the previous version filled: one shared audit chain, and payments posted to the shared
`hospital_revenue:hospital` and per-fund receivables, one of them refunded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Engine, text

from facepay.adapters.db.ledger_repository import SqlAlchemyLedgerRepository
from facepay.adapters.db.migrate import downgrade, upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import shipped_policies
from facepay.config import Settings
from facepay.ledger.accounts import Account, AccountKind
from facepay.ledger.corrections import reverse
from facepay.ledger.posting import post
from facepay.ledger.transfers import PostingRequest, TransferSpec
from facepay.services.audit import verify_audit
from facepay.services.context import StorageServices
from facepay.shared.clock import SystemClock
from facepay.supervision.audit import GENESIS, AuditHead, canonical_json, chain_entry
from facepay.supervision.audit_store import AuditLog

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SHARED = {"revenue": "hospital_revenue:hospital", "hifp": "hospital_receivable:hifp"}


class LedgerBefore0013(SqlAlchemyLedgerRepository):
    """The ledger as it kept balances before migration 0013, every total in its account's row:
    an older schema has no `account_deltas`."""

    def save_balances(self, accounts_: Iterable[Account]) -> None:
        changed = list(accounts_)
        for account in changed:  # treated as locked: written to the row
            self._locked.setdefault(account.id, account)
        super().save_balances(changed)


def _old_payment(conn: Connection, hospital: str, person: str, tag: str) -> str:
    """What the previous version stored for a paid bill: transfers on the shared accounts, a
    settlement without hospital, a bill pointing to it, and an audit entry naming both."""
    ledger = LedgerBefore0013(conn)
    key = f"{hospital}:{tag}"
    specs = (
        TransferSpec.transfer("fund_pool:hifp", SHARED["hifp"], 30_000, "settle.hifp"),
        TransferSpec.transfer(
            f"personal_account:{person}", SHARED["revenue"], 5_000, "settle.acct"
        ),
        TransferSpec.transfer("cash_clearing:cash", SHARED["revenue"], 7_000, "settle.cash"),
    )
    post(repo=ledger, request=PostingRequest(f"settle:{key}", specs), now=NOW)
    settlement = f"stl_{tag}"
    conn.execute(
        text(
            "INSERT INTO settlements (id, idempotency_key, fingerprint, person_id, year,"
            " policy_id, visit_type, service_date, medfee_sumamt, fund_pay_sumamt, hifp_pay,"
            " hifmi_pay, maf_pay, psn_part_amt, acct_pay, psn_cash_pay, document, posting_key,"
            " status, created_at) VALUES (:id, :key, 'f', :person, 2026, 'p', 'outpatient',"
            " :day, 42000, 30000, 30000, 0, 0, 12000, 5000, 7000, '{}', :posting, 'settled',"
            " :now)"
        ),
        {"id": settlement, "key": key, "person": person, "day": date(2026, 11, 20),
         "posting": f"settle:{key}", "now": NOW},
    )  # fmt: skip
    conn.execute(
        text(
            "INSERT INTO bills (id, hospital_id, person_id, external_ref, point_of_sale,"
            " document, total, status, settlement_id, created_at) VALUES (:id, :h, :p, :ref,"
            " 'hospital', '{}', 42000, 'paid', :s, :now)"
        ),
        {"id": f"bil_{tag}", "h": hospital, "p": person, "ref": tag, "s": settlement, "now": NOW},
    )
    return settlement


def _old_audit(conn: Connection, details: list[dict[str, object]]) -> None:
    """The single chain of the previous version (no chain column yet)."""
    head = GENESIS
    for i, detail in enumerate(details):
        entry = chain_entry(prev=head, at=NOW, actor="staff:x", action="payment.settle",
                            subject=f"bil_{i}", details=detail)  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash,"
                " hash) VALUES (:seq, :at, :actor, :action, :subject, :details, :prev, :hash)"
            ),
            {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "action": entry.action,
             "subject": entry.subject, "details": canonical_json(entry.details).decode(),
             "prev": entry.prev_hash, "hash": entry.hash},
        )  # fmt: skip
        head = AuditHead(entry.seq, entry.hash)


def _balance(engine: Engine, account: str) -> int:
    with SqlAlchemyUnitOfWork(engine) as uow:
        return uow.ledger.lock_accounts([account])[account].balance


def _sums(engine: Engine, source: str = "account_totals") -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT sum(debits_posted), sum(credits_posted) FROM {source}"))
        debits, credits = row.one()
    return int(debits), int(credits)


def test_old_payments_and_audit_entries_move_into_per_hospital_books(engine: Engine) -> None:
    downgrade(engine, "0004")
    with engine.begin() as conn:
        for hospital in ("hA", "hB"):
            conn.execute(text("INSERT INTO hospitals (id, name, created_at) VALUES (:h, :h, :t)"),
                         {"h": hospital, "t": NOW})  # fmt: skip
        ledger = LedgerBefore0013(conn)
        for n, person in enumerate(("pA", "pB")):
            conn.execute(
                text(
                    "INSERT INTO insured_persons (id, id_number, name, sex, birth_date, category,"
                    " insurance_card_number, medical_assistance) VALUES (:p, :n, 'X', 'M', :b,"
                    " 'employee_active', 'IC', false)"
                ),
                {"p": person, "n": f"11010119800101{n:03d}X", "b": date(1980, 1, 1)},
            )
            ledger.add_account(Account.open(AccountKind.PERSONAL_ACCOUNT, person))
            post(repo=ledger, request=PostingRequest(f"alloc:{person}", (TransferSpec.transfer(
                "fund_pool:acct", f"personal_account:{person}", 50_000, "allocate.acct"),)),
                now=NOW)  # fmt: skip
        paid_a = _old_payment(conn, "hA", "pA", "a1")
        paid_b = _old_payment(conn, "hB", "pB", "b1")
        reverse(repo=ledger, original_key="settle:hB:b1", key="reverse:hB:r1", now=NOW)
        conn.execute(text("UPDATE settlements SET status = 'reversed', reversal_key = 'hB:r1'"
                          " WHERE id = :s"), {"s": paid_b})  # fmt: skip
        _old_audit(conn, [{"hospital": "hA", "settlement": paid_a},
                          {"hospital": "hB", "settlement": paid_b}])  # fmt: skip
    sums_before = _sums(engine, "accounts")  # before 0013: no deltas, no view

    upgrade(engine)

    assert _balance(engine, "hospital_revenue:hA") == 12_000
    assert _balance(engine, "hospital_receivable:hA/hifp") == 30_000
    assert _balance(engine, "hospital_revenue:hB") == 0  # paid, then refunded
    assert _balance(engine, SHARED["revenue"]) == 0
    assert _balance(engine, SHARED["hifp"]) == 0
    assert _sums(engine) == sums_before  # money was re-pointed, never created
    with engine.connect() as conn:
        owners = dict(conn.execute(text("SELECT id, hospital_id FROM settlements")).all())
        stored = json.loads(conn.execute(text("SELECT details FROM audit_log")).scalars().first())
    assert owners == {paid_a: "hA", paid_b: "hB"}
    assert stored == {"hospital": "hA", "settlement": paid_a}
    with SqlAlchemyUnitOfWork(engine) as uow:
        assert uow.audit.chains() == ["platform"]
        assert [e.seq for e in uow.audit.iterate(chain="platform")] == [1, 2]
        AuditLog(store=uow.audit, clock=SystemClock()).record(
            actor="staff:x", action="payment.settle", subject="bil_new", details={"hospital": "hA"}
        )
        uow.commit()

    storage = StorageServices(Settings(), shipped_policies(), lambda: SqlAlchemyUnitOfWork(engine),
                              SystemClock())  # fmt: skip
    report = verify_audit(ctx=storage)
    assert (report.ok, report.chains, report.entries_checked) == (True, ["hA", "platform"], 3)

    # A refund of an old payment, after the upgrade, comes off the hospital's own books.
    with SqlAlchemyUnitOfWork(engine) as uow:
        reverse(repo=uow.ledger, original_key="settle:hA:a1", key="reverse:late", now=NOW)
        uow.commit()
    assert _balance(engine, "hospital_revenue:hA") == 0
    assert _balance(engine, "hospital_receivable:hA/hifp") == 0
    assert _balance(engine, SHARED["revenue"]) == 0


def test_stored_bills_take_the_one_line_format(engine: Engine) -> None:
    """0009: bills stored with a line's `class` read back with `item_class`, and down again."""
    downgrade(engine, "0008")
    old_line = {"code": "A1", "name": "drug", "class": "B", "unit_price": 1_000, "quantity": "2"}
    document = {"visit_type": "outpatient", "hospital_tier": 2, "service_date": "2026-11-20",
                "lines": [old_line]}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO hospitals (id, name, created_at) VALUES ('hA', 'A', :t)"),
                     {"t": NOW})  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO insured_persons (id, id_number, name, sex, birth_date, category,"
                " insurance_card_number, medical_assistance) VALUES ('pA', '110101198001010001',"
                " 'X', 'M', :b, 'employee_active', 'IC', false)"
            ),
            {"b": date(1980, 1, 1)},
        )
        conn.execute(
            text(
                "INSERT INTO bills (id, hospital_id, person_id, external_ref, point_of_sale,"
                " document, total, status, created_at) VALUES ('bil_1', 'hA', 'pA', 'r1',"
                " 'hospital', :doc, 2000, 'open', :now)"
            ),
            {"doc": json.dumps(document), "now": NOW},
        )

    upgrade(engine)

    with SqlAlchemyUnitOfWork(engine) as uow:
        bill = uow.bills.get("bil_1", "hA")
    assert bill is not None
    assert [line.item_class for line in bill.bill.lines] == ["B"]
    downgrade(engine, "0008")
    with engine.connect() as conn:
        stored = json.loads(conn.execute(text("SELECT document FROM bills")).scalar_one())
    assert stored["lines"] == [old_line]
    upgrade(engine)
