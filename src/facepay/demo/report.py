"""Rich tables of what the demo scenario did and measured."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from facepay.demo.scenario import DemoReport, PaymentSeen
from facepay.shared.error_catalogue import MEANINGS
from facepay.shared.money import fen_to_yuan_str


def _yuan(fen: object) -> str:
    return fen_to_yuan_str(fen) if isinstance(fen, int) else "-"


def print_report(console: Console, report: DemoReport, metrics: str) -> None:
    """Faces, enrolments, payments with their split, attack, refunds, audit, latency."""
    faces = Table(title="Chip photos: detection and quality gate")
    for column in ("patient", "faces", "quality"):
        faces.add_column(column)
    for row in report.faces:
        faces.add_row(row["patient"], str(row["faces"]), row["quality"])
    console.print(faces)

    enrol = Table(title="Enrolment (1:1 live face vs chip photo, 1:N duplicate check)")
    for column in ("patient", "HTTP", "1:1 score", "refusal"):
        enrol.add_column(column)
    for row in report.enrolments:
        score = row["verify_score"]
        enrol.add_row(
            row["patient"],
            str(row["status"]),
            f"{score:.3f}" if isinstance(score, float) else "-",
            row["code"],
        )
    console.print(enrol)

    pays = Table(title=f"Face payments (first 8 of {len(report.payments)}; yuan)")
    columns = ("patient", "1:N", "own", "next", "total", "fund", "account", "cash", "server ms")
    for column in columns:
        pays.add_column(column, justify="right" if column not in ("patient", "1:N") else "left")
    for p in report.payments[:8]:
        s = p.split
        own, other = p.scores or (float("nan"), float("nan"))
        pays.add_row(
            p.patient,
            p.decision,
            f"{own:.3f}",
            f"{other:.3f}",
            _yuan(s["medfee_sumamt"]),
            _yuan(s["fund_pay_sumamt"]),
            _yuan(s["acct_pay"]),
            _yuan(s["psn_cash_pay"]),
            f"{p.server_ms:.0f}",
        )
    console.print(pays)
    console.print(
        "own / next: cosine of the kiosk frame to the patient's chip photo and to the closest "
        "other enrolled patient (a kiosk-side re-check; the server decides at 0.93)"
    )

    summary = Table(title="Summary")
    summary.add_column("step")
    summary.add_column("result")
    a = report.attack
    verdict = "[green]refused[/green]" if a.get("refused") else "[red]ACCEPTED[/red]"
    summary.add_row("photo attack", f"{verdict} ({a.get('status')} {a.get('type')})")
    for r in report.refunds:
        outcome = f"{r['status']} {r['code']}".strip()
        summary.add_row(
            f"refund by {r['who']}", f"{outcome}; {_yuan(r['refunded_fen'])} yuan ({r['patient']})"
        )
    f = report.fallback
    if f:
        summary.add_row(
            "consent withdrawn",
            f"{f['patient']}: {f['templates_deleted']} template(s) erased; face now "
            f"{f['face_after_erasure']}; ID + insurance card: {f['by_card']}",
        )
    audit = report.audit
    summary.add_row(
        "audit chain",
        f"{'intact' if audit.get('ok') else 'BROKEN'}, {audit.get('entries_checked')} entries",
    )
    p50, p95 = report.latency()
    summary.add_row(
        "payment latency (server side: liveness + identify + settle + commit)",
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(report.payments)} payments",
    )
    retries = sum(p.liveness_retries for p in report.payments)
    summary.add_row(
        "liveness retries",
        f"{retries} bona fide synthetic capture(s) refused and retaken in {len(report.payments)} "
        f"payments (not counted in the latency); {report.sent_to_cashier} payment(s) given up "
        "after 5 refusals",
    )
    summary.add_row("metrics", _counters(metrics))
    console.print(summary)


def _counters(metrics: str) -> str:
    """`settled=28 replayed=0 ...` from the Prometheus text of the outcome counters."""
    wanted = ("facepay_settlements_total", "facepay_identification_decisions_total")
    parts = []
    for line in metrics.splitlines():
        if line.startswith(wanted) and "{" in line:
            label = line[line.index('="') + 2 : line.index('"}')]
            parts.append(f"{label}={float(line.rsplit(' ', 1)[1]):.0f}")
    return " ".join(parts) or "-"


def day_summary(payment: PaymentSeen) -> dict[str, Any]:
    """What the JSON report keeps of one timed kiosk payment."""
    return {
        "patient": payment.patient,
        "decision": payment.decision,
        "bill_id": payment.bill_id,
        "server_ms": round(payment.server_ms, 1),
        "liveness_retries": payment.liveness_retries,
        "split": payment.split,
    }


def refusal_codes(report: object) -> list[str]:
    """Every stable error code a walker's report holds, wherever it put it."""
    if isinstance(report, str):
        return [report] if report in MEANINGS else []
    if isinstance(report, dict):
        return [code for value in report.values() for code in refusal_codes(value)]
    if isinstance(report, list):
        return [code for value in report for code in refusal_codes(value)]
    return []


def print_day(console: Console, day: dict[str, Any]) -> None:
    """The day at one hospital: each flow and how long its walk took, the settlements made
    (under the national field names) and whether each recomputes from the report."""
    flows = Table(title=f"A day at hospital {day['hospital_id']} ({day['date']})")
    for column in ("flow", "walk ms", "refusals shown (stable codes)"):
        flows.add_column(column)
    for name, report in day["flows"].items():
        codes = sorted(set(refusal_codes(report)))
        flows.add_row(name, f"{day['flow_ms'][name]:.0f}", ", ".join(codes) or "-")
    console.print(flows)
    print_outage(console, day.get("outage") or {"skipped": "not run"})
    money = Table(title="Settlements of the day (yuan), recomputed from their inputs")
    for column in ("settlement", "visit", "status", "total", "fund", "account", "cash"):
        money.add_column(column)
    for read in day["settlements"]:
        split = read["split"]
        visit = read["bill"]["visit_type"] if read["bill"] else "?"
        money.add_row(
            read["id"][:16],
            visit,
            read["status"],
            _yuan(split["medfee_sumamt"]),
            _yuan(split["fund_pay_sumamt"]),
            _yuan(split["acct_pay"]),
            _yuan(split["psn_cash_pay"]),
        )
    console.print(money)
    checked = day["recomputed"]
    verdict = "every fen matches" if not checked["differences"] else "DIFFERENCES FOUND"
    console.print(f"{checked['settlements']} settlements recomputed: {verdict}")
    for problem in checked["differences"]:
        console.print(f"  [red]{problem}[/red]")
    print_his(console, day.get("his") or {"skipped": "not run"})


def print_outage(console: Console, outage: dict[str, Any]) -> None:
    """The outage at the pharmacy window: each payment (online, offline, and the lobby's
    meanwhile), what the sync made of each voucher, the notice, and whether agent and server
    agree."""
    if "skipped" in outage:
        console.print(f"outage: skipped ({outage['skipped']})")
        return
    table = Table(
        title=f"The outage at the pharmacy window (terminal agent {outage['terminal_id'][:16]}, "
        f"{outage['took_ms'] / 1000:.1f} s)"
    )
    for column in ("step", "bill", "total", "account", "cash", "voucher", "after sync"):
        table.add_column(column)
    synced = {row["voucher_id"]: row for row in outage["sync"]}
    for payment in outage["payments"]:
        voucher = payment.get("voucher_id")
        after = "settled online"
        if voucher is not None:
            row = synced.get(voucher, {})
            difference = row.get("difference") or {"kind": "none", "amount_fen": 0}
            after = str(row.get("status") or "not synced")
            if difference["kind"] != "none":
                after += f", {difference['kind']} {_yuan(difference['amount_fen'])}"
        table.add_row(
            f"window agent, {payment['mode']}",
            payment["bill_id"][:16],
            _yuan(payment["total_fen"]),
            _yuan(payment["acct_pay"]),
            _yuan(payment["cash_fen"]),
            f"#{payment['counter']}" if voucher else "-",
            after,
        )
    elsewhere = outage["elsewhere"]
    table.add_row(
        "lobby kiosk, meanwhile (card)",
        elsewhere["bill_id"][:16],
        _yuan(elsewhere["total_fen"]),
        _yuan(elsewhere["acct_pay"]),
        _yuan(elsewhere["psn_cash_pay"]),
        "-",
        "settled online",
    )
    console.print(table)
    before, after = outage["while_offline"], outage["after_sync"]
    console.print(
        f"while cut off: mode {before['mode']}, {before['outbox']['depth']} vouchers waiting; "
        f"after the restore: mode {after['mode']}, {after['outbox']['depth']} waiting, "
        f"{after['outbox']['synced']} synced; arrears booked {_yuan(outage['arrears_fen'])} yuan"
    )
    for notice in outage["notices"]:
        console.print(f"at the patient's next visit: {notice['message']}")
    phases = ", ".join(f"{name} {ms:.0f}" for name, ms in outage.get("phase_ms", {}).items())
    console.print(f"outage phases (ms): {phases}")
    if outage["agree"]:
        console.print("agent and server agree voucher by voucher; every bill paid once")
    for problem in outage["disagreements"]:
        console.print(f"  [red]{problem}[/red]")


def print_his(console: Console, his: dict[str, Any]) -> None:
    """The hospital information system's day: each charge the HIS sent, what facepay made of
    it, what was paid by face and what the HIS heard back; then each night's reconciliation."""
    if "skipped" in his:
        console.print(f"HIS: skipped ({his['skipped']})")
        return
    table = Table(
        title=f"The HIS's day at {his['hospital_id']} (national platform, simulated; "
        f"{his['took_ms'] / 1000:.1f} s)"
    )
    for column in ("part", "sent as", "HIS invoice", "HIS charged", "facepay bill", "paid by face",
                   "heard (MLLP / FHIR)"):  # fmt: skip
        table.add_column(column)
    for part in ("clean", "faulty"):
        paid = {p["ref"]: p for p in his[part]["payments"]}
        for charge in his[part]["charges"]:
            payment = paid.get(charge["ref"])
            heard = charge["heard"]
            table.add_row(
                part,
                "DFT^P03 (MLLP)" if charge["channel"] == "mllp" else "Invoice (FHIR)",
                charge["ref"],
                _yuan(charge["charged_fen"]),
                (charge["bill_id"] or "never arrived")[:16],
                _yuan(payment["total_fen"]) if payment else "-",
                f"{_yuan(heard.get('mllp'))} / {_yuan(heard.get('fhir'))}",
            )
    console.print(table)
    for part in ("clean", "faulty"):
        night = his[part]
        sides = ", ".join(
            f"{side} {'agrees' if c['agrees'] else str(c['differences']) + ' difference(s)'}"
            for side, c in night["comparisons"].items()
        )
        console.print(f"the {part} night: {sides}; {night['new_alerts']} new alert(s)")
        for d in night["differences"]:
            amounts = f"facepay {_yuan(d['facepay_fen'])}, HIS {_yuan(d['other_fen'])}"
            console.print(f"  {d['kind']}: {d['entry']} {d['key']} ({amounts})")
    if his["as_expected"]:
        console.print("the reconciliation found exactly the lost message and the altered amount")
    for problem in his["problems"]:
        console.print(f"  [red]{problem}[/red]")
