"""`facepay settle`: split a bill into fund, personal account and cash by a policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from facepay.adapters.interchange import find_policy, load_bill, load_person, settlement_to_json
from facepay.insurance.model import Settlement
from facepay.insurance.policies import PolicyBook
from facepay.insurance.settlement import settle as settle_bill
from facepay.shared.money import fen_to_yuan_str

# Field, and what a cashier calls it.
ROWS = (
    ("medfee_sumamt", "bill total"),
    ("fulamt_ownpay_amt", "class C, not covered"),
    ("overlmt_selfpay", "above price ceiling"),
    ("preselfpay_amt", "class B first share"),
    ("inscp_scp_amt", "in scope"),
    ("act_pay_dedc", "deductible"),
    ("hifp_pay", "pooled fund pays"),
    ("pool_prop_selfpay", "co-payment"),
    ("hifmi_pay", "critical-illness insurance pays"),
    ("maf_pay", "medical assistance pays"),
    ("fund_pay_sumamt", "insurance pays in all"),
    ("psn_part_amt", "patient's part"),
    ("acct_pay", "personal account pays"),
    ("psn_cash_pay", "patient pays now"),
    ("balc", "account balance after"),
)


def _print_table(settlement: Settlement) -> None:
    console = Console()
    table = Table(title=f"Settlement under {settlement.policy_id} ({settlement.visit_type})")
    table.add_column("field")
    table.add_column("meaning")
    table.add_column("yuan", justify="right")
    for field, meaning in ROWS:
        table.add_row(field, meaning, fen_to_yuan_str(getattr(settlement, field)))
    console.print(table)
    for number, step in enumerate(settlement.explanation, start=1):
        console.print(f"{number:2d}. {step.text}", highlight=False, markup=False)


def settle(
    policy: Annotated[
        list[str],
        typer.Option(
            "--policy",
            metavar="FILE|NAME",
            help="Policy YAML/JSON file, or a shipped policy by name (employee-2026, "
            "resident-2026); repeat for several versions (the one in force is used).",
        ),
    ],
    bill: Annotated[
        Path, typer.Option("--bill", metavar="FILE", help="Bill JSON (INSURANCE.md §3).")
    ],
    person: Annotated[
        Path, typer.Option("--person", metavar="FILE", help="Person JSON with accumulators.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the settlement as JSON.")] = False,
) -> None:
    """Split a bill into insurance fund, personal account and cash by a policy."""
    book = PolicyBook(find_policy(name) for name in policy)
    the_bill = load_bill(bill)
    coverage, accumulators = load_person(person)
    versions = list(book)
    # With one policy, settle itself says precisely why it does not apply (date, category).
    in_force = (
        versions[0]
        if len(versions) == 1
        else book.pick(service_date=the_bill.service_date, category=coverage.category)
    )
    result = settle_bill(
        bill=the_bill, coverage=coverage, accumulators=accumulators, policy=in_force
    )
    if as_json:
        typer.echo(json.dumps(settlement_to_json(result), ensure_ascii=False, indent=2))
    else:
        _print_table(result)
