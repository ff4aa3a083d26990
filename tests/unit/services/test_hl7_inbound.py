"""HL7 v2 inbound messages on the in-memory services: each type applied, stored with its ACK,
deduplicated on MSH-10; a missing or wrong field is an AE naming it and changes nothing."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facepay.adapters.hl7v2.inbound import Receiver, Site, prune
from facepay.adapters.hl7v2.notifier import notification, yuan
from facepay.services import bills, exams, refunds
from facepay.services.admin import create_staff_user, register_hospital
from facepay.services.his_events import events_after, head
from facepay.services.identification import identify_by_credentials

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import hl7_kit as k


@pytest.fixture
def hl7(kit: ModuleType):
    """A world with a tier-2 site `hx`, a doctor `dr.li`, 王小明 and 李秀英 in the registry."""
    w = kit.make_world()
    register_hospital(ctx=w.ctx, actor="admin", name="市二院", hospital_id="hx", tier="secondary")
    create_staff_user(
        ctx=w.ctx,
        actor="admin",
        hospital_id="hx",
        username="dr.li",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        role="doctor",
    )
    kit.register(w, 30, "王小明")
    kit.register(w, 31, "李秀英")
    receiver = Receiver(w.ctx, Site("hx", frozenset({"hx", "H4401"})))
    return w, receiver


def send(receiver: Receiver, text: str, charset: str = "utf-8") -> str:
    answer = receiver.answer(text.encode(charset))
    assert answer is not None
    return answer.decode(charset)


def msh_hx(text: str) -> str:
    return text.replace("|FACEPAY|h1|", "|FACEPAY|hx|")


def segment(ack: str, name: str) -> list[str]:
    line = next(s for s in ack.split("\r") if s.startswith(name + "|"))
    return line.split("|")


def test_register_links_the_his_patient_and_a_repeat_replays_the_ack(hl7, kit) -> None:
    w, r = hl7
    text = msh_hx(k.register("M1", "MR001", kit.person_number(30), "王^小明"))
    first = send(r, text)
    assert segment(first, "MSA")[1:3] == ["AA", "M1"]
    assert w.store.hl7.patient("hx", "MR001").person_id == w.people["王小明"]
    audit_before = len(list(w.store.audit.iterate(chain="hx", from_seq=1)))
    assert send(r, text) == first
    assert r.counters.replayed == 1
    assert len(list(w.store.audit.iterate(chain="hx", from_seq=1))) == audit_before
    k.check_golden("adt_a04.hl7", text)
    k.check_golden("adt_a04.ack.hl7", first)


def test_unknown_id_number_is_ae_naming_pid_3_and_nothing_is_linked(hl7, kit) -> None:
    w, r = hl7
    ack = send(r, msh_hx(k.register("M2", "MR002", kit.person_number(77), "赵六")))
    assert segment(ack, "MSA")[1] == "AE"
    err = segment(ack, "ERR")
    assert err[2] == "PID^1^3"
    assert err[3].startswith("204^")
    assert w.store.hl7.patient("hx", "MR002") is None
    assert w.store.hl7.message("hx", "HIS", "FAC", "M2").status == "error"
    k.check_golden("adt_a04_unknown.ack.hl7", ack)


def test_a_name_other_than_the_registry_s_is_refused(hl7, kit) -> None:
    _, r = hl7
    ack = send(r, msh_hx(k.register("M3", "MR003", kit.person_number(30), "李^秀英")))
    assert segment(ack, "ERR")[2] == "PID^1^5"


def test_another_site_s_facility_is_ar(hl7, kit) -> None:
    w, r = hl7
    ack = send(r, k.register("M4", "MR004", kit.person_number(30), "王^小明"))  # MSH-6 h1
    assert segment(ack, "MSA")[1] == "AR"
    assert segment(ack, "ERR")[2] == "MSH^1^6"
    assert w.store.hl7.messages == {}


def test_unsupported_type_and_bad_header(hl7) -> None:
    _, r = hl7
    ack = send(r, k.message(k.msh("ADT^A99", "M5", site="hx"), "PID|1"))
    assert segment(ack, "ERR")[3].startswith("201^")
    ack = send(r, k.message(k.msh("XYZ^Q01", "M6", site="hx"), "PID|1"))
    assert segment(ack, "ERR")[3].startswith("200^")
    assert send(r, "PID|1||x").startswith("MSH|")
    assert r.counters.rejected == 3
    ack = send(r, "MSH|^~\\&|HIS|FAC|FACEPAY|hx|20260504||ADT^A04|||P|2.5")
    assert segment(ack, "ERR")[2] == "MSH^1^10"


@pytest.mark.parametrize("charset", ["UNICODE UTF-8", "GB 18030-2000", "GBK", "GB2312"])
def test_chinese_names_in_each_charset(hl7, kit, charset) -> None:
    w, r = hl7
    codec = {"UNICODE UTF-8": "utf-8"}.get(charset, "gb18030")
    text = msh_hx(
        k.register(f"C-{charset}", "MR010", kit.person_number(31), "李^秀英", charset=charset)
    )
    raw = text.encode("gb2312" if charset == "GB2312" else codec)
    ack = r.answer(raw)
    assert ack is not None
    assert ack.decode(codec).split("\r")[0].endswith("|" + charset)
    assert segment(ack.decode(codec), "MSA")[1] == "AA"
    assert w.store.hl7.patient("hx", "MR010").person_id == w.people["李秀英"]
    assert "李^秀英" in w.store.hl7.message("hx", "HIS", "FAC", f"C-{charset}").raw


def test_an_unknown_charset_or_bad_bytes_is_ar_naming_msh_18(hl7, kit) -> None:
    _, r = hl7
    text = msh_hx(k.register("C1", "MR011", kit.person_number(31), "李^秀英", charset="KOI8-R"))
    ack = send(r, text)
    assert segment(ack, "ERR")[2] == "MSH^1^18"
    text = msh_hx(
        k.register("C2", "MR011", kit.person_number(31), "李^秀英", charset="UNICODE UTF-8")
    )
    ack = r.answer(text.encode("gb18030"))
    assert ack is not None
    assert segment(ack.decode(), "ERR")[2] == "MSH^1^18"


def _linked(w, r, kit, mr="MR001", seed=30, name="王^小明") -> None:
    assert (
        segment(send(r, msh_hx(k.register(f"L{mr}", mr, kit.person_number(seed), name))), "MSA")[1]
        == "AA"
    )


def test_dft_posts_an_outpatient_bill_once(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    text = msh_hx(
        k.charges(
            "D1",
            "MR001",
            "V100",
            ("X001", "血常规", "A", "25.50", "1"),
            ("X002", "阿莫西林", "乙", "12.00", "2"),
        )
    )
    ack = send(r, text)
    assert segment(ack, "MSA")[1] == "AA", ack
    bill = w.store.bills.by_external_ref("hx", "V100")
    assert bill is not None
    assert bill.total == 2_550 + 2_400
    assert [line.item_class for line in bill.bill.lines] == ["A", "B"]
    # The same visit again under a new control id: the same bill, nothing new.
    again = send(r, text.replace("|D1|", "|D2|"))
    assert segment(again, "MSA")[1] == "AA"
    assert len(w.store.bills.rows) == 1
    other = send(r, text.replace("|D1|", "|D3|").replace("25.50", "30.00"))
    assert segment(other, "ERR")[2] == "PV1^1^19"
    k.check_golden("dft_p03.hl7", text)
    k.check_golden("dft_p03.ack.hl7", ack)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("|A", "|D"), "FT1^1^14"),
        (("25.50", "25.505"), "FT1^1^12"),
        (("25.50", "-25.50"), "FT1^1^12"),
        (("|1||25.50", "|1|25.51|25.50"), "FT1^1^11"),
        (("X001^血常规", ""), "FT1^1^7"),
        (("V100", ""), "PV1^1^19"),
        (("|CG|", "|CD|"), "FT1^1^6"),
        (("MR001^^^HIS^MR", "MR404^^^HIS^MR"), "PID^1^3"),
    ],
)
def test_dft_field_errors_name_the_field_and_post_nothing(hl7, kit, change, where) -> None:
    w, r = hl7
    _linked(w, r, kit)
    text = msh_hx(k.charges("E1", "MR001", "V100", ("X001", "血常规", "A", "25.50", "1")))
    ack = send(r, text.replace(*change))
    assert segment(ack, "MSA")[1] == "AE", ack
    assert segment(ack, "ERR")[2] == where
    assert w.store.bills.rows == {}


def test_orm_attaches_order_data_and_oru_records_the_result(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    send(r, msh_hx(k.charges("D1", "MR001", "V100", ("CT01", "胸部CT", "A", "300.00", "1"))))
    orm = k.message(
        k.msh("ORM^O01^ORM_O01", "O1", site="hx"),
        k.pid("MR001", None),
        "PV1|1|O|||||||||||||||||V100",
        "ORC|NW|P1||||||||||dr.li",
        "OBR|1|P1||CT01^胸部CT||||||||||||dr.li||||||||CT",
    )
    ack = send(r, orm)
    assert segment(ack, "MSA")[1] == "AA", ack
    bill = w.store.bills.by_external_ref("hx", "V100")
    order = bill.order_of("CT01")
    assert (order.kind, order.department) == ("exam", "CT")
    k.check_golden("orm_o01.hl7", orm)
    k.check_golden("orm_o01.ack.hl7", ack)
    bad = send(r, orm.replace("|O1|", "|O2|").replace("dr.li", "nobody"))
    assert segment(bad, "ERR")[2] == "OBR^1^16"
    # ORU for a request that is not on a worklist (the bill is unpaid): AE naming OBR-3.
    oru = k.message(
        k.msh("ORU^R01^ORU_R01", "R1", site="hx"),
        k.pid("MR001", None),
        "OBR|1|P1|srq_0|CT01^胸部CT|||20260504083000",
        "OBX|1|TX|CT^胸部CT||双肺未见异常||||||F",
        "OBX|2|RP|IMG^影像||1.2.840.113619.2.55.3||||||F",
    )
    ack = send(r, oru)
    assert segment(ack, "ERR")[2] == "OBR^1^3", ack
    assert segment(ack, "ERR")[3].startswith("204^")
    k.check_golden("oru_r01.hl7", oru)
    k.check_golden("oru_r01_unknown.ack.hl7", ack)


def test_admission_needs_the_identification_and_a_doctor(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    adt = k.message(
        k.msh("ADT^A01^ADT_A01", "A1", site="hx"),
        "EVN|A01|20260504090000",
        k.pid("MR001", None),
        "PV1|1|I|W3^^12||||dr.li",
        "DG1|1||J18.900^肺炎",
    )
    ack = send(r, adt)
    assert segment(ack, "ERR")[2] == "ZFP"
    ack = send(r, adt.replace("|A1|", "|A2|") + "\rZFP|idn_missing")
    assert segment(ack, "ERR")[2] == "ZFP^1^1"
    ack = send(r, adt.replace("|A1|", "|A3|").replace("dr.li", "dr.nobody") + "\rZFP|x")
    assert segment(ack, "ERR")[2] == "PV1^1^7"
    assert w.store.inpatient.stays == {}


def test_discharge_without_a_stay_is_ae(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    ack = send(
        r, k.message(k.msh("ADT^A03^ADT_A03", "A9", site="hx"), k.pid("MR001", None), "PV1|1|I")
    )
    assert segment(ack, "ERR")[2] == "PID^1^3"


def test_raw_text_is_pruned_after_the_retention(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    w.clock.set(w.clock.now() + timedelta(days=31))
    assert prune(w.ctx) == 1
    stored = next(iter(w.store.hl7.messages.values()))
    assert stored.raw is None
    assert stored.ack.startswith("MSH|")


def _identify(w, kit, seed: int) -> str:
    return identify_by_credentials(
        ctx=w.ctx,
        hospital_id="hx",
        actor="desk",
        id_number=kit.person_number(seed),
        insurance_card_number=f"CARD{seed:04d}",
    ).identification_id


def test_admit_charge_and_discharge_a_stay(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    adt = k.message(
        k.msh("ADT^A01^ADT_A01", "A1", site="hx"),
        "EVN|A01|20260504090000",
        k.pid("MR001", None),
        "PV1|1|I|W3^^12||||dr.li||||||||||||V200",
        "DG1|1||J18.900^肺炎",
        f"ZFP|{_identify(w, kit, 30)}",
    )
    ack = send(r, adt)
    assert segment(ack, "MSA")[1] == "AA", ack
    (stay,) = w.store.inpatient.stays.values()
    assert (stay.ward, stay.bed, stay.diagnosis.code) == ("W3", "12", "J18.900")
    k.check_golden("adt_a01.hl7", adt.replace(adt.split("ZFP|")[1], "idn_<identification>"))
    k.check_golden("adt_a01.ack.hl7", ack)
    dft = msh_hx(
        k.charges("D5", "MR001", "V200", ("B01", "床位费", "A", "50.00", "1"), patient_class="I")
    )
    ack = send(r, dft)
    assert segment(ack, "MSA")[1] == "AA", ack
    assert sum(line.amount for line in w.store.inpatient.charges_of(stay.id)) == 5_000
    assert w.store.bills.rows == {}
    a03 = k.message(k.msh("ADT^A03^ADT_A03", "A4", site="hx"), k.pid("MR001", None), "PV1|1|I")
    ack = send(r, a03)
    assert segment(ack, "MSA")[1] == "AA", ack
    assert w.store.inpatient.stays[stay.id].status == "discharged"
    assert send(r, a03) == ack  # a repeat settles nothing more
    k.check_golden("adt_a03.hl7", a03)
    k.check_golden("adt_a03.ack.hl7", ack)


def test_oru_records_the_result_of_a_done_request(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    send(r, msh_hx(k.charges("D1", "MR001", "V100", ("CT01", "胸部CT", "A", "300.00", "1"))))
    send(
        r,
        k.message(
            k.msh("ORM^O01^ORM_O01", "O1", site="hx"),
            k.pid("MR001", None),
            "PV1|1|O|||||||||||||||||V100",
            "ORC|NW|P1",
            "OBR|1|P1||CT01^胸部CT||||||||||||dr.li||||||||CT",
        ),
    )
    bill = w.store.bills.by_external_ref("hx", "V100")
    bills.pay_bill(
        ctx=w.ctx,
        hospital_id="hx",
        actor="kiosk",
        bill_id=bill.id,
        identification_id=_identify(w, kit, 30),
        idempotency_key="k1",
    )
    (request,) = w.store.orders.requests.values()
    exams.check_in(
        ctx=w.ctx,
        hospital_id="hx",
        actor="ct",
        request_id=request.id,
        identification_id=_identify(w, kit, 30),
        staff_confirmed=True,
    )
    exams.complete(ctx=w.ctx, hospital_id="hx", actor="ct", request_id=request.id)
    oru = k.message(
        k.msh("ORU^R01^ORU_R01", "R1", site="hx"),
        k.pid("MR001", None),
        f"OBR|1|P1|{request.id}|CT01^胸部CT|||20260504083000",
        "OBX|1|TX|CT^胸部CT||右下肺结节||||||F",
        "OBX|2|ST|SIZE^大小||8mm|||A|||F",
        "OBX|3|RP|IMG^影像||1.2.840.113619.2.55.3||||||F",
    )
    ack = send(r, oru)
    assert segment(ack, "MSA")[1] == "AA", ack
    done = w.store.orders.requests[request.id]
    assert done.result.conclusion == "abnormal"
    assert done.result.image_ref == "1.2.840.113619.2.55.3"
    assert "右下肺结节" in done.result.summary
    k.check_golden("oru_r01_done.hl7", oru)
    k.check_golden("oru_r01_done.ack.hl7", ack)


def test_notifications_of_paid_and_refunded_bills(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    send(r, msh_hx(k.charges("D1", "MR001", "V100", ("X001", "血常规", "A", "25.50", "2"))))
    bill = w.store.bills.by_external_ref("hx", "V100")
    start = head(w.ctx, hospital_id="hx")
    bills.pay_bill(
        ctx=w.ctx,
        hospital_id="hx",
        actor="kiosk",
        bill_id=bill.id,
        identification_id=_identify(w, kit, 30),
        idempotency_key="k1",
    )
    refunds.refund_bill(
        ctx=w.ctx, hospital_id="hx", actor="cashier", bill_id=bill.id, reversal_key="r1"
    )
    events, _ = events_after(w.ctx, hospital_id="hx", after_seq=start)
    assert [e.kind for e in events] == ["bill.paid", "bill.refunded"]
    paid, refunded = (
        notification(w.ctx, e, to_application="HIS", to_facility="FAC", charset="UNICODE UTF-8")
        for e in events
    )
    assert paid is not None
    assert refunded is not None
    assert f"|DFT^P03^DFT_P03|{events[0].id}|" in paid
    assert "|PY|TOTAL^医疗费总额|||1|51.00" in paid
    assert "|CD|REFUND^退费|||1|-51.00" in refunded
    k.check_golden("notify_dft_p03_paid_unit.hl7", paid, times=True)
    k.check_golden("notify_dft_p03_refunded.hl7", refunded, times=True)


def test_yuan_is_exact() -> None:
    assert [yuan(v) for v in (0, 5, 100, 2_550, -2_550, 123_456_789)] == [
        "0.00",
        "0.05",
        "1.00",
        "25.50",
        "-25.50",
        "1234567.89",
    ]


def test_a_site_never_sees_another_site_s_links(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    other = Receiver(w.ctx, Site("h1", frozenset({"h1"})))
    ack = send(other, k.charges("D1", "MR001", "V1", ("X1", "血常规", "A", "25.50", "1")))
    assert segment(ack, "ERR")[2] == "PID^1^3"
    assert segment(ack, "ERR")[3].startswith("204^")
    assert w.store.bills.rows == {}


def test_a08_relinks_the_his_patient_id_and_audits_it(hl7, kit) -> None:
    w, r = hl7
    _linked(w, r, kit)
    a08 = msh_hx(k.register("U1", "MR001", kit.person_number(31), "李^秀英"))
    a08 = a08.replace("ADT^A04^ADT_A01", "ADT^A08^ADT_A01")
    assert segment(send(r, a08), "MSA")[1] == "AA"
    assert w.store.hl7.patient("hx", "MR001").person_id == w.people["李秀英"]
    entries = [
        e for e in w.store.audit.iterate(chain="hx", from_seq=1) if e.action == "his.patient_link"
    ]
    assert entries[-1].details["replaced"] == w.people["王小明"]
    k.check_golden("adt_a08.hl7", a08)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.sampled_from(
            [
                "PID|1||MR1^^^HIS^MR",
                "PV1|1|I|W^^1||||dr.li",
                "FT1|1|||x|x|CG|A^b|||y||1.0.0||Q",
                "OBR|1|||^|||2026",
                "OBX|1|RP|||\\E\\|||ZZ",
                "ZFP",
                "DG1|1||?",
                "ORC|NW",
                "|||",
                "^~&",
            ]
        ),
        max_size=6,
    ),
    st.sampled_from(["ADT^A01", "ADT^A03", "ADT^A04", "DFT^P03", "ORM^O01", "ORU^R01"]),
    st.text(max_size=20),
)
def test_any_message_gets_an_ack_and_no_exception(hl7, segments, kind, noise) -> None:
    _, r = hl7
    text = k.message(
        k.msh(kind, f"Z{abs(hash((tuple(segments), noise)))}", site="hx"), *segments, noise
    )
    ack = send(r, text)
    assert segment(ack, "MSA")[1] in ("AA", "AE", "AR")
    assert r.counters.errors + r.counters.rejected + r.counters.applied + r.counters.replayed >= 1


def test_a_drifted_golden_file_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEPAY_UPDATE_GOLDEN", raising=False)
    with pytest.raises(AssertionError, match=r"dft_p03\.ack\.hl7 drifted"):
        k.check_golden("dft_p03.ack.hl7", "MSH|^~\\&|FACEPAY|hx\rMSA|AE|D1")
