"""The audit log is per hospital: each hospital has its own hash chain, read and verified by its
own auditors and admins only; the platform operator verifies every chain. Before, hospital B's
auditor paging `GET /v1/audit/entries` received hospital A's entries (payments with person ids
and amounts), and B's admin could verify A's chain."""

from __future__ import annotations

import json

from tests.security.conftest import Api

from facepay.demo.world import Site


def _pay(site: Site) -> dict:
    return site.pay_by_card()["bill"]


def _all_entries(session, query: str = "") -> list[dict]:
    items: list[dict] = []
    next_seq: int | None = 1
    while next_seq is not None:
        page = session.request("GET", f"/v1/audit/entries?from_seq={next_seq}&limit=500{query}")
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        next_seq = body["next_seq"]
    return items


def test_a_hospital_reads_only_its_own_audit_entries(site_a: Site, site_b: Site) -> None:
    bill_a = _pay(site_a)
    _pay(site_b)
    for reader in (site_b.auditor, site_b.admin):
        seen = json.dumps(_all_entries(reader))
        assert site_b.hospital_id in seen
        assert site_a.hospital_id not in seen
        assert bill_a["id"] not in seen
        assert site_a.person["person_id"] not in seen
    mine = _all_entries(site_a.auditor)
    assert any(e["action"] == "payment.settle" and e["subject"] == bill_a["id"] for e in mine)


def test_a_hospital_cannot_page_another_hospitals_chain(site_a: Site, site_b: Site) -> None:
    response = site_b.auditor.request("GET", f"/v1/audit/entries?chain={site_a.hospital_id}")
    assert response.status_code in (403, 404), response.text


def test_a_hospital_verifies_its_own_chain_only(site_a: Site, site_b: Site) -> None:
    _pay(site_a)
    own = _all_entries(site_b.auditor)
    report = site_b.admin.request("GET", "/v1/audit/verification").json()
    assert report["ok"] is True
    assert report["entries_checked"] == len(own) + 0  # B's chain, not the whole log
    assert report["chains"] == [site_b.hospital_id]


def test_the_platform_operator_verifies_every_chain(api: Api, site_a: Site, site_b: Site) -> None:
    _pay(site_a)
    _pay(site_b)
    report = api.operator.request("GET", "/v1/audit/verification").json()
    assert report["ok"] is True
    assert {site_a.hospital_id, site_b.hospital_id, "platform"} <= set(report["chains"])
    platform = _all_entries(api.operator, "&chain=platform")
    assert any(e["action"] == "hospital.register" for e in platform)
    assert any(e["action"] == "registry.add_person" for e in platform)
    of_a = _all_entries(api.operator, f"&chain={site_a.hospital_id}")
    assert any(e["action"] == "payment.settle" for e in of_a)
