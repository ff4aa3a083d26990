"""A payment through the agent: online as the kiosk does it, offline within the limits, a cut
before or after the server committed, and the local API over it."""

from __future__ import annotations

import contextlib
import threading

import httpx
import pytest
from tests.unit.terminal.agent.conftest import Wired, capture_body, live, unit

from facepay.demo.in_thread import serve_in_thread
from facepay.terminal.agent import service as service_module
from facepay.terminal.agent.api import create_app
from facepay.terminal.agent.offline import PROVISIONAL, Liveness, Probe
from facepay.terminal.agent.service import ServerRefused, chosen_frames
from facepay.terminal.agent.store import StoreFull
from facepay.terminal.protocol import ed25519_public_raw, open_voucher


def cut_all(request: httpx.Request) -> str:
    return "before"


def offline_challenge(wired: Wired) -> dict:
    wired.server.cut = cut_all
    body = wired.agent.challenge()
    assert body["mode"] == "offline"
    assert body["steps"][0]["prompt"].startswith("Please")
    return {**capture_body(), "challenge_nonce": body["nonce"]}


def test_offline_payment_writes_a_signed_voucher_before_it_says_paid(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    capture = offline_challenge(wired)
    outcome = wired.agent.pay(bill_id="bil_a1", capture=capture)
    assert outcome.status == "paid"
    assert outcome.mode == "offline"
    assert outcome.message == PROVISIONAL
    assert "provisional" in outcome.message
    (row,) = wired.store.vouchers()
    voucher, _ = open_voucher(row.signed, ed25519_public_raw(wired.server.terminal_key))
    assert voucher.counter == 1
    assert voucher.bill_id == "bil_a1"
    assert voucher.person_id == "per_a"
    assert voucher.evidence["template_id"] == "tpl_per_a"
    assert voucher.evidence["score"] == 1_000_000
    assert voucher.evidence["liveness"] == {"passed": True, "steps": ["blink", "turn_left"],
                                            "checks": {"active": 1_000_000}}  # fmt: skip
    assert voucher.provisional["medfee_sumamt"] == 10_000
    assert voucher.cash_collected_fen == voucher.provisional["psn_cash_pay"]
    assert outcome.body["voucher"] == {"id": voucher.id, "counter": 1, "status": "pending"}


def test_a_repeat_with_the_same_key_returns_the_same_voucher(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    first = wired.agent.pay(bill_id="bil_a1", capture=offline_challenge(wired))
    again = wired.agent.pay(
        bill_id="bil_a1", capture=offline_challenge(wired), idempotency_key=first.idempotency_key
    )
    assert again.body["voucher"]["id"] == first.body["voucher"]["id"]
    assert again.body["replayed"]
    assert len(wired.store.vouchers()) == 1
    elsewhere = wired.agent.pay(
        bill_id="bil_a2", capture=offline_challenge(wired), idempotency_key=first.idempotency_key
    )
    assert elsewhere.code == "idempotency_key_reused"
    other = wired.agent.pay(bill_id="bil_a1", capture=offline_challenge(wired))
    assert other.status == "refused"
    assert other.code == "offline_bill_paid"


def test_offline_limits_apply_across_payments_and_a_restart(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    for bill in ("bil_a1", "bil_a2", "bil_a3"):
        assert wired.agent.pay(bill_id=bill, capture=offline_challenge(wired)).status == "paid"
    restarted = wired.reopen()
    capture = offline_challenge(restarted)
    fourth = restarted.agent.pay(bill_id="bil_a4", capture=capture)
    assert (fourth.status, fourth.code) == ("refused", "offline_patient_limit")
    assert fourth.message == "Please pay at the window."
    # Once the server has them, the patient may pay offline again.
    restarted.server.cut = lambda request: None
    restarted.agent.syncer.drain()
    restarted.agent.keeper.refresh()
    capture = offline_challenge(restarted)
    assert restarted.agent.pay(bill_id="bil_a4", capture=capture).status == "paid"


def test_local_liveness_refuses_early_with_the_prompt(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    wired.vision.probe = Probe(None, Liveness(False, "Please blink."))
    before = len(wired.server.requests)
    outcome = wired.agent.pay(bill_id="bil_a1", capture=capture_body())
    assert (outcome.status, outcome.code, outcome.message) == (
        "refused",
        "liveness_local",
        "Please blink.",
    )
    assert len(wired.server.requests) == before  # nothing went to the server


def test_online_payment_goes_through_the_server_with_one_key(wired: Wired) -> None:
    challenge = wired.agent.challenge()
    assert challenge["mode"] == "online"
    capture = {**capture_body(), "challenge_nonce": challenge["nonce"]}
    outcome = wired.agent.pay(bill_id="bil_a1", capture=capture, idempotency_key="pay-key-0001")
    assert (outcome.status, outcome.mode) == ("paid", "online")
    assert outcome.body["receipt"]["settlement_id"] == "stl_bil_a1"
    assert wired.server.paid_bills == {"bil_a1": "pay-key-0001"}
    assert wired.store.attempt("pay-key-0001").state == "paid"
    again = wired.agent.pay(bill_id="bil_a1", capture=capture, idempotency_key="pay-key-0001")
    assert again.status == "paid"
    assert again.body["replayed"] is True
    assert wired.store.vouchers() == []


def test_a_cut_after_the_server_committed_is_never_paid_again_offline(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    challenge = wired.agent.challenge()
    capture = {**capture_body(), "challenge_nonce": challenge["nonce"]}
    wired.server.cut = lambda r: "after" if r.url.path.endswith("/payments") else None
    unknown = wired.agent.pay(bill_id="bil_a1", capture=capture)
    assert (unknown.status, unknown.code) == ("unknown", "payment_outcome_unknown")
    assert wired.server.paid_bills == {"bil_a1": unknown.idempotency_key}
    # Still offline: the bill may be paid, so it is not paid offline.
    refused = wired.agent.pay(bill_id="bil_a1", capture=offline_challenge(wired))
    assert refused.code == "offline_payment_unsure"
    assert wired.store.vouchers() == []
    # Back online, the same key returns the receipt: charged once.
    wired.server.cut = lambda r: None
    challenge = wired.agent.challenge()
    capture = {**capture_body(), "challenge_nonce": challenge["nonce"]}
    paid = wired.agent.pay(
        bill_id="bil_a1", capture=capture, idempotency_key=unknown.idempotency_key
    )
    assert paid.status == "paid"
    assert paid.body["receipt"]["replayed"] is True
    assert wired.store.sending_bills() == set()


def test_a_cut_before_the_payment_was_sent_falls_back_to_offline(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    challenge = wired.agent.challenge()
    capture = {**capture_body(), "challenge_nonce": challenge["nonce"]}
    wired.server.cut = lambda r: "before" if r.url.path.endswith("/payments") else None
    outcome = wired.agent.pay(bill_id="bil_a1", capture=capture)
    assert (outcome.status, outcome.mode) == ("paid", "offline")
    assert wired.server.paid_bills == {}
    assert len(wired.store.vouchers()) == 1
    assert wired.store.sending_bills() == set()


def test_the_server_gone_at_identification_falls_back_to_offline(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    challenge = wired.agent.challenge()
    capture = {**capture_body(), "challenge_nonce": challenge["nonce"]}
    wired.server.cut = cut_all
    outcome = wired.agent.pay(bill_id="bil_a2", capture=capture)
    assert (outcome.status, outcome.mode) == ("paid", "offline")


def fill(wired: Wired, size: int) -> None:
    for index in range(1_000):
        wired.store.set_meta(f"filler-{size}-{index}", "x" * size)


def test_a_full_disk_refuses_the_offline_payment(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    capture = offline_challenge(wired)
    pages = wired.store._db.execute("PRAGMA page_count").fetchone()[0]
    wired.store._db.execute(f"PRAGMA max_page_count = {pages + 4}")
    for size in (3_000, 300, 30):  # the disk fills up with something else
        with pytest.raises(StoreFull):
            fill(wired, size)
    outcome = wired.agent.pay(bill_id="bil_a1", capture=capture)
    assert (outcome.status, outcome.code) == ("refused", "terminal_storage_full")
    assert wired.store.vouchers() == []


def test_the_local_api(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    with serve_in_thread(create_app(wired.agent)) as url, httpx.Client(base_url=url) as client:
        _local_api(wired, client)


def _local_api(wired: Wired, client: httpx.Client) -> None:
    wired.server.cut = cut_all
    challenge = client.post("/challenges")
    assert challenge.status_code == 201
    assert challenge.json()["mode"] == "offline"
    capture = {**capture_body(), "challenge_nonce": challenge.json()["nonce"]}
    paid = client.post("/payments", json={"bill_id": "bil_a1", "capture": capture})
    assert paid.status_code == 201, paid.text
    assert paid.json()["mode"] == "offline"
    assert paid.json()["provisional"] is True
    refused = client.post("/payments", json={"bill_id": "bil_big", "capture": capture})
    assert refused.status_code == 422
    assert refused.json()["code"] == "offline_over_per_payment"
    status = client.get("/status").json()
    assert status["mode"] == "offline"
    assert status["outbox"]["depth"] == 1
    assert status["library"]["persons"] == 2
    assert status["library"]["stale"] is False
    assert status["limits"]["per_payment_fen"] == 50_000
    metrics = client.get("/metrics").text
    assert "facepay_terminal_outbox_depth 1.0" in metrics
    assert "facepay_terminal_offline_payments_total 1.0" in metrics
    assert "facepay_terminal_library_stale 0.0" in metrics
    wired.server.cut = lambda r: None
    wired.server.differences = {"bil_a1": {"kind": "arrears", "amount_fen": 700}}
    wired.agent.syncer.drain()
    notices = client.get("/notices/per_a").json()["notices"]
    assert [(n["kind"], n["amount_fen"]) for n in notices] == [("arrears", 700)]
    assert 'facepay_terminal_sync_results_total{replayed="false",status="posted"} 1.0' in (
        client.get("/metrics").text
    )
    assert client.post("/payments", json={"bill_id": "bad id!", "capture": {}}).status_code == 422
    # A body built to exhaust the kiosk machine's memory is refused before it is read.
    huge = client.post(
        "/payments",
        content=b"{" + b" " * (9 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert len(wired.store.vouchers()) == 1


def test_a_probe_of_someone_else_is_refused_offline(wired: Wired) -> None:
    wired.agent.keeper.refresh()
    wired.vision.probe = Probe(unit(3), live())
    outcome = wired.agent.pay(bill_id="bil_a1", capture=offline_challenge(wired))
    assert outcome.code == "offline_no_match"


def test_a_server_that_refuses_the_terminal_is_not_a_reason_to_pay_offline(wired: Wired) -> None:
    wired.agent.keeper.refresh()

    def revoked(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"code": "terminal_revoked", "detail": "revoked"})

    wired.http._transport = httpx.MockTransport(revoked)
    with pytest.raises(ServerRefused) as refused:
        wired.agent.challenge()
    assert refused.value.code == "terminal_revoked"
    assert wired.agent.mode() == "online"
    with serve_in_thread(create_app(wired.agent)) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/challenges")
    assert answer.status_code == 502
    assert answer.json()["code"] == "terminal_revoked"


def test_the_server_gets_at_most_32_frames_spread_over_the_capture() -> None:
    capture = {"started_at": "x", "frames": [{"t": i / 10, "image": str(i)} for i in range(60)]}
    chosen = chosen_frames(capture)
    images = [f["image"] for f in chosen["frames"]]
    assert len(images) == 32
    assert images[0] == "0"
    assert images[-1] == "59"
    assert chosen_frames({"frames": capture["frames"][:5]})["frames"] == capture["frames"][:5]


def test_two_payments_at_once_cannot_both_pass_the_patients_limit(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kiosk page and a second client pay at the same moment: the limits are checked and
    the voucher written as one step, so the second sees the first's voucher."""
    wired.agent.keeper.refresh()
    for bill in ("bil_a1", "bil_a2"):
        assert wired.agent.pay(bill_id=bill, capture=offline_challenge(wired)).status == "paid"
    captures = [offline_challenge(wired) for _ in range(2)]
    decide = service_module.decide_offline
    both_decided = threading.Barrier(2, timeout=2)

    def slow_decide(**kwargs: object) -> object:
        decided = decide(**kwargs)  # type: ignore[arg-type]
        with contextlib.suppress(threading.BrokenBarrierError):
            both_decided.wait()  # without a lock the two decide before either writes
        return decided

    monkeypatch.setattr(service_module, "decide_offline", slow_decide)
    outcomes: list[str] = []

    def pay(bill: str, capture: dict) -> None:
        outcomes.append(wired.agent.pay(bill_id=bill, capture=capture).status)

    threads = [
        threading.Thread(target=pay, args=(bill, capture))
        for bill, capture in zip(("bil_a3", "bil_a4"), captures, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["paid", "refused"]
    assert len(wired.store.vouchers()) == 3
