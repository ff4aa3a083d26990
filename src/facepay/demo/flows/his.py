"""The hospital information system's day, end to end (issue 13's "done when").

On a stage of its own (facepay.demo.flows.his_stage: an NHSA simulator, a facepay server
settling there, the site's MLLP listener notifying the HIS), the demo HIS (facepay.demo.his)
registers the patient (ADT^A04) and sends charges (DFT^P03) over MLLP through the hospital's
interface engine, and pushes an Invoice of ChargeItems over FHIR. The patient, enrolled by face
at the site's kiosk, pays each bill BY FACE there. The HIS hears of each payment twice: a
DFT^P03 in its MLLP inbox and a signed FHIR rest-hook. At night the HIS writes its day as a FHIR
PaymentReconciliation and facepay reconciles the site's day against it and against the national
platform's statement: no difference.

Then the faulty part of the day: the interface engine loses one DFT^P03 after answering the HIS
AA (the HIS's ledger has it as sent), and the HIS's FHIR interface maps one charge at another
price (its ledger keeps the true one). The patient pays what arrived. The night's
reconciliation shows exactly those two: `missing_in_facepay` for the lost charge and
`amount_differs` for the altered one, each raised once as an alert.

Both parts fall on the same calendar day of the site (a demo cannot wait for midnight): the
second reconciliation covers the whole day, and the two differences are the only new ones.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from facepay.adapters.charts import write_report_files
from facepay.adapters.fhir.his_day import read_his_day
from facepay.adapters.nhsa.reconciliation import NhsaStatement
from facepay.client import TerminalSession
from facepay.demo.flows.his_stage import Stage, listening, staged
from facepay.demo.his import (
    Charge,
    ChargeLine,
    Ledger,
    charge_message,
    fhir_json,
    invoice_resource,
    register_message,
)
from facepay.demo.his_wire import HookReceiver, InterfaceEngine, MllpInbox, MllpSender
from facepay.demo.scenario import DemoError, expect
from facepay.demo.world import Site, make_site, register_person
from facepay.services.reconciliation import reconcile_day
from facepay.terminal.capture import SubjectSource
from facepay.terminal.kiosk import Kiosk
from facepay.vision.engine import FaceEngine
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo

FHIR = "/fhir/R4"
PATIENT_NAME = "王小明"
ACCOUNT_FEN = 200_000
TIER = 3
HEARD_WITHIN = 60.0
CLEAN = (
    ("OP", (ChargeLine("A-REG", "普通门诊诊查费", "A", 1_000), ChargeLine("A-AMX", "阿莫西林胶囊", "A", 1_850, 2))),  # noqa: E501
    ("INV", (ChargeLine("A-CBC", "血常规", "A", 2_500), ChargeLine("C-VIT", "维生素C片", "C", 1_200))),  # noqa: E501
)  # fmt: skip
FAULTY = (
    ("OP", (ChargeLine("A-REG", "普通门诊诊查费", "A", 1_000),)),
    ("OP", (ChargeLine("B-CT", "胸部CT平扫", "B", 18_000),)),  # lost on the way
    ("INV", (ChargeLine("A-ECG", "常规心电图", "A", 2_500), ChargeLine("A-CRP", "C反应蛋白", "A", 4_000))),  # noqa: E501
)  # fmt: skip
ALTERED_LINE = 1
"""The line of the faulty Invoice the HIS's FHIR interface maps at another price."""
ALTERED_BY_FEN = 3_000


@dataclass(frozen=True)
class HisKit:
    """What the HIS walk needs: the face models, the sample photos, a folder for its server's
    data and the HIS's day file."""

    engine: FaceEngine
    images_dir: Path
    folder: Path


@dataclass
class _Cast:
    site: Site
    his: TerminalSession
    patient: dict[str, Any]
    face: Subject
    mr: str
    day: date
    ledger: Ledger
    sender: MllpSender
    engine: InterfaceEngine
    seeds: int = 900


def walk(kit: HisKit) -> dict[str, Any]:
    """The HIS's day, walked; its report."""
    started = time.perf_counter()
    # A folder of its own each run: a kept demo folder (--data) may hold an earlier run.
    run = replace(
        kit, folder=kit.folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
    )
    with staged(run.folder / "facepay", kit.engine) as stage:
        report = _walk(stage, run)
    report["folder"] = str(run.folder)
    report["took_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return report


def _walk(stage: Stage, kit: HisKit) -> dict[str, Any]:
    services = stage.services
    zone = timezone(timedelta(minutes=services.settings.hospital_utc_offset_minutes))
    day = datetime.now(zone).date()
    site = make_site(
        stage.http, stage.operator, serial=70_000 + secrets.randbelow(20_000), tier="tertiary"
    )
    code = stage.register_site(site.hospital_id, "示例市第一人民医院")
    patient = register_person(stage.operator, serial=400_000 + secrets.randbelow(10**6),
                              name=PATIENT_NAME, fund_fen=ACCOUNT_FEN)  # fmt: skip
    stage.insure(certno=patient["id_number"], name=PATIENT_NAME, balance_fen=ACCOUNT_FEN)
    face = _enrol(site, patient, kit)
    ledger = Ledger()
    report: dict[str, Any] = {"hospital_id": site.hospital_id, "institution_code": code,
                              "date": day.isoformat(), "patient": patient["person_id"]}  # fmt: skip
    inbox, hook = MllpInbox(ledger), HookReceiver(ledger, site.hospital_id)
    with (
        inbox.running() as inbox_port,
        hook.running() as hook_url,
        listening(services, site.hospital_id, inbox_port) as (address, listener, notifier),
    ):
        his = site.add_terminal("his")
        hook.trust(_subscribe(his, hook_url))
        engine = InterfaceEngine(address)
        with engine.running() as engine_port:
            sender = MllpSender("127.0.0.1", engine_port)
            try:
                cast = _Cast(site, his, patient, face, f"MR{secrets.randbelow(10**8):08d}", day,
                             ledger, sender, engine)  # fmt: skip
                report["register"] = _register(cast)
                report["clean"] = _round(cast, stage, kit, "clean", CLEAN)
                report["faulty"] = _round(cast, stage, kit, "faulty", FAULTY)
            finally:
                sender.close()
        report["mllp"] = {"listener": _counts(listener.receiver.counters),
                          "notifier": _counts(notifier.counters), "inbox": inbox.received,
                          "engine": {"relayed": engine.relayed, "lost": engine.lost}}  # fmt: skip
    report["fhir"] = {"hook_accepted": hook.accepted, "hook_refused": hook.refused}
    report["repeats_dropped"] = ledger.repeats
    rounds = (report["clean"], report["faulty"])
    charges = [c for r in rounds for c in r["charges"]]
    report["sent"] = {
        "dft": sum(c["channel"] == "mllp" for c in charges),
        "invoices": sum(c["channel"] == "fhir" for c in charges),
        "paid_by_face": sum(len(r["payments"]) for r in rounds),
    }
    report["problems"] = _problems(report)
    report["as_expected"] = not report["problems"]
    return report


def _counts(counters: object) -> dict[str, Any]:
    """A counters object's public values."""
    return {k: v for k, v in vars(counters).items() if not k.startswith("_")}


def _problems(report: dict[str, Any]) -> list[str]:
    """Every way the nights differ from what the walk made happen (empty: as expected)."""
    problems = []
    clean, faulty = report["clean"], report["faulty"]
    if clean["differences"]:
        problems.append(f"the clean night shows {len(clean['differences'])} difference(s)")
    lost = next(c["ref"] for c in faulty["charges"] if c["bill_id"] is None)
    altered = [c["ref"] for c in faulty["charges"] if c["channel"] == "fhir"]
    want = sorted([("amount_differs", "his", altered[0]), ("missing_in_facepay", "his", lost)])
    got = sorted((d["kind"], d["side"], d["key"]) for d in faulty["differences"])
    if got != want:
        problems.append(f"the faulty night shows {got}, the walk expects {want}")
    if faulty["new_alerts"] != len(want):
        problems.append(f"the faulty night raised {faulty['new_alerts']} alert(s), not 2")
    return problems


def _enrol(site: Site, patient: dict[str, Any], kit: HisKit) -> Subject:
    """The patient enrols at the site's kiosk: ID card, chip photo, a live capture, consent."""
    face = subjects_from_photo(
        kit.engine, load_image(kit.images_dir / "obama2.jpg"), "obama2.jpg", "obama2.jpg"
    )[0]
    chip = load_image(kit.images_dir / "obama.jpg")
    Kiosk(site.kiosk, SubjectSource(face, 880), attempts=4).enrol(
        patient, chip, consent_purpose="pay hospital bills by face"
    )
    return face


def _subscribe(his: TerminalSession, endpoint: str) -> str:
    """A rest-hook Subscription to the site's paid and refunded Invoices; its signing key."""
    body = {"resourceType": "Subscription", "status": "requested", "reason": "demo HIS billing",
            "criteria": "Invoice?",
            "channel": {"type": "rest-hook", "endpoint": endpoint,
                        "payload": "application/fhir+json"}}  # fmt: skip
    made = expect(his.request("POST", f"{FHIR}/Subscription", body), 201)
    for extension in made.get("extension") or ():
        if str(extension.get("url", "")).endswith("/notification-signing-key"):
            return str(extension["valueString"])
    raise DemoError("the Subscription names no signing key")


def _register(cast: _Cast) -> dict[str, Any]:
    text = register_message(
        _control(), site=cast.site.hospital_id, mr=cast.mr, id_number=cast.patient["id_number"],
        name=PATIENT_NAME, at=datetime.now(UTC),
    )  # fmt: skip
    ack = cast.sender.send(text)
    if ack.code != "AA":
        raise DemoError(f"ADT^A04 answered {ack.code}: {ack.error or ack.text}")
    return {"message": "ADT^A04", "mr": cast.mr, "ack": ack.code, "note": ack.text}


Plan = tuple[tuple[str, tuple[ChargeLine, ...]], ...]


def _round(cast: _Cast, stage: Stage, kit: HisKit, name: str, plan: Plan) -> dict[str, Any]:
    """Charge `plan` (the faulty round loses its second DFT and alters its Invoice), pay what
    arrived by face, wait to hear of each payment, reconcile the day."""
    faulty = name == "faulty"
    charges: list[Charge] = []
    dfts = 0
    for kind, lines in plan:
        ref = f"{kind}{cast.day:%Y%m%d}-{secrets.token_hex(3).upper()}"
        charge = Charge(ref, "mllp" if kind == "OP" else "fhir", lines, datetime.now(UTC))
        cast.ledger.charged(charge)
        if charge.channel == "mllp":
            dfts += 1
            _send_dft(cast, charge, lose=faulty and dfts == 2)
        else:
            _push_invoice(cast, charge, alter=faulty)
        charges.append(charge)
    arrived = [c for c in charges if c.bill_id is not None]
    payments = [_pay(cast, c) for c in arrived]
    heard = cast.ledger.wait_heard([c.ref for c in arrived], ("mllp", "fhir"), HEARD_WITHIN)
    if not heard:
        raise DemoError(f"the HIS was not told of every payment: {_charges(cast.ledger, charges)}")
    night = _reconcile(cast, stage, kit, name)
    return {"charges": _charges(cast.ledger, charges), "payments": payments, **night}


def _control() -> str:
    return f"DH{secrets.token_hex(6).upper()}"


def _send_dft(cast: _Cast, charge: Charge, *, lose: bool) -> None:
    control = _control()
    if lose:
        cast.engine.lose.add(control)
    ack = cast.sender.send(
        charge_message(control, charge, site=cast.site.hospital_id, mr=cast.mr, day=cast.day)
    )
    bill = ack.text.removeprefix("bill ") if ack.text.startswith("bill ") else None
    cast.ledger.answered(charge.ref, ack.code, bill)
    if ack.code != "AA":
        raise DemoError(f"DFT^P03 {charge.ref} answered {ack.code}: {ack.error or ack.text}")


def _push_invoice(cast: _Cast, charge: Charge, *, alter: bool) -> None:
    sent = charge
    if alter:
        lines = list(charge.lines)
        wrong = lines[ALTERED_LINE]
        lines[ALTERED_LINE] = replace(wrong, unit_fen=wrong.unit_fen + ALTERED_BY_FEN)
        sent = replace(charge, lines=tuple(lines))
    body = fhir_json(invoice_resource(sent, id_number=cast.patient["id_number"], day=cast.day,
                                      tier=TIER))  # fmt: skip
    path = f"{FHIR}/Invoice"
    headers = {**cast.his.signed_headers("POST", path, body),
               "Content-Type": "application/fhir+json"}  # fmt: skip
    answer = cast.his.http.post(path, content=body, headers=headers)
    made = expect(answer, 201)
    cast.ledger.answered(charge.ref, str(answer.status_code), str(made["id"]).replace("-", "_", 1))


def _pay(cast: _Cast, charge: Charge) -> dict[str, Any]:
    """The patient pays the bill by face at the site's kiosk."""
    assert charge.bill_id is not None
    cast.seeds += 10
    kiosk = Kiosk(cast.site.kiosk, SubjectSource(cast.face, cast.seeds), attempts=4)
    paid = kiosk.pay(charge.bill_id, second_factor=lambda: cast.patient["phone"][-4:])
    split = paid.receipt["split"]
    return {"bill_id": charge.bill_id, "ref": charge.ref, "decision":
            paid.identification["decision"], "retakes": paid.retakes,
            "settlement_id": paid.receipt["settlement_id"], "total_fen": split["medfee_sumamt"],
            "fund_fen": split["fund_pay_sumamt"], "account_fen": split["acct_pay"],
            "cash_fen": split["psn_cash_pay"], "server_ms": round(paid.server_ms, 1)}  # fmt: skip


def _charges(ledger: Ledger, charges: list[Charge]) -> list[dict[str, Any]]:
    rows = []
    for made in charges:
        c = ledger.get(made.ref)
        rows.append({"ref": c.ref, "channel": c.channel, "charged_fen": c.amount_fen,
                     "answer": c.answer, "bill_id": c.bill_id, "heard": dict(c.heard)})  # fmt: skip
    return rows


def _reconcile(cast: _Cast, stage: Stage, kit: HisKit, name: str) -> dict[str, Any]:
    """The HIS writes its day; facepay reconciles the site's day against it and the platform."""
    document = cast.ledger.day_document(site=cast.site.hospital_id, day=cast.day,
                                        created=datetime.now(UTC))  # fmt: skip
    path = kit.folder / f"his-day-{name}.json"
    path.write_bytes(fhir_json(document))
    entries = read_his_day(path)  # what `facepay reconcile --his FILE` reads
    result, new_alerts = reconcile_day(
        stage.services, hospital_id=cast.site.hospital_id, day=cast.day, his=entries,
        statement=NhsaStatement(stage.platform), actor="demo-his-night",
    )  # fmt: skip
    files = write_report_files(result, kit.folder / "reports", stem=f"reconcile-{name}")
    return {
        "his_file": path.name,
        "his_entries": len(entries),
        "comparisons": {
            c.side: {"agrees": c.agrees, "differences": len(c.differences)}
            for c in result.comparisons
        },
        "differences": [d.as_json() for d in result.differences],
        "counts": result.counts(),
        "skipped": dict(result.skipped),
        "new_alerts": new_alerts,
        "report_files": [f.name for f in files],
    }
