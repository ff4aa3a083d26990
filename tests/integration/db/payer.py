"""A separate process for the concurrency and crash tests: pays bills from one personal account.

    python payer.py URL PERSON KEY_PREFIX COUNT AMOUNT [--hang-before-commit]

Prints one `settled <id> <acct_pay>` line per payment. With --hang-before-commit it prints
`before-commit` once everything is written but not committed, then waits to be killed.
"""

from __future__ import annotations

import sys
import time

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import load_policy, parse_bill, shipped_policy_files
from facepay.services.payments import Payer, settle_and_post


class HangingUnitOfWork(SqlAlchemyUnitOfWork):
    """Stops between the settlement's writes and its commit, as a crash would find it."""

    def commit(self) -> None:
        print("before-commit", flush=True)
        time.sleep(600)


def main() -> None:
    url, person, prefix, count, amount, *flags = sys.argv[1:]
    engine = database_engine(url, pool_size=1)
    policy = next(p for p in map(load_policy, shipped_policy_files()) if "employee" in p.id)
    line = {
        "code": "C01",
        "name": "x",
        "item_class": "C",
        "unit_price": int(amount),
        "quantity": "1",
    }
    bill = parse_bill(
        {
            "visit_type": "outpatient",
            "hospital_tier": 2,
            "service_date": "2026-05-04",
            "lines": [line],
        }
    )
    payer = Payer(person_id=person, category="employee_active")
    uow_class = HangingUnitOfWork if "--hang-before-commit" in flags else SqlAlchemyUnitOfWork
    for index in range(int(count)):
        receipt = settle_and_post(
            hospital_id="h1",
            uow=uow_class(engine),
            bill=bill,
            payer=payer,
            policy=policy,
            idempotency_key=f"{prefix}-{index}",
        )
        print("settled", receipt.record.id, receipt.record.settlement.acct_pay, flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
