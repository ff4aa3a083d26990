"""The FHIR R4 facade on the real server (SQLite and PostgreSQL): an HIS pushes an Invoice, the
same push again is idempotent, the patient pays by card, the Invoice reads balanced, the
settlement reads as Claim / ClaimResponse / PaymentNotice / PaymentReconciliation, a rest-hook
Subscription's receiver (a real local HTTP server) gets one signed notification for that bill,
site B sees nothing of site A's, and bad input is an OperationOutcome."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tests.flows.conftest import Api

from facepay.adapters.fhir.common import SID_RESIDENT_ID
from facepay.client import TerminalSession
from facepay.demo.world import Site
from facepay.terminal.signing import body_sha256, canonical_request

FHIR = "/fhir/R4"
EXT = "https://facepay.dev/fhir/StructureDefinition"
TODAY = datetime.now(timezone(timedelta(hours=8))).date().isoformat()


def invoice(person: dict[str, Any], ref: str, *, price: float = 123.45) -> dict[str, Any]:
    """An outpatient Invoice of two contained ChargeItems for `person` (by ID number)."""
    subject = {"identifier": {"system": SID_RESIDENT_ID, "value": person["id_number"]}}

    def item(n: int, code: str, name: str, cls: str, value: float, qty: float) -> dict[str, Any]:
        return {
            "resourceType": "ChargeItem",
            "id": f"c{n}",
            "extension": [{"url": f"{EXT}/item-class", "valueCode": cls}],
            "status": "billable",
            "code": {"coding": [{"system": "urn:his:fee", "code": code, "display": name}]},
            "subject": subject,
            "occurrenceDateTime": TODAY,
            "quantity": {"value": qty},
            "priceOverride": {"value": value, "currency": "CNY"},
        }

    return {
        "resourceType": "Invoice",
        "contained": [
            item(1, "A-001", "阿莫西林胶囊", "A", price, 2),
            item(2, "C-009", "自费检查", "C", 50, 1.5),
        ],
        "identifier": [{"system": "urn:his:invoice", "value": ref}],
        "status": "issued",
        "type": {
            "coding": [
                {"system": "https://facepay.dev/fhir/CodeSystem/visit-type", "code": "outpatient"}
            ]
        },
        "extension": [{"url": f"{EXT}/hospital-tier", "valueInteger": 2}],
        "subject": subject,
        "lineItem": [
            {"sequence": 1, "chargeItemReference": {"reference": "#c1"}},
            {"sequence": 2, "chargeItemReference": {"reference": "#c2"}},
        ],
    }


def outcome(response: httpx.Response, status: int) -> str:
    """The facepay code of an OperationOutcome answered with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["details"]["coding"][0]["code"])


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The resource of a successful answer."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    found: dict[str, Any] = response.json()
    return found


@pytest.fixture(scope="module")
def his(site_a: Site) -> TerminalSession:
    """Site A's hospital information system."""
    return site_a.add_terminal("his")


@pytest.fixture(scope="module")
def pushed(his: TerminalSession, site_a: Site) -> dict[str, Any]:
    """An Invoice the HIS pushed (and its body)."""
    body = invoice(site_a.person, f"INV-{secrets.token_hex(4)}")
    created = ok(his.request("POST", f"{FHIR}/Invoice", body), 201)
    return {"body": body, "invoice": created}


def test_metadata_is_r4_and_needs_no_credentials(api: Api) -> None:
    statement = ok(api.http.get(f"{FHIR}/metadata"))
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"Patient", "Invoice", "Claim", "Subscription"} <= types


def test_a_pushed_invoice_is_a_bill_and_the_same_push_is_idempotent(
    his: TerminalSession, pushed: dict[str, Any], site_a: Site
) -> None:
    created = pushed["invoice"]
    assert created["status"] == "issued"
    assert created["totalGross"] == {"value": 321.9, "currency": "CNY"}  # 2 x 123.45 + 1.5 x 50
    again = ok(his.request("POST", f"{FHIR}/Invoice", pushed["body"]), 200)
    assert again["id"] == created["id"]
    changed = invoice(site_a.person, pushed["body"]["identifier"][0]["value"], price=99)
    assert outcome(his.request("POST", f"{FHIR}/Invoice", changed), 409) == "his_bill_differs"
    # The bill is there for /v1 too, under the HIS's identifier.
    ref = pushed["body"]["identifier"][0]["value"]
    page = site_a.cashier.request("GET", f"/v1/bills?external_ref={ref}").json()
    assert [b["id"].replace("_", "-", 1) for b in page["items"]] == [created["id"]]


def test_the_patient_pays_and_the_invoice_reads_balanced(
    his: TerminalSession, pushed: dict[str, Any], site_a: Site
) -> None:
    invoice_id = pushed["invoice"]["id"]
    bill = {"id": invoice_id.replace("-", "_", 1)}
    claim = {
        "resourceType": "Claim",
        "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "use": "preauthorization",
        "patient": {"reference": pushed["invoice"]["subject"]["reference"]},
        "created": TODAY,
        "provider": {"display": "HIS"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "basic"}}],
        "supportingInfo": [{"sequence": 1, "category": {"text": "invoice"},
                            "valueReference": {"reference": f"Invoice/{invoice_id}"}}],
    }  # fmt: skip
    pre = ok(his.request("POST", f"{FHIR}/Claim", claim))
    assert pre["resourceType"] == "ClaimResponse"
    assert pre["use"] == "preauthorization"
    amounts = {t["category"]["coding"][0]["code"]: t["amount"]["value"] for t in pre["total"]}
    assert amounts["medfee_sumamt"] == 321.9
    receipt = site_a.pay_by_card(bill)
    balanced = ok(his.request("GET", f"{FHIR}/Invoice/{invoice_id}"))
    assert balanced["status"] == "balanced"
    found = ok(his.request("GET", f"{FHIR}/Invoice?status=balanced&_count=50"))
    assert invoice_id in [e["resource"]["id"] for e in found.get("entry", [])]
    settlement = receipt["settlement_id"].replace("_", "-", 1)
    paid = ok(his.request("GET", f"{FHIR}/ClaimResponse/{settlement}"))
    totals = {t["category"]["coding"][0]["code"]: t["amount"]["value"] for t in paid["total"]}
    assert totals == amounts
    assert ok(his.request("GET", f"{FHIR}/Claim/{settlement}"))["use"] == "claim"
    day = datetime.now(timezone(timedelta(hours=8))).date().isoformat()
    day_bundle = ok(his.request("GET", f"{FHIR}/PaymentReconciliation?date={day}"))
    reconciliation = day_bundle["entry"][0]["resource"]
    ids = [d["identifier"]["value"] for d in reconciliation["detail"]]
    assert receipt["settlement_id"] in ids


def test_patient_and_coverage_are_masked_and_of_the_site(
    his: TerminalSession, pushed: dict[str, Any], site_a: Site, site_b: Site
) -> None:
    patient_ref = pushed["invoice"]["subject"]["reference"]
    patient = ok(his.request("GET", f"{FHIR}/{patient_ref}"))
    number = patient["identifier"][0]["value"]
    assert "*" in number
    assert number != site_a.person["id_number"]
    found = ok(his.request("GET", f"{FHIR}/Patient?identifier={site_a.person['id_number']}"))
    assert found["total"] == 1
    coverage = ok(his.request("GET", f"{FHIR}/Coverage?patient={patient_ref}"))
    assert coverage["entry"][0]["resource"]["beneficiary"]["reference"] == patient_ref
    assert ok(his.request("GET", f"{FHIR}/Encounter?patient={patient_ref}"))["total"] == 0
    orders = his.request("GET", f"{FHIR}/ServiceRequest?patient={patient_ref}")
    assert outcome(orders, 403) == "permission_denied"  # exam orders: the LIS/PACS and staff
    # Site B's HIS: the same ids are 404, its searches are empty.
    other = site_b.add_terminal("his")
    invoice_id = pushed["invoice"]["id"]
    for path in (patient_ref, f"Invoice/{invoice_id}", f"Coverage/{patient_ref.split('/')[1]}"):
        assert outcome(other.request("GET", f"{FHIR}/{path}"), 404) == "not_found"
    empty = ok(other.request("GET", f"{FHIR}/Patient?identifier={site_a.person['id_number']}"))
    assert empty["total"] == 0
    ref = pushed["body"]["identifier"][0]["value"]
    assert ok(other.request("GET", f"{FHIR}/Invoice?identifier={ref}"))["total"] == 0


def test_bad_input_is_an_operation_outcome(api: Api, his: TerminalSession, site_a: Site) -> None:
    assert outcome(api.http.get(f"{FHIR}/Invoice"), 401) == "no_credentials"
    assert outcome(site_a.kiosk.request("POST", f"{FHIR}/Invoice", {}), 403) == "permission_denied"
    assert outcome(his.request("GET", f"{FHIR}/Nonsense/1"), 404) == "fhir_not_supported"
    unknown = his.request("GET", f"{FHIR}/Invoice?colour=red")
    assert outcome(unknown, 400) == "fhir_unknown_parameter"
    assert outcome(his.request("GET", f"{FHIR}/Invoice?_count=100000"), 400) == "fhir_bad_search"
    assert outcome(his.request("GET", f"{FHIR}/Invoice?date=yesterday"), 400) == "fhir_bad_date"
    bad = invoice(site_a.person, f"INV-{secrets.token_hex(4)}", price=1.234)
    assert outcome(his.request("POST", f"{FHIR}/Invoice", bad), 422) == "fhir_bad_money"
    assert outcome(his.request("POST", f"{FHIR}/Invoice", {"resourceType": "Invoice", "x": 1}),
                   400) == "fhir_invalid_resource"  # fmt: skip
    signed = his.signed_headers("POST", f"{FHIR}/Invoice", b"<Invoice/>")
    xml = api.http.post(
        f"{FHIR}/Invoice",
        content=b"<Invoice/>",
        headers={**signed, "Content-Type": "application/fhir+xml"},
    )
    assert outcome(xml, 415) == "fhir_unsupported_media_type"


class Receiver:
    """A real local HTTP server that records every notification posted to it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                outer.received.append((self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()
                outer.arrived.set()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?site=a"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def verify(path: str, headers: dict[str, str], body: bytes, public_key: str) -> None:
    """The notification is signed by the server's key over what arrived."""
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-facepay-terminal"] == "facepay-server"
    message = canonical_request(
        terminal_id=lower["x-facepay-terminal"],
        method="POST",
        path=path,
        timestamp=int(lower["x-facepay-timestamp"]),
        nonce=lower["x-facepay-nonce"],
        content_sha256=body_sha256(body),
    )
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    key.verify(base64.b64decode(lower["x-facepay-signature"]), message)  # raises if forged


def test_a_subscriber_is_told_exactly_of_its_bill_signed(
    his: TerminalSession, site_a: Site, site_b: Site
) -> None:
    receiver = Receiver()
    subscription = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "HIS billing",
        "criteria": "Invoice?status=balanced",
        "channel": {"type": "rest-hook", "endpoint": receiver.url,
                    "payload": "application/fhir+json"},
    }  # fmt: skip
    made = ok(his.request("POST", f"{FHIR}/Subscription", subscription), 201)
    assert made["status"] == "active"
    metadata_service = "http://169.254.169.254/latest"
    elsewhere = {**subscription, "channel": {"type": "rest-hook", "endpoint": metadata_service}}
    refused = his.request("POST", f"{FHIR}/Subscription", elsewhere)
    assert outcome(refused, 422) == "fhir_endpoint_not_allowed"
    other = site_b.add_terminal("his")
    assert outcome(other.request("GET", f"{FHIR}/Subscription/{made['id']}"), 404) == "not_found"
    body = invoice(site_a.person, f"INV-{secrets.token_hex(4)}")
    created = ok(his.request("POST", f"{FHIR}/Invoice", body), 201)
    site_b.pay_by_card()  # another site's payment: not for this subscriber
    site_a.pay_by_card({"id": created["id"].replace("-", "_", 1)})
    assert receiver.arrived.wait(30), "no notification arrived"
    receiver.server.shutdown()
    receiver.server.server_close()
    key = made["extension"][0]["valueString"]
    bills = set()
    for path, headers, raw in receiver.received:
        verify(path, headers, raw, key)
        bundle = json.loads(raw)
        assert bundle["type"] == "history"
        assert bundle["identifier"]["value"] == headers["X-Facepay-Event-Id"]
        resource = bundle["entry"][0]["resource"]
        assert resource["status"] == "balanced"
        bills.add(resource["id"])
    assert bills == {created["id"]}
    off = ok(his.request("DELETE", f"{FHIR}/Subscription/{made['id']}"))
    assert off["status"] == "off"


def test_searches_page_by_next_and_previous_links(site_b: Site) -> None:
    his_b = site_b.add_terminal("his")
    made = [
        ok(his_b.request("POST", f"{FHIR}/Invoice", invoice(site_b.person, f"P-{n}")), 201)["id"]
        for n in range(3)
    ]

    def page(url: str) -> tuple[list[str], dict[str, str]]:
        target = url[url.index(FHIR) :] if "://" in url else url
        bundle = ok(his_b.request("GET", target))
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        return [e["resource"]["id"] for e in bundle.get("entry", [])], links

    first, links = page(f"{FHIR}/Invoice?status=issued&_count=2")
    assert first == made[:2]
    assert "previous" not in links
    second, links = page(links["next"])
    assert second == made[2:]
    assert "next" not in links
    back, _ = page(links["previous"])
    assert back == first


def test_drug_lines_read_as_medication_requests_and_dispenses_of_the_site(
    his: TerminalSession, site_a: Site, site_b: Site
) -> None:
    body = invoice(site_a.person, f"RX-{secrets.token_hex(4)}")
    for item in body["contained"]:
        item["extension"].append({"url": f"{EXT}/order-kind", "valueCode": "drug"})
    created = ok(his.request("POST", f"{FHIR}/Invoice", body), 201)
    site_a.pay_by_card({"id": created["id"].replace("-", "_", 1)})
    patient = created["subject"]["reference"]
    mine: list[dict[str, Any]] = []
    url: str | None = f"{FHIR}/MedicationRequest?patient={patient}&status=active&_count=1"
    while url is not None:  # one line a page, forward by the next links
        page = ok(his.request("GET", url[url.index(FHIR) :]))
        assert len(page.get("entry", [])) <= 1
        mine += [
            e["resource"]
            for e in page.get("entry", [])
            if e["resource"]["supportingInformation"][0]["reference"] == f"Invoice/{created['id']}"
        ]
        url = next((x["url"] for x in page["link"] if x["relation"] == "next"), None)
    assert [r["medicationCodeableConcept"]["text"] for r in mine] == ["阿莫西林胶囊", "自费检查"]
    rx = mine[0]["id"]
    assert ok(his.request("GET", f"{FHIR}/MedicationRequest/{rx}"))["status"] == "active"
    dispense = ok(his.request("GET", f"{FHIR}/MedicationDispense/{rx}"))
    assert dispense["status"] == "preparation"
    assert dispense["authorizingPrescription"][0]["reference"] == f"MedicationRequest/{rx}"
    assert ok(his.request("GET", f"{FHIR}/Appointment?patient={patient}&_count=5"))["type"] == (
        "searchset"
    )
    slots = ok(his.request("GET", f"{FHIR}/Slot?start=ge{TODAY}&status=free&_count=2"))
    assert slots["type"] == "searchset"
    # Site B's HIS: not found, and nothing in its searches.
    his_b = site_b.add_terminal("his")
    assert outcome(his_b.request("GET", f"{FHIR}/MedicationRequest/{rx}"), 404) == "not_found"
    assert outcome(his_b.request("GET", f"{FHIR}/MedicationDispense/{rx}"), 404) == "not_found"
    theirs = ok(his_b.request("GET", f"{FHIR}/MedicationDispense?_count=100"))
    assert rx not in [e["resource"]["id"] for e in theirs.get("entry", [])]
    assert outcome(his.request("GET", f"{FHIR}/Slot?date={TODAY}"), 400) == (
        "fhir_unknown_parameter"
    )
    for query in ("MedicationRequest?status=declined", "Slot?status=booked",
                  "Appointment?status=booked,busy", "MedicationDispense?date=2026"):  # fmt: skip
        assert outcome(his.request("GET", f"{FHIR}/{query}"), 400).startswith("fhir_")
