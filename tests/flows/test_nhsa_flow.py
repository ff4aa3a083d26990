"""End to end with the national platform: the real server (settlement_platform=nhsa, SQLite and
PostgreSQL) and the platform simulator as a process of its own, real HTTP both ways. A bill
paid by card identification settles through 2201/2204/2206/2207 with the local engine's split;
each fault the simulator makes ends with the same money on both sides; a refund is cancelled on
both; the day's 3201/3202 answer matches facepay's settlements."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.security.conftest import BACKENDS, SERIALS, Api, ServeApi, api_settings, running_api
from typer.testing import CliRunner

from facepay.adapters.fhir.his_day import his_entries
from facepay.adapters.nhsa.reconciliation import DayTotals, NhsaStatement, fetch_day
from facepay.adapters.nhsa.store import Institution
from facepay.cli import app
from facepay.demo.flows import inpatient as inpatient_flow
from facepay.demo.world import Site, make_site, register_person
from facepay.insurance.model import Accumulators, Coverage
from facepay.insurance.settlement import settle
from facepay.services.bills import get_bill
from facepay.services.reconciliation import day_window, his_side, reconcile_day
from facepay.supervision.reconciliation import Entry

TIMEOUT = 0.5
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    """`python -m facepay.adapters.nhsa` on a free port, once for the module."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen(
        [sys.executable, "-m", "facepay.adapters.nhsa", "--port", "0", "--area", "310105"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"http://[0-9.]+:\d+", line)
    assert found, f"the simulator did not start: {line!r}"
    try:
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


@pytest.fixture(scope="module", params=BACKENDS)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    serve_api: ServeApi,
    simulator: str,
) -> Iterator[Api]:
    """A server on each database that settles on the simulator."""
    overrides: dict[str, object] = {
        "settlement_platform": "nhsa",
        "nhsa_url": simulator,
        "nhsa_timeout_seconds": TIMEOUT,
        "nhsa_attempts": 2,
    }
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("create_postgres_database")(
            "facepay_nhsa_"
        )
    settings = api_settings(tmp_path_factory.mktemp("api"), **overrides)
    yield from running_api(settings, serve_api)


@pytest.fixture(scope="module")
def site(api: Api, simulator: str) -> Site:
    """A hospital registered with the platform, its person insured there with the same account."""
    made = make_site(api.http, api.operator, serial=next(SERIALS))
    code = f"H310105{next(SERIALS):05d}"
    api.services.platform.client.log.save_institution(  # type: ignore[attr-defined]
        Institution(made.hospital_id, code, "示例市第一人民医院", "310105"),
        at=datetime.now(UTC),
    )
    person = made.person
    body = {
        "certno": person["id_number"],
        "name": person["name"],
        "category": "employee_active",
        "balance_fen": 200_000,
    }
    assert httpx.post(f"{simulator}/control/people", json=body).status_code == 200
    return made


def _fault(simulator: str, **fault: object) -> None:
    assert httpx.post(f"{simulator}/control/faults", json=fault).status_code == 200


def _state(simulator: str) -> dict[str, Any]:
    return httpx.get(f"{simulator}/control/state").json()  # type: ignore[no-any-return]


def _standing(simulator: str, facepay: Api, site: Site) -> list[dict[str, Any]]:
    """The simulator's standing settlements of this site's visits."""
    client = facepay.services.platform.client  # type: ignore[attr-defined]
    codes = {m.msgid for m in client.log.find(site.hospital_id, infno="2207")}
    return [
        s for s in _state(simulator)["settlements"] if s["msgid"] in codes and not s["cancelled"]
    ]


def _pay(site: Site, bill: dict[str, Any], key: str) -> httpx.Response:
    ident = site.identify_by_card()
    return site.kiosk.request(
        "POST", f"/v1/bills/{bill['id']}/payments",
        {"identification_id": ident["identification_id"]}, headers={"Idempotency-Key": key},
    )  # fmt: skip


def test_a_card_payment_settles_on_the_platform_with_the_local_split(
    api: Api, site: Site, simulator: str
) -> None:
    bill = site.post_visit(48_000)
    paid = _pay(site, bill, "nhsa-first")
    assert paid.status_code == 201, paid.text
    split = paid.json()["split"]
    posted = get_bill(ctx=api.services, hospital_id=site.hospital_id, bill_id=bill["id"]).bill
    policy = api.services.policies.pick(
        service_date=posted.service_date, category="employee_active"
    )
    local = settle(
        bill=posted,
        coverage=Coverage("employee_active", 200_000),
        accumulators=Accumulators(year=posted.service_date.year),
        policy=policy,
    )
    for name in ("medfee_sumamt", "fund_pay_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay"):
        assert split[name] == getattr(local, name), name
    standing = _standing(simulator, api, site)
    assert [(s["medfee_fen"], s["acct_fen"]) for s in standing] == [(48_000, local.acct_pay)]
    assert _state(simulator)["received"][-4:] == ["2201", "2204", "2206", "2207"]
    again = _pay(site, bill, "nhsa-first")
    assert again.status_code == 201
    assert again.json()["replayed"]


@pytest.mark.parametrize(
    ("mode", "status"), [("timeout", 503), ("late", 503), ("drop", 503), ("fail", 409)]
)
def test_each_fault_leaves_the_money_the_same_on_both_sides(
    api: Api, site: Site, simulator: str, mode: str, status: int
) -> None:
    before = len(_standing(simulator, api, site))
    bill = site.post_visit(3_000)
    _fault(simulator, infno="2207", mode=mode, delay_seconds=TIMEOUT * 2)
    failed = _pay(site, bill, f"nhsa-{mode}")
    assert failed.status_code == status, failed.text
    assert failed.json()["code"] == ("nhsa_refused" if mode == "fail" else "nhsa_unavailable")
    assert (
        get_bill(ctx=api.services, hospital_id=site.hospital_id, bill_id=bill["id"]).status
        == "open"
    )
    assert len(_standing(simulator, api, site)) == before  # nothing stands on the platform
    # The same key again pays once, on both sides.
    paid = _pay(site, bill, f"nhsa-{mode}")
    assert paid.status_code == 201, paid.text
    standing = _standing(simulator, api, site)
    assert len(standing) == before + 1
    assert paid.json()["split"]["medfee_sumamt"] == 3_000


def test_a_refund_is_cancelled_on_both_sides(api: Api, site: Site, simulator: str) -> None:
    before = len(_standing(simulator, api, site))
    bill = site.post_visit(2_000)
    assert _pay(site, bill, "nhsa-refund").status_code == 201
    assert len(_standing(simulator, api, site)) == before + 1
    refund = site.cashier.request(
        "POST", f"/v1/bills/{bill['id']}/refunds", {}, headers={"Idempotency-Key": "nhsa-refund-1"}
    )
    assert refund.status_code == 201, refund.text
    assert len(_standing(simulator, api, site)) == before
    assert (
        get_bill(ctx=api.services, hospital_id=site.hospital_id, bill_id=bill["id"]).status
        == "refunded"
    )


def test_the_days_statement_is_facepays_settlements(api: Api, site: Site) -> None:
    client = api.services.platform.client  # type: ignore[attr-defined]
    institution = client.log.institution(site.hospital_id)
    with api.services.uow() as uow:
        standing = [
            r
            for r in uow.settlements.of_site(site.hospital_id, after=None, limit=100)
            if r.status == "settled"
        ]
    ours = DayTotals(
        medfee_sumamt=sum(r.settlement.medfee_sumamt for r in standing),
        fund_pay_sumamt=sum(r.settlement.fund_pay_sumamt for r in standing),
        acct_pay=sum(r.settlement.acct_pay for r in standing),
        psn_cash_pay=sum(r.settlement.psn_cash_pay for r in standing),
        settlements=len(standing),
    )
    today = client.local_now().date()
    day = fetch_day(client, institution, today, ours=ours)
    assert day.agreed, day.verdict
    assert day.totals == ours
    assert {r.setl_id for r in day.rows if r.cancel} <= {r.setl_id for r in day.rows}


def test_the_stay_walk_settles_each_discharge_on_the_platform(
    api: Api, site: Site, simulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's stay (admission, deposits, charges, discharge, reversal, discharge again)
    on the national platform: its money identities still hold, and exactly the last discharge
    stands on the platform with the split facepay booked."""

    def insured_on_both(operator: Any, **values: Any) -> dict[str, Any]:
        person = register_person(operator, **values)
        body = {"certno": person["id_number"], "name": person["name"],
                "category": "employee_active", "balance_fen": values["fund_fen"]}  # fmt: skip
        assert httpx.post(f"{simulator}/control/people", json=body).status_code == 200
        return person

    monkeypatch.setattr(inpatient_flow, "register_person", insured_on_both)
    before = len(_state(simulator)["settlements"])
    today = api.services.platform.client.local_now().date()  # type: ignore[attr-defined]
    report = inpatient_flow.walk(site, api.http, today=today)
    check = report["check"]
    assert check["deposit_applied_plus_arrears_plus_fund_plus_account"] == check["charges_fen"]
    stays = _state(simulator)["settlements"][before:]
    assert [s["cancelled"] for s in stays] == [True, False]
    assert stays[1]["medfee_fen"] == report["discharge_again"]["split"]["medfee_sumamt"]
    assert stays[1]["cash_fen"] == report["discharge_again"]["split"]["psn_cash_pay"]


def _his_file(entries: list[Any], path: Path) -> Path:
    """The HIS's day as the HIS would write it: a FHIR R4 PaymentReconciliation."""
    detail = [
        {
            "identifier": {"system": "urn:his:invoice", "value": e.key},
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/payment-type",
                                 "code": "payment" if e.kind == "payment" else "adjustment"}]},
            "amount": {"value": _yuan(e.amounts["amount"]), "currency": "CNY"},
        }
        for e in entries
    ]  # fmt: skip
    total = sum(e.amounts["amount"] for e in entries if e.kind == "payment")
    document = {
        "resourceType": "PaymentReconciliation",
        "status": "active",
        "created": "2026-12-01T23:00:00+08:00",
        "paymentDate": "2026-12-01",
        "paymentAmount": {"value": _yuan(total), "currency": "CNY"},
        "detail": detail,
    }
    path.write_text(json.dumps(document, default=float))  # yuan: shortest repr, read exactly
    return path


def _yuan(fen: int) -> Any:
    return Decimal(fen).scaleb(-2)


def test_the_nightly_reconciliation_agrees_then_finds_exactly_a_dropped_and_an_altered(
    api: Api, site: Site, tmp_path: Path
) -> None:
    for n in range(2):
        bill = site.post_visit(4_000 + 100 * n)
        assert _pay(site, bill, f"rec-pay-{bill['id']}").status_code == 201, bill
    today = api.services.platform.client.local_now().date()  # type: ignore[attr-defined]
    window = day_window(today, api.services.settings.hospital_utc_offset_minutes)
    heard = his_side(api.services, hospital_id=site.hospital_id, window=window)
    statement = NhsaStatement(api.services.platform)  # type: ignore[arg-type]
    report, added = reconcile_day(
        api.services,
        hospital_id=site.hospital_id,
        day=today,
        his=his_entries(json.loads(_his_file(heard, tmp_path / "his.json").read_text(),
                                   parse_float=Decimal)),
        statement=statement,
        actor="test",
    )  # fmt: skip
    assert report.differences == (), report.as_json()
    assert [c.side for c in report.comparisons] == ["platform", "his"]
    assert report.comparisons[0].facepay["payment"].count >= 2
    assert added == 0
    # The HIS charged one visit facepay never heard of, and recorded another at another amount.
    payments = [e for e in heard if e.kind == "payment"]
    altered = Entry(payments[0].key, "payment", {"amount": payments[0].amounts["amount"] + 50})
    faulty = [altered, *heard[1:], Entry("HIS-NEVER-ARRIVED", "payment", {"amount": 12_300})]
    env = {
        "FACEPAY_DATA_DIR": str(api.data_dir),
        "FACEPAY_ENVIRONMENT": "test",
        "FACEPAY_JWT_SECRET": api.services.settings.jwt_secret.get_secret_value(),
        "FACEPAY_SETTLEMENT_PLATFORM": "nhsa",
        "FACEPAY_NHSA_URL": api.services.settings.nhsa_url or "",
    }
    if api.services.settings.database_url:
        env["FACEPAY_DATABASE_URL"] = api.services.settings.resolved_database_url()
    args = ["reconcile", "--date", today.isoformat(), "--site", site.hospital_id,
            "--his", str(_his_file(faulty, tmp_path / "faulty.json")), "--json",
            "--out", str(tmp_path / "out")]  # fmt: skip
    ran = CliRunner().invoke(app, args, env=env)
    assert ran.exit_code == 1, ran.output
    body = json.loads(ran.stdout)
    found = [
        (d["side"], d["kind"], d["key"]) for c in body["comparisons"] for d in c["differences"]
    ]
    assert sorted(found) == [
        ("his", "amount_differs", payments[0].key),
        ("his", "missing_in_facepay", "HIS-NEVER-ARRIVED"),
    ]
    assert body["new_alerts"] == 2
    assert sorted(Path(p).suffix for p in body["files"]) == [".csv", ".json", ".png"]
    again = CliRunner().invoke(app, args, env=env)
    assert (again.exit_code, json.loads(again.stdout)["new_alerts"]) == (1, 0)


def test_two_runs_of_one_night_at_once_raise_each_alert_once(api: Api, site: Site) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from facepay.services.reconciliation import record_alerts  # noqa: PLC0415
    from facepay.supervision.reconciliation import Reconciliation, compare  # noqa: PLC0415

    theirs = [Entry(f"RACE-{n}", "payment", {"amount": 100 + n}) for n in range(5)]
    night = date(2026, 1, 2)
    report = Reconciliation(site.hospital_id, night, (compare("his", [], theirs),))
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=2) as pool:
        added = list(
            pool.map(lambda _: record_alerts(api.services, report, actor="t", now=now), range(2))
        )
    assert sorted(added) == [0, 5]
