"""The region sees every site's totals and nothing else of them; a site sees none of it."""

from __future__ import annotations

from tests.e2e.conftest import Api

from facepay.demo.world import make_site


def test_the_region_sums_each_sites_settlements_and_shows_no_patient(api: Api) -> None:
    first = make_site(api.http, api.operator, serial=810)
    second = make_site(api.http, api.operator, serial=811)
    paid = [first.pay_by_card(), first.pay_by_card(), second.pay_by_card()]
    assert all("settlement_id" in p or "settlement" in p for p in paid), paid

    response = api.operator.request("GET", "/v1/region")
    assert response.status_code == 200, response.text
    region = response.json()
    sites = {s["id"]: s for s in region["sites"]}
    assert sites[first.hospital_id]["totals"]["settlements"] == 2
    assert sites[second.hospital_id]["totals"]["settlements"] == 1
    assert sites[first.hospital_id]["kind"] == "hospital"
    for field in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay"):
        assert region["totals"][field] == sum(s["totals"][field] for s in region["sites"])
    one = sites[first.hospital_id]["totals"]
    assert one["medfee_sumamt"] == one["fund_pay_sumamt"] + one["acct_pay"] + one["psn_cash_pay"]
    # Totals only: no patient, bill or person of any site is in the answer.
    for person in (first.person, second.person):
        assert person["id_number"] not in response.text
        assert person["name"] not in response.text

    for staff in (first.admin, first.auditor, first.cashier):
        refused = staff.request("GET", "/v1/region")
        assert refused.status_code == 403, refused.text
    assert first.kiosk.request("GET", "/v1/region").status_code in (401, 403)
