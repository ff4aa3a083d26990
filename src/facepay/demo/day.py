"""A day at one hospital, every flow through HTTP: appointments in the morning, the pharmacy and
the exam rooms after the clinics, a guardian paying for a frail patient, an admission through to
discharge, an emergency at night. Each flow's walker (facepay.demo.flows) returns its inputs and
outcomes; the day then reads every settlement the site made, with what it was computed from,
and recomputes each one (facepay.demo.recompute), so that the report proves its own money.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
from rich.console import Console

from facepay.adapters.interchange import shipped_policies
from facepay.client import StaffSession
from facepay.demo.flows import appointments, emergency, his, inpatient, orders, outage, proxies
from facepay.demo.recompute import recompute_all
from facepay.demo.scenario import expect
from facepay.demo.world import Site, make_site

Walk = Callable[..., dict[str, Any]]
FLOWS: tuple[tuple[str, Walk], ...] = (
    ("appointments", appointments.walk),
    ("pharmacy_and_exams", orders.walk),
    ("guardians", proxies.walk),
    ("inpatient", inpatient.walk),
    ("emergency", emergency.walk),
)


def settlements_of(site: Site) -> list[dict[str, Any]]:
    """Every settlement of the site, oldest first (all pages)."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = "/v1/settlements?limit=200" + (f"&after={after}" if after else "")
        page = expect(site.auditor.request("GET", query), 200)
        found.extend(page["items"])
        after = page["next"]
        if after is None:
            return found


def run_day(
    http: httpx.Client,
    *,
    platform: StaffSession,
    today: date,
    console: Console | None = None,
    outage_kit: outage.OutageKit | None = None,
    outage_skipped: str = "",
    his_kit: his.HisKit | None = None,
    his_skipped: str = "",
) -> dict[str, Any]:
    """Onboard a hospital (as the platform operator), walk every flow there, then the outage
    at its pharmacy window (with `outage_kit`; else the report says why not), recompute every
    settlement; then the hospital information system's day on a server of its own that
    settles on the national platform (with `his_kit`); the report."""
    say = (console or Console(quiet=True)).print
    site = make_site(http, platform, serial=60_000 + secrets.randbelow(30_000))
    say(f"the day at hospital {site.hospital_id}")
    report: dict[str, Any] = {"hospital_id": site.hospital_id, "date": today.isoformat()}
    flows: dict[str, Any] = {}
    took: dict[str, float] = {}
    for name, walk in FLOWS:
        started = time.perf_counter()
        flows[name] = walk(site, http, today=today)
        took[name] = round((time.perf_counter() - started) * 1000, 1)
        say(f"  {name}: done in {took[name]:.0f} ms")
    report["flows"] = flows
    report["flow_ms"] = took
    if outage_kit is not None:
        report["outage"] = outage.walk(site, http, today=today, kit=outage_kit)
        cut = report["outage"]
        say(
            f"  outage: {len(cut['sync'])} offline vouchers synced, arrears "
            f"{cut['arrears_fen']} fen, agent and server "
            f"{'agree' if cut['agree'] else 'DISAGREE'} ({cut['took_ms']:.0f} ms)"
        )
    else:
        report["outage"] = {"skipped": outage_skipped or "not asked for"}
    report["settlements"] = settlements_of(site)
    report["recomputed"] = recompute_all(report["settlements"], shipped_policies())
    checked = report["recomputed"]
    say(
        f"  {checked['settlements']} settlements recomputed from the report: "
        f"{len(checked['differences'])} differences"
    )
    report["his"] = _his(his_kit, his_skipped, say)
    return report


def _his(kit: his.HisKit | None, skipped: str, say: Callable[..., Any]) -> dict[str, Any]:
    """The HIS walk (its own server, simulator and site), told in a few lines."""
    if kit is None:
        return {"skipped": skipped or "not asked for"}
    found = his.walk(kit)
    sent, faulty = found["sent"], found["faulty"]
    say(
        f"  his: ADT^A04 and {sent['dft']} DFT^P03 over MLLP, {sent['invoices']} Invoices over "
        f"FHIR; {sent['paid_by_face']} bills paid by face; the HIS heard "
        f"{found['mllp']['notifier']['acknowledged']} MLLP and {found['fhir']['hook_accepted']} "
        f"FHIR notifications ({found['took_ms']:.0f} ms)"
    )
    shown = ", ".join(f"{d['kind']} {d['key']}" for d in faulty["differences"])
    say(
        f"  his: the clean night {len(found['clean']['differences'])} differences; the faulty "
        f"night {len(faulty['differences'])} ({shown}), {faulty['new_alerts']} alerts"
        + ("" if found["as_expected"] else f" [red]NOT AS EXPECTED: {found['problems']}[/red]")
    )
    return found
