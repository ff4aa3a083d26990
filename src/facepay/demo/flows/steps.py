"""Small steps every walker of the demo day takes: keys, refusals, splits, card identifications."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from facepay.client import TerminalSession
from facepay.demo.scenario import expect

SPLIT_FIELDS = (
    "policy_id", "medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "hifmi_pay", "maf_pay",
    "acct_pay", "psn_cash_pay", "psn_part_amt", "balc",
)  # fmt: skip
"""What the report keeps of a split: the national platform's fields and the policy."""


def idempotency() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": f"demo-{secrets.token_hex(8)}"}


def refusal(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A refusal the walk expects (of `status`, when given): its status and stable code."""
    body = expect(response, status) if status is not None else response.json()
    return {"status": response.status_code, "code": body.get("code")}


def split_of(split: dict[str, Any]) -> dict[str, Any]:
    """The fields of a split the report keeps."""
    return {name: split[name] for name in SPLIT_FIELDS}


def card_identification(terminal: TerminalSession, person: dict[str, Any]) -> str:
    """An identification of `person` by ID number + insurance card at `terminal`."""
    body = {"id_number": person["id_number"], "insurance_card_number": person["card"]}
    found = expect(terminal.request("POST", "/v1/identifications/by-credentials", body), 201)
    return str(found["identification_id"])
