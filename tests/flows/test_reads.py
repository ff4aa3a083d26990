"""A patient's coverage and the site's settlements over HTTP on SQLite and PostgreSQL: what the
cashier's screen and the auditor read, and what another site cannot."""

from __future__ import annotations

from facepay.demo.scenario import expect
from facepay.demo.world import Site


def test_coverage_shows_the_year_and_the_account_after_a_payment(
    site_a: Site, site_b: Site
) -> None:
    person = site_a.person["person_id"]
    unknown = site_a.cashier.request("GET", f"/v1/patients/{person}/coverage")
    assert unknown.status_code == 404  # not yet a patient of this site
    receipt = site_a.pay_by_card()
    shown = expect(site_a.cashier.request("GET", f"/v1/patients/{person}/coverage"), 200)
    assert shown["category"] == "employee_active"
    assert shown["personal_account_fen"] == receipt["split"]["balc"]
    assert shown["accumulators"]["inpatient_admissions"] == 1
    assert site_b.cashier.request("GET", f"/v1/patients/{person}/coverage").status_code == 404
    assert site_a.kiosk.request("GET", f"/v1/patients/{person}/coverage").status_code == 401
    assert (
        site_a.cashier.request("GET", f"/v1/patients/{person}/coverage?year=1999").status_code
        == 422
    )


def test_settlements_read_with_their_inputs_and_only_at_their_site(
    site_a: Site, site_b: Site
) -> None:
    receipt = site_a.pay_by_card()
    settlement = receipt["settlement_id"]
    read = expect(site_a.auditor.request("GET", f"/v1/settlements/{settlement}"), 200)
    assert read["split"]["medfee_sumamt"] == receipt["split"]["medfee_sumamt"]
    assert read["bill"]["visit_type"] == "inpatient"
    assert read["payer"]["category"] == "employee_active"
    page = expect(site_a.auditor.request("GET", "/v1/settlements?limit=200"), 200)
    assert settlement in {item["id"] for item in page["items"]}
    assert site_b.auditor.request("GET", f"/v1/settlements/{settlement}").status_code == 404
    others = expect(site_b.auditor.request("GET", "/v1/settlements?limit=200"), 200)
    assert settlement not in {item["id"] for item in others["items"]}
    assert site_a.cashier.request("GET", "/v1/settlements").status_code == 403
