"""Pharmacy dispensing and exams on the in-memory unit of work: what a payment queues, pick-up
by the patient only, partial pick-up, returns refunded by line, exam check-in, done, result, and
the ordering doctor alone reading it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest

from facepay.adapters.interchange import parse_bill
from facepay.hospital.bills import LineOrder
from facepay.hospital.orders import check_image_reference
from facepay.insurance.model import Bill
from facepay.services import dispensing, exams
from facepay.services.admin import create_staff_user
from facepay.services.bills import get_bill, pay_bill, post_bill
from facepay.services.identification import identify_by_credentials
from facepay.services.refunds import refund_bill
from facepay.shared.errors import Conflict, Forbidden, InvalidInput, NotFound

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def _bill() -> Bill:
    def line(code: str, name: str, fen: int, quantity: str = "1") -> dict[str, Any]:
        return {"code": code, "name": name, "item_class": "A", "unit_price": fen,
                "quantity": quantity}  # fmt: skip

    return parse_bill(
        {
            "visit_type": "outpatient",
            "hospital_tier": 2,
            "service_date": "2026-05-04",
            "lines": [
                line("D1", "amoxicillin", 1_500, "2"),
                line("D2", "ibuprofen", 800, "3"),
                line("D3", "cough syrup", 2_200),
                line("X1", "chest x-ray", 9_000),
                line("L1", "blood count", 3_000),
                line("R1", "registration", 500),
            ],
        }
    )


@pytest.fixture
def doctors(world: Any) -> tuple[str, str]:
    ids = []
    for name in ("dr-wang", "dr-li"):
        ids.append(
            create_staff_user(
                ctx=world.ctx,
                actor="admin",
                hospital_id="h1",
                username=name,
                password_hash=HASH,
                role="doctor",
            ).id
        )
    return ids[0], ids[1]


def _card(world: Any, kit: ModuleType, seed: int = 10, hospital: str = "h1") -> str:
    return identify_by_credentials(
        ctx=world.ctx,
        hospital_id=hospital,
        actor="kiosk",
        id_number=kit.person_number(seed),
        insurance_card_number=f"CARD{seed:04d}",
    ).identification_id


def _paid(world: Any, kit: ModuleType, doctor: str, *, ref: str = "HIS-1") -> Any:
    orders = (
        LineOrder("D1", "drug", window="3"),
        LineOrder("D2", "drug", window="3"),
        LineOrder("D3", "drug"),
        LineOrder("X1", "exam", department="radiology", ordered_by=doctor),
        LineOrder("L1", "lab", department="lab", ordered_by=doctor),
        LineOrder("R1", "registration"),
    )
    posted = post_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="his",
        id_number=kit.person_number(10),
        external_ref=ref,
        bill=_bill(),
        line_orders=orders,
    )
    return pay_bill(
        ctx=world.ctx,
        hospital_id="h1",
        actor="kiosk",
        bill_id=posted.id,
        identification_id=_card(world, kit),
        idempotency_key=f"pay-{ref}",
    )


def test_a_payment_queues_orders_per_window_and_requests_per_exam_line(
    world: Any, kit: ModuleType, doctors: tuple[str, str]
) -> None:
    payment = _paid(world, kit, doctors[0])
    window3 = dispensing.window_queue(ctx=world.ctx, hospital_id="h1", window="3")
    default = dispensing.window_queue(ctx=world.ctx, hospital_id="h1", window="1")
    assert [[line.code for line in o.lines] for o in window3] == [["D1", "D2"]]
    assert [[line.code for line in o.lines] for o in default] == [["D3"]]
    assert window3[0].status == "queued"
    assert window3[0].lines[0].amount == 3_000
    radiology = exams.worklist(ctx=world.ctx, hospital_id="h1", department="radiology")
    assert [(r.line_code, r.ordered_by, r.status) for r in radiology] == [
        ("X1", doctors[0], "requested")
    ]
    assert exams.worklist(ctx=world.ctx, hospital_id="h2", department="radiology") == []
    actions = [e.action for e in world.store.audit.entries]
    assert actions.count("dispensing.create") == 2
    assert actions.count("exam.request") == 2
    assert dispensing.last_event(ctx=world.ctx, hospital_id="h1", window="3") > 0
    assert payment.bill.order_of("X1").department == "radiology"


def test_order_data_is_checked_when_the_bill_is_posted(
    world: Any, kit: ModuleType, doctors: tuple[str, str]
) -> None:
    def post(*orders: LineOrder) -> None:
        post_bill(
            ctx=world.ctx,
            hospital_id="h1",
            actor="his",
            id_number=kit.person_number(10),
            external_ref="HIS-X",
            bill=_bill(),
            line_orders=orders,
        )

    with pytest.raises(InvalidInput) as missing:
        LineOrder("X1", "exam", department="radiology")
    assert missing.value.code == "bad_line_order"
    with pytest.raises(InvalidInput) as unknown:
        post(LineOrder("Z9", "drug"))
    assert unknown.value.code == "bad_line_order"
    other_site = create_staff_user(
        ctx=world.ctx, actor="a", hospital_id="h2", username="dr-x", password_hash=HASH,
        role="doctor",
    ).id  # fmt: skip
    nurse = create_staff_user(
        ctx=world.ctx, actor="a", hospital_id="h1", username="n-1", password_hash=HASH,
        role="nurse",
    ).id  # fmt: skip
    for who in (other_site, nurse, "stf-nobody"):
        with pytest.raises(InvalidInput) as wrong:
            post(LineOrder("X1", "exam", department="radiology", ordered_by=who))
        assert wrong.value.code == "bad_ordering_doctor"


def test_pick_up_by_the_patient_whole_or_partial_never_by_a_stranger(
    world: Any, kit: ModuleType, doctors: tuple[str, str]
) -> None:
    _paid(world, kit, doctors[0])
    order = dispensing.window_queue(ctx=world.ctx, hospital_id="h1", window="3")[0]
    with pytest.raises(Forbidden) as stranger:
        dispensing.collect(
            ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
            identification_id=_card(world, kit, seed=20), staff_confirmed=True,
        )  # fmt: skip
    assert stranger.value.code == "not_the_patient"
    # The attempt rolled back, and is still on the record for supervision.
    refused = [e for e in world.store.audit.entries if e.action == "dispensing.collect_refused"]
    assert [(e.subject, e.details["code"]) for e in refused] == [(order.id, "not_the_patient")]
    assert refused[0].details["patient"] == world.people["Alice"]
    with pytest.raises(NotFound):
        dispensing.collect(
            ctx=world.ctx, hospital_id="h2", actor="staff:ph", order_id=order.id,
            identification_id=_card(world, kit, hospital="h2"), staff_confirmed=True,
        )  # fmt: skip
    with pytest.raises(InvalidInput) as too_much:
        dispensing.collect(
            ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
            identification_id=_card(world, kit), staff_confirmed=True,
            handed={"D1": Decimal(3)},
        )  # fmt: skip
    assert too_much.value.code == "bad_handed_quantity"
    ident = _card(world, kit)
    part = dispensing.collect(
        ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
        identification_id=ident, staff_confirmed=True, handed={"D1": Decimal(1)},
    )  # fmt: skip
    assert part.order.status == "partial"
    assert [(line.code, line.state) for line in part.order.lines] == [
        ("D1", "partial"),
        ("D2", "waiting"),
    ]
    assert part.presence.person_id == world.people["Alice"]
    with pytest.raises(Conflict) as reused:
        dispensing.collect(
            ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
            identification_id=ident, staff_confirmed=True,
        )  # fmt: skip
    assert reused.value.code == "identification_used"
    rest = dispensing.collect(
        ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
        identification_id=_card(world, kit), staff_confirmed=True,
    )  # fmt: skip
    assert rest.order.status == "done"
    assert dispensing.window_queue(ctx=world.ctx, hospital_id="h1", window="3") == []
    collect = [e for e in world.store.audit.entries if e.action == "dispensing.collect"]
    assert collect[0].details["handed"] == {"D1": "1"}
    assert collect[1].details["handed"] == {"D1": "1", "D2": "3"}
    assert collect[0].details["present"] == world.people["Alice"]


def test_return_of_undispensed_lines_refunds_them_by_line_once(
    world: Any, kit: ModuleType, doctors: tuple[str, str]
) -> None:
    payment = _paid(world, kit, doctors[0])
    order = dispensing.window_queue(ctx=world.ctx, hospital_id="h1", window="3")[0]
    dispensing.collect(
        ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
        identification_id=_card(world, kit), staff_confirmed=True, handed={"D1": Decimal(1)},
    )  # fmt: skip
    with pytest.raises(Conflict) as handed:
        dispensing.return_lines(
            ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
            line_codes=["D1"], reversal_key="h1:ret-1",
        )  # fmt: skip
    assert handed.value.code == "line_handed_over"
    done = dispensing.return_lines(
        ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
        line_codes=["D2"], reversal_key="h1:ret-2",
    )  # fmt: skip
    assert done.refund is not None
    assert done.refund.refunded_fen == 2_400
    assert done.order.line("D2").state == "returned"
    bill = done.refund.bill
    assert "D2" not in {line.code for line in bill.bill.lines}
    assert bill.settlement_id != payment.receipt.record.id
    again = dispensing.return_lines(
        ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
        line_codes=["D2"], reversal_key="h1:ret-2",
    )  # fmt: skip
    assert again.replayed
    assert again.refund is not None
    assert again.refund.refunded_fen == 2_400
    with pytest.raises(Conflict) as other:
        dispensing.return_lines(
            ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
            line_codes=["D1"], reversal_key="h1:ret-2",
        )  # fmt: skip
    assert other.value.code == "idempotency_conflict"
    with pytest.raises(Conflict) as twice:
        dispensing.return_lines(
            ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
            line_codes=["D2"], reversal_key="h1:ret-3",
        )  # fmt: skip
    assert twice.value.code == "line_returned"
    assert [e.action for e in world.store.audit.entries].count("dispensing.return") == 1


def test_a_line_refunded_at_the_cashier_is_not_handed_over(
    world: Any, kit: ModuleType, doctors: tuple[str, str]
) -> None:
    payment = _paid(world, kit, doctors[0])
    refund_bill(
        ctx=world.ctx, hospital_id="h1", actor="cashier", bill_id=payment.bill.id,
        reversal_key="h1:cash-1", line_codes=["D2"],
    )  # fmt: skip
    order = dispensing.window_queue(ctx=world.ctx, hospital_id="h1", window="3")[0]
    done = dispensing.collect(
        ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
        identification_id=_card(world, kit), staff_confirmed=True,
    )  # fmt: skip
    assert [(line.code, line.state) for line in done.order.lines] == [
        ("D1", "handed"),
        ("D2", "returned"),
    ]


def test_exam_check_in_done_result_read_by_the_ordering_doctor_only(
    world: Any, kit: ModuleType, doctors: tuple[str, str]
) -> None:
    _paid(world, kit, doctors[0])
    request = exams.worklist(ctx=world.ctx, hospital_id="h1", department="radiology")[0]
    with pytest.raises(Conflict) as early:
        exams.complete(ctx=world.ctx, hospital_id="h1", actor="nurse", request_id=request.id)
    assert early.value.code == "request_not_checked_in"
    with pytest.raises(Forbidden) as unconfirmed:
        exams.check_in(
            ctx=world.ctx, hospital_id="h1", actor="terminal:room", request_id=request.id,
            identification_id=_card(world, kit), staff_confirmed=False,
        )  # fmt: skip
    assert unconfirmed.value.code == "staff_confirmation_required"
    checked = exams.check_in(
        ctx=world.ctx, hospital_id="h1", actor="staff:nurse", request_id=request.id,
        identification_id=_card(world, kit), staff_confirmed=True,
    )  # fmt: skip
    assert checked.request.status == "checked_in"
    report = {
        "summary": "No focal consolidation.\nHeart size normal.",
        "conclusion": "normal",
        "image_ref": "1.2.840.113619.2.55.3.604688119.969.1268071029.320",
        "performed_at": world.clock.now() - timedelta(minutes=5),
    }
    with pytest.raises(Conflict) as not_done:
        exams.record_result(
            ctx=world.ctx, hospital_id="h1", actor="terminal:pacs", request_id=request.id,
            **report,
        )  # fmt: skip
    assert not_done.value.code == "request_not_done"
    exams.complete(ctx=world.ctx, hospital_id="h1", actor="staff:nurse", request_id=request.id)
    status = exams.results_status(
        ctx=world.ctx, hospital_id="h1", person_id=world.people["Alice"], identification_id=None
    )
    assert {r.line_code: r.ready_at for r in status}["X1"] is None
    reported = exams.record_result(
        ctx=world.ctx, hospital_id="h1", actor="terminal:pacs", request_id=request.id, **report
    )
    assert reported.status == "reported"
    assert reported.ready_at == world.clock.now()
    with pytest.raises(Conflict) as twice:
        exams.record_result(
            ctx=world.ctx, hospital_id="h1", actor="terminal:pacs", request_id=request.id,
            **report,
        )  # fmt: skip
    assert twice.value.code == "result_recorded"
    with pytest.raises(Forbidden) as other:
        exams.read_result(
            ctx=world.ctx, hospital_id="h1", actor="staff:li", staff_id=doctors[1],
            request_id=request.id,
        )  # fmt: skip
    assert other.value.code == "not_the_ordering_doctor"
    read = exams.read_result(
        ctx=world.ctx, hospital_id="h1", actor="staff:wang", staff_id=doctors[0],
        request_id=request.id,
    )  # fmt: skip
    assert read.result is not None
    assert read.result.conclusion == "normal"
    actions = [e.action for e in world.store.audit.entries]
    for action in ("exam.check_in", "exam.done", "exam.result", "exam.result_read"):
        assert actions.count(action) == 1, action
    with pytest.raises(Forbidden) as stranger:
        exams.results_status(
            ctx=world.ctx, hospital_id="h1", person_id=world.people["Alice"],
            identification_id=_card(world, kit, seed=20),
        )  # fmt: skip
    assert stranger.value.code == "not_the_patient"


@pytest.mark.parametrize(
    ("ref", "code"),
    [
        ("data:image/png;base64,iVBORw0KGgo=", "embedded_image"),
        ("A" * 300, "embedded_image"),
        ("https://pacs.example/wado?study=" + "Q" * 250, "embedded_image"),
        ("file:///etc/passwd", "bad_image_ref"),
        ("1.2.3.", "bad_image_ref"),
    ],
)
def test_image_references_never_carry_images(ref: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_image_reference(ref)
    assert refused.value.code == code


def test_good_image_references() -> None:
    for ref in ("1.2.840.10008.5.1.4.1.1.2", "https://pacs.h1.local/dicomweb/studies/1.2.3"):
        assert check_image_reference(ref) == ref


def test_the_cashier_refunds_no_medicine_handed_over_nor_an_exam_under_way(
    world: Any, kit: ModuleType, doctors: tuple[str, str]
) -> None:
    """Review: a refund by line at the cashier did not look at the pharmacy or the exam room,
    so a patient kept the medicine (or the exam) and had its money back."""
    payment = _paid(world, kit, doctors[0])
    order = dispensing.window_queue(ctx=world.ctx, hospital_id="h1", window="3")[0]
    dispensing.collect(
        ctx=world.ctx, hospital_id="h1", actor="staff:ph", order_id=order.id,
        identification_id=_card(world, kit), staff_confirmed=True, handed={"D1": Decimal(1)},
    )  # fmt: skip
    xray = next(r for r in exams.worklist(ctx=world.ctx, hospital_id="h1", department="radiology"))
    exams.check_in(
        ctx=world.ctx, hospital_id="h1", actor="staff:rad", request_id=xray.id,
        identification_id=_card(world, kit), staff_confirmed=True,
    )  # fmt: skip

    def refund(codes: list[str] | None, key: str) -> Any:
        return refund_bill(
            ctx=world.ctx, hospital_id="h1", actor="cashier", bill_id=payment.bill.id,
            reversal_key=key, line_codes=codes,
        )  # fmt: skip

    for codes, code in ((["D1"], "line_handed_over"), (["X1"], "request_checked_in"),
                        (None, "line_handed_over")):  # fmt: skip
        with pytest.raises(Conflict) as refused:
            refund(codes, f"h1:cash-{codes}")
        assert refused.value.code == code
    kept = get_bill(ctx=world.ctx, hospital_id="h1", bill_id=payment.bill.id)
    assert len(kept.bill.lines) == 6  # nothing was refunded
    assert refund(["D2", "L1"], "h1:cash-ok").refunded_fen == 2_400 + 3_000
