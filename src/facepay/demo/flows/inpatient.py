"""The inpatient flow walked through HTTP at one site, as `facepay demo --json` reports it.

A nurse admits a newly insured patient by card (a second admission refused), the cashier takes
a cash deposit and the ward terminal a card top-up, the HIS posts several days of charges, the
interim statement shows the provisional split, the patient checks in at the bed (a stranger and
a card without staff refused), the cashier settles the discharge, reverses it and settles again.
Every figure needed to recompute the money is in the report.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

import httpx

from facepay.demo.flows.steps import card_identification, idempotency, refusal, split_of
from facepay.demo.scenario import expect
from facepay.demo.world import Site, register_person

DAYS = 4
"""Days of charges: the admission is recorded DAYS - 1 days late, charges run to today."""


def day_lines(day: int) -> list[dict[str, Any]]:
    """A day on a tier-3 medical ward: bed, nursing, a class-B drug, a class-C supplement; the
    first day also a chest CT and a bronchoscopy, which take the stay past its deductible."""
    first = [
        {"code": "CT-CHEST", "name": "chest CT", "item_class": "B",
         "unit_price": 48_000, "quantity": "1"},
        {"code": "BRONCH", "name": "bronchoscopy", "item_class": "A",
         "unit_price": 160_000, "quantity": "1"},
    ] if day == 0 else []  # fmt: skip
    return [
        *first,
        {"code": "BED-3", "name": "ward bed, 3-bed room", "item_class": "A",
         "unit_price": 6_000, "quantity": "1"},
        {"code": "NURSE-1", "name": "level-1 nursing", "item_class": "A",
         "unit_price": 3_500, "quantity": "1"},
        {"code": "CEFTRIAXONE", "name": "ceftriaxone 1 g", "item_class": "B",
         "unit_price": 4_280, "quantity": str(2 + day % 2)},
        {"code": "ROOM-C", "name": "single-room supplement", "item_class": "C",
         "unit_price": 5_000, "quantity": "1"},
    ]  # fmt: skip


def walk(site: Site, http: httpx.Client, *, today: date) -> dict[str, Any]:
    """Walk one stay from admission to a re-done discharge; the report of every step."""
    _, doctor_id = site.add_staff("doctor")
    nurse, _ = site.add_staff("nurse")
    ward = site.add_terminal("ward")
    his = site.add_terminal("his")
    fund = 30_000
    patient = register_person(
        site.operator, serial=secrets.randbelow(400) + 500, name="Inpatient Demo", fund_fen=fund
    )
    report: dict[str, Any] = {
        "patient": {"person_id": patient["person_id"], "category": "employee_active",
                    "personal_account_before_fen": fund, "inpatient_admissions_before": 0},
    }  # fmt: skip
    admitted_on = today - timedelta(days=DAYS - 1)
    admission = {
        "person_id": patient["person_id"],
        "identification_id": card_identification(site.kiosk, patient),
        "ward": "Internal medicine 3",
        "bed": f"{secrets.randbelow(900) + 100}",
        "diagnosis_code": "J18.900",
        "diagnosis_text": "community-acquired pneumonia",
        "attending_doctor_id": doctor_id,
        "hospital_tier": 3,
        "admitted_on": admitted_on.isoformat(),
    }
    stay = expect(nurse.request("POST", "/v1/stays", admission), 201)
    path = f"/v1/stays/{stay['id']}"
    report["admission"] = {
        "request": {k: v for k, v in admission.items() if k != "identification_id"},
        "method": "credentials",
        "stay_id": stay["id"],
        "status": stay["status"],
    }
    again = {
        **admission,
        "identification_id": card_identification(site.kiosk, patient),
        "bed": "999",
    }
    report["second_admission"] = {
        "refused": refused_code(nurse.request("POST", "/v1/stays", again), 409)
    }

    cash = expect(
        site.cashier.request(
            "POST", f"{path}/deposits", {"amount": 150_000, "source": "cash"}, idempotency()
        ),
        201,
    )
    top_up_body = {
        "amount": 50_000,
        "source": "bank",
        "identification_id": card_identification(ward, patient),
    }
    top_up = expect(ward.request("POST", f"{path}/deposits", top_up_body, idempotency()), 201)
    report["deposits"] = [
        {"by": "cashier", "amount": 150_000, "source": "cash", "hold": cash["deposit"]["hold_id"]},
        {"by": "ward terminal (card)", "amount": 50_000, "source": "bank",
         "hold": top_up["deposit"]["hold_id"]},
    ]  # fmt: skip
    report["deposit_fen"] = top_up["stay"]["deposit_fen"]

    charges = []
    for n in range(DAYS):
        day = admitted_on + timedelta(days=n)
        body = {"reference": f"HIS-{stay['id'][-6:]}-{day:%Y%m%d}",
                "service_date": day.isoformat(), "lines": day_lines(n)}  # fmt: skip
        done = expect(his.request("POST", f"{path}/charges", body), 201)
        charges.append({"service_date": day.isoformat(), "lines": body["lines"],
                        "amount": done["amount"], "balance_fen": done["stay"]["balance_fen"],
                        "low_deposit": done["stay"]["low_deposit"]})  # fmt: skip
    report["charges"] = charges

    interim = expect(nurse.request("GET", f"{path}/statement"), 200)
    report["interim_statement"] = {
        "final": interim["final"],
        "split": split_of(interim["split"]),
        "netting": interim["netting"],
    }

    stranger = card_identification(ward, site.person)
    bedside: dict[str, Any] = {
        "stranger": refused_code(
            nurse.request("POST", f"{path}/bedside-check-ins", {"identification_id": stranger}),
            403,
        ),
        "card_at_terminal_without_staff": refused_code(
            ward.request(
                "POST",
                f"{path}/bedside-check-ins",
                {"identification_id": card_identification(ward, patient)},
            ),
            403,
        ),
    }
    made = expect(
        nurse.request(
            "POST",
            f"{path}/bedside-check-ins",
            {"identification_id": card_identification(ward, patient)},
        ),
        201,
    )
    bedside["checked_in"] = {"day": made["day"], "method": made["method"], "prompt": made["prompt"]}
    bedside["second_today"] = refused_code(
        nurse.request(
            "POST",
            f"{path}/bedside-check-ins",
            {"identification_id": card_identification(ward, patient)},
        ),
        409,
    )
    report["bedside"] = bedside

    first = expect(site.cashier.request("POST", f"{path}/discharge", None, idempotency()), 201)
    report["discharge"] = {"split": split_of(first["split"]), "netting": first["discharge"]}
    reversed_ = expect(
        site.cashier.request("POST", f"{path}/discharge/reversal", None, idempotency()), 201
    )
    report["reversal"] = {
        "reversed_settlement_id": reversed_["reversed_settlement_id"],
        "status": reversed_["stay"]["status"],
        "deposit_fen": reversed_["stay"]["deposit_fen"],
    }
    second = expect(site.cashier.request("POST", f"{path}/discharge", None, idempotency()), 201)
    report["discharge_again"] = {"split": split_of(second["split"]), "netting": second["discharge"]}
    s, d = second["split"], second["discharge"]
    report["check"] = {
        "charges_fen": sum(c["amount"] for c in charges),
        "deposit_applied_plus_arrears_plus_fund_plus_account": d["applied"]
        + d["arrears"]
        + s["fund_pay_sumamt"]
        + s["acct_pay"],
        "deposit_fen": report["deposit_fen"],
        # The first discharge handed its surplus back; the second applies what was held again.
        "released_first_plus_applied_plus_released_again": first["discharge"]["released"]
        + d["applied"]
        + d["released"],
    }
    return report


def refused_code(response: httpx.Response, status: int) -> str:
    """The stable code of a refusal the walk expects."""
    return str(refusal(response, status)["code"])
