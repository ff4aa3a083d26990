"""Pharmacy dispensing and exams over HTTP, on SQLite and PostgreSQL: the demo walker's whole
flow, then the hostile cases (another site's objects, two pharmacists racing for one order,
a replayed return, wrong types, embedded images, a terminal without the patient)."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from facepay.demo.flows import orders as walker
from facepay.demo.scenario import expect
from facepay.demo.world import Site


@pytest.fixture(scope="module")
def walked(api: Any, site_a: Site) -> dict[str, Any]:
    return walker.walk(site_a, api.http, today=datetime.now(UTC).date())


@pytest.fixture(scope="module")
def pharmacist(api: Any, site_a: Site) -> Any:
    session, _ = site_a.add_staff("pharmacist")
    return session


def _paid_order(site: Site, pharmacist: Any) -> dict[str, Any]:
    lines = [
        {"code": "D1", "name": "paracetamol", "item_class": "A", "unit_price": 900,
         "quantity": "2", "kind": "drug", "window": "W9"},
        {"code": "D2", "name": "vitamin C", "item_class": "C", "unit_price": 700,
         "quantity": "1", "kind": "drug", "window": "W9"},
    ]  # fmt: skip
    body = {
        "external_ref": f"RX-{secrets.token_hex(6)}",
        "id_number": site.person["id_number"],
        "visit_type": "outpatient",
        "hospital_tier": 3,
        "service_date": datetime.now(UTC).date().isoformat(),
        "lines": lines,
    }
    bill = expect(site.cashier.request("POST", "/v1/bills", body), 201)
    site.pay_by_card(bill)
    queue = expect(pharmacist.request("GET", "/v1/pharmacy/windows/W9/queue"), 200)
    return next(o for o in queue["orders"] if o["bill_id"] == bill["id"])


def test_the_whole_flow(walked: dict[str, Any]) -> None:
    assert walked["window_event"]["event"] == "dispensing.created"
    assert walked["window_event"]["lines"] == ["D01", "D02", "D03"]
    assert walked["window_event"]["ms_after_payment"] < 1_000
    assert walked["window_event"]["order"] in walked["queue"]
    assert walked["refusals"] == {
        "stranger_collects": {"status": 403, "code": "not_the_patient"},
        "another_doctor_reads": {"status": 403, "code": "not_the_ordering_doctor"},
    }
    assert walked["pick_up"]["status"] == "partial"
    assert walked["pick_up"]["lines"] == {"D01": "handed", "D02": "handed", "D03": "waiting"}
    back = walked["return"]
    assert back["refunded_fen"] == 2_600
    assert back["status"] == "done"
    assert back["resettlement"]["medfee_sumamt"] == walked["payment"]["medfee_sumamt"] - 2_600
    assert walked["exam"]["statuses"] == ["checked_in", "done", "reported"]
    assert walked["exam"]["result"]["conclusion"] == "normal"
    seen = {r["request"]: r for r in walked["exam"]["patient_sees"]}
    assert seen[walked["exam"]["request"]]["ready"] is True
    assert "summary" not in str(walked["exam"]["patient_sees"])


def test_bills_without_order_data_are_as_before(site_a: Site) -> None:
    bill = site_a.post_bill()
    assert {line["kind"] for line in bill["lines"]} == {"other"}
    paid = site_a.pay_by_card(bill)
    assert paid["bill"]["status"] == "paid"


def test_another_site_sees_nothing(site_a: Site, site_b: Site, pharmacist: Any) -> None:
    order = _paid_order(site_a, pharmacist)
    other, _ = site_b.add_staff("pharmacist")
    assert other.request("GET", f"/v1/dispensing-orders/{order['id']}").status_code == 404
    ident = site_b.identify_by_card()
    response = other.request(
        "POST",
        f"/v1/dispensing-orders/{order['id']}/collection",
        {"identification_id": ident["identification_id"]},
    )
    assert response.status_code == 404
    queue = expect(other.request("GET", "/v1/pharmacy/windows/W9/queue"), 200)
    assert queue["orders"] == []


def test_two_pharmacists_racing_for_one_order(site_a: Site, pharmacist: Any) -> None:
    order = _paid_order(site_a, pharmacist)
    idents = [site_a.identify_by_card()["identification_id"] for _ in range(2)]
    results: list[Any] = [None, None]

    def collect(n: int) -> None:
        results[n] = pharmacist.request(
            "POST",
            f"/v1/dispensing-orders/{order['id']}/collection",
            {"identification_id": idents[n]},
        )

    threads = [threading.Thread(target=collect, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = sorted((r.status_code, r.json().get("code")) for r in results)
    assert outcomes in ([(201, None), (409, "order_done")], [(201, None), (409, "storage_busy")])


def test_returns_replay_and_refuse(site_a: Site, pharmacist: Any) -> None:
    order = _paid_order(site_a, pharmacist)
    path = f"/v1/dispensing-orders/{order['id']}/returns"
    key = {"Idempotency-Key": f"ret-{secrets.token_hex(8)}"}
    first = expect(pharmacist.request("POST", path, {"line_codes": ["D2"]}, key), 201)
    again = expect(pharmacist.request("POST", path, {"line_codes": ["D2"]}, key), 201)
    assert (first["refunded_fen"], first["replayed"]) == (700, False)
    assert (again["refunded_fen"], again["replayed"]) == (700, True)
    other = pharmacist.request("POST", path, {"line_codes": ["D1"]}, key)
    assert other.json()["code"] == "idempotency_conflict"
    fresh = {"Idempotency-Key": f"ret-{secrets.token_hex(8)}"}
    twice = pharmacist.request("POST", path, {"line_codes": ["D2"]}, fresh)
    assert (twice.status_code, twice.json()["code"]) == (409, "line_returned")
    collect = f"/v1/dispensing-orders/{order['id']}/collection"
    ident = site_a.identify_by_card()["identification_id"]
    for bad in ("abc", "-1", 2.5):
        body = {"identification_id": ident, "lines": [{"code": "D1", "quantity": bad}]}
        assert pharmacist.request("POST", collect, body).status_code == 422
    too_much = {"identification_id": ident, "lines": [{"code": "D1", "quantity": "3"}]}
    response = pharmacist.request("POST", collect, too_much)
    assert (response.status_code, response.json()["code"]) == (422, "bad_handed_quantity")
    # The cashier may not collect, a kiosk may not read the queue.
    assert site_a.cashier.request("POST", collect, {"identification_id": ident}).status_code == 403
    assert site_a.kiosk.request("GET", "/v1/pharmacy/windows/W9/queue").status_code == 403


def test_results_refuse_embedded_images_and_unidentified_patients(
    api: Any, site_a: Site, walked: dict[str, Any]
) -> None:
    pacs = site_a.add_terminal("lis_pacs")
    request_id = walked["exam"]["request"]
    for ref, code in (
        ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==", "embedded_image"),
        ("javascript:alert(1)", "bad_image_ref"),
    ):
        body = {"summary": "x", "conclusion": "normal", "image_ref": ref,
                "performed_at": "2026-01-01T00:00:00Z"}  # fmt: skip
        response = pacs.request("POST", f"/v1/service-requests/{request_id}/result", body)
        assert (response.status_code, response.json()["code"]) == (422, code)
    assert site_a.cashier.request(
        "POST", f"/v1/service-requests/{request_id}/result", {}
    ).status_code in (401, 403)
    path = f"/v1/patients/{site_a.person['person_id']}/results-status"
    response = site_a.kiosk.request("GET", path)
    assert (response.status_code, response.json()["code"]) == (403, "identification_required")
