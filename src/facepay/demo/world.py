"""A hospital set up through the API: admin, cashier, auditor, kiosk, one insured person.

Used by the end-to-end and security tests (two of these make the "hospital A / hospital B" of
the object-level authorisation tests) and handy for trying the API by hand.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx

from facepay.client import StaffSession, TerminalSession
from facepay.demo.people import id_number
from facepay.demo.scenario import ADMIN_PASSWORD, STAFF_PASSWORD, bill_lines, expect


@dataclass
class Site:
    """One hospital and its actors (the operator is the platform's, shared by every site)."""

    hospital_id: str
    operator: StaffSession
    admin: StaffSession
    cashier: StaffSession
    auditor: StaffSession
    kiosk: TerminalSession
    kiosk_pem: str
    person: dict[str, Any]

    def post_bill(self, *, id_number: str | None = None, serial: int = 0) -> dict[str, Any]:
        """A bill posted by the cashier for the site's person (or another ID number)."""
        body = {
            "external_ref": f"HIS-{secrets.token_hex(6)}",
            "id_number": id_number or self.person["id_number"],
            "visit_type": "inpatient",
            "hospital_tier": 3,
            "service_date": "2026-03-01",
            "lines": bill_lines(serial),
        }
        return expect(self.cashier.request("POST", "/v1/bills", body), 201)

    def post_visit(
        self, fen: int, *, person: dict[str, Any] | None = None, hospital_tier: int = 2
    ) -> dict[str, Any]:
        """Today's outpatient bill of one class-A line of `fen` for the site's person (or
        `person`): what the offline tests pay at a terminal."""
        body = {
            "external_ref": f"HIS-{secrets.token_hex(6)}",
            "id_number": (person or self.person)["id_number"],
            "visit_type": "outpatient",
            "hospital_tier": hospital_tier,
            "service_date": datetime.now(UTC).date().isoformat(),
            "lines": [{"code": "A1", "name": "consultation", "item_class": "A",
                       "unit_price": fen, "quantity": "1"}],
        }  # fmt: skip
        return expect(self.cashier.request("POST", "/v1/bills", body), 201)

    def identify_by_card(self, person: dict[str, Any] | None = None) -> dict[str, Any]:
        """An identification by ID number + insurance card from the kiosk."""
        who = person or self.person
        body = {"id_number": who["id_number"], "insurance_card_number": who["card"]}
        return expect(self.kiosk.request("POST", "/v1/identifications/by-credentials", body), 201)

    def pay_by_card(
        self, bill: dict[str, Any] | None = None, *, person: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Pay a bill (a new one by default) at the kiosk after identifying the site's person (or
        `person`) by card; returns the payment receipt."""
        bill = bill or self.post_bill()
        ident = self.identify_by_card(person)
        return expect(
            self.kiosk.request(
                "POST",
                f"/v1/bills/{bill['id']}/payments",
                {"identification_id": ident["identification_id"]},
                headers={"Idempotency-Key": f"k-{secrets.token_hex(8)}"},
            ),
            201,
        )

    def add_staff(self, role: str) -> tuple[StaffSession, str]:
        """A new staff member of `role`, logged in; returns the session and the staff id."""
        name = f"{role}-{secrets.token_hex(3)}"
        body = {"username": name, "password": STAFF_PASSWORD, "role": role}
        made = expect(self.admin.request("POST", "/v1/staff", body), 201)
        return StaffSession.login(self.admin.http, name, STAFF_PASSWORD), str(made["id"])

    def add_terminal(self, kind: str) -> TerminalSession:
        """A new terminal of `kind` (kiosk, window, his, ward, exam_room, lis_pacs)."""
        body = {"name": f"{kind}-{secrets.token_hex(2)}", "kind": kind}
        made = expect(self.admin.request("POST", "/v1/terminals", body), 201)
        return TerminalSession.from_pem(self.kiosk.http, made["id"], made["private_key_pem"])

    def add_kiosks(self, count: int) -> list[TerminalSession]:
        """Register `count` more kiosks; returns every kiosk of the site, the first one first."""
        kiosks = [self.kiosk]
        for n in range(count):
            made = expect(
                self.admin.request("POST", "/v1/terminals", {"name": f"kiosk-{n + 2}"}), 201
            )
            kiosks.append(
                TerminalSession.from_pem(self.kiosk.http, made["id"], made["private_key_pem"])
            )
        return kiosks


def register_person(
    operator: StaffSession, *, serial: int, name: str = "Test Person", fund_fen: int = 200_000
) -> dict[str, Any]:
    """An insured person (employee, funded personal account) registered by the platform
    operator; returns its card data."""
    birth = date(1960 + serial % 40, 1 + serial % 12, 1 + serial % 28)
    number = id_number(birth, serial, male=True)
    card = {"id_number": number, "name": name, "sex": "M", "birth_date": birth.isoformat()}
    body = {
        "id_card": card,
        "category": "employee_active",
        "insurance_card_number": f"IC{number[-8:]}",
        "phone": f"1370000{serial % 10_000:04d}",
        "personal_account_fen": fund_fen,
    }
    created = expect(operator.request("POST", "/v1/insured-persons", body), 201)
    return {**card, "person_id": created["id"], "card": body["insurance_card_number"],
            "phone": body["phone"]}  # fmt: skip


def make_site(
    http: httpx.Client, operator: StaffSession, *, serial: int, tier: str | None = None
) -> Site:
    """Onboard a hospital (of `tier`: primary, secondary, tertiary; default none on record) with
    its staff, a kiosk and one insured person."""
    tag = secrets.token_hex(3)
    body = {"name": f"Hospital {tag}", "admin_username": f"admin-{tag}",
            "admin_password": ADMIN_PASSWORD, **({"tier": tier} if tier else {})}  # fmt: skip
    hospital = expect(operator.request("POST", "/v1/hospitals", body), 201)
    admin = StaffSession.login(http, f"admin-{tag}", ADMIN_PASSWORD)
    sessions = {}
    for role in ("cashier", "auditor"):
        staff = {"username": f"{role}-{tag}", "password": STAFF_PASSWORD, "role": role}
        expect(admin.request("POST", "/v1/staff", staff), 201)
        sessions[role] = StaffSession.login(http, f"{role}-{tag}", STAFF_PASSWORD)
    kiosk = expect(admin.request("POST", "/v1/terminals", {"name": "lobby", "kind": "kiosk"}), 201)
    return Site(
        hospital_id=hospital["id"],
        operator=operator,
        admin=admin,
        cashier=sessions["cashier"],
        auditor=sessions["auditor"],
        kiosk=TerminalSession.from_pem(http, kiosk["id"], kiosk["private_key_pem"]),
        kiosk_pem=kiosk["private_key_pem"],
        person=register_person(operator, serial=serial),
    )
