"""The offline decision, one limit at a time: each refusal has its code and its sentence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from tests.unit.terminal.agent.conftest import MODEL, TERMINAL, FakeServer, live, person, unit

from facepay.shared.errors import InvalidInput
from facepay.terminal.agent.offline import (
    STAFF,
    WINDOW,
    Approval,
    Liveness,
    OfflineState,
    Probe,
    Refusal,
    Taken,
    decide_offline,
)
from facepay.terminal.agent.package import Library, SignedLimits, open_library, open_limits
from facepay.terminal.protocol import OfflineLimits, ed25519_public_raw, unb64, x25519_public_raw

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def opened(server: FakeServer) -> tuple[SignedLimits, Library]:
    key = X25519PrivateKey.generate()
    server.sealing_key = x25519_public_raw(key)
    server.issued_at = NOW - timedelta(seconds=30)
    body = server.package(NOW)
    limits = open_limits(body["limits"], ed25519_public_raw(server.key), terminal_id=TERMINAL)
    sealed = unb64(body["library"]["sealed"], "library")
    return limits, open_library(sealed, key, limits=limits, model_version=MODEL)


@pytest.fixture
def package(server: FakeServer) -> tuple[SignedLimits, Library]:
    return opened(server)


def state(package: tuple[SignedLimits, Library], **changes: Any) -> OfflineState:
    limits, library = package
    return replace(
        OfflineState(now=NOW, limits=limits, library=library, model_version=MODEL), **changes
    )


def decide(
    package: tuple[SignedLimits, Library], bill: str = "bil_a1", probe: Probe | None = None,
    **changes: Any,
) -> Approval | Refusal:  # fmt: skip
    return decide_offline(
        state=state(package, **changes), bill_id=bill, probe=probe or Probe(unit(0), live())
    )


def refused(result: Approval | Refusal, code: str, message: str = WINDOW) -> None:
    assert isinstance(result, Refusal), result
    assert (result.code, result.message) == (code, message), result


def with_limits(
    package: tuple[SignedLimits, Library], **rules: Any
) -> tuple[SignedLimits, Library]:
    limits, library = package
    return replace(limits, limits=replace(limits.limits, **rules)), library


def test_a_payment_within_every_limit_is_approved_with_its_provisional_split(package) -> None:
    approved = decide(package)
    assert isinstance(approved, Approval)
    assert approved.person.person_id == "per_a"
    assert approved.template_id == "tpl_per_a"
    assert approved.score == 1_000_000
    assert approved.runner_up_score == 0
    split = approved.provisional()
    assert split["medfee_sumamt"] == 10_000
    assert split["policy_id"] == "example-employee-2026"
    assert split["fund_pay_sumamt"] + split["acct_pay"] + split["psn_cash_pay"] == 10_000
    assert split["fund_pay_sumamt"] == 7_000  # deductible used up; tier 3 pays 70 %
    assert split["acct_pay"] == 3_000
    assert split["psn_cash_pay"] == 0


def test_no_verified_limits_or_offline_turned_off(package) -> None:
    refused(decide(package, limits=None), "offline_no_limits")
    refused(decide(with_limits(package, enabled=False)), "offline_disabled")


def test_the_library_must_be_there_fresh_and_of_the_local_model(package) -> None:
    refused(decide(package, library=None), "offline_no_library")
    limits, library = package
    age = limits.limits.max_library_age_seconds
    assert isinstance(decide(package, now=library.issued_at + timedelta(seconds=age)), Approval)
    refused(
        decide(package, now=library.issued_at + timedelta(seconds=age + 1)), "offline_library_stale"
    )
    refused(decide(package, model_version="dlib-other"), "offline_model_mismatch")


def test_a_voucher_waiting_too_long_for_upload_stops_offline_payment(package) -> None:
    limit = package[0].limits.max_upload_age_seconds
    ok = decide(package, oldest_unsynced=NOW - timedelta(seconds=limit))
    assert isinstance(ok, Approval)
    late = decide(package, oldest_unsynced=NOW - timedelta(seconds=limit + 1))
    refused(late, "offline_upload_overdue")


def test_consecutive_offline_payments_per_terminal(package) -> None:
    tight = with_limits(package, per_terminal_consecutive=2)
    assert isinstance(decide(tight, unsynced_count=1), Approval)
    refused(decide(tight, unsynced_count=2), "offline_terminal_limit", STAFF)


def test_the_bill_must_be_in_the_library_and_not_paid_here_already(package) -> None:
    refused(decide(package, bill="bil_nowhere"), "offline_bill_unknown")
    taken = {"per_a": Taken(bills=frozenset({"bil_a1"}))}
    refused(decide(package, taken=taken), "offline_bill_paid")
    refused(decide(package, unsure_bills=frozenset({"bil_a1"})), "offline_payment_unsure", STAFF)


def test_amount_per_payment_and_the_face_pay_limit(package) -> None:
    refused(decide(package, bill="bil_big"), "offline_over_per_payment", STAFF)
    limits, library = package
    lower = (replace(limits, face_pay_limit_fen=10_000), library)
    refused(decide(lower), "offline_second_factor", STAFF)
    assert isinstance(decide(lower, bill="bil_a3"), Approval)


def test_cumulative_unsynced_amount(package) -> None:
    cap = package[0].limits.cumulative_fen
    assert isinstance(decide(package, unsynced_fen=cap - 10_000), Approval)
    refused(decide(package, unsynced_fen=cap - 9_999), "offline_over_cumulative", STAFF)


def test_local_liveness_must_have_passed(package) -> None:
    blink = Probe(None, Liveness(False, "Please blink."))
    refused(decide(package, probe=blink), "offline_liveness", "Please blink.")
    refused(
        decide(package, probe=Probe(None, live())),
        "offline_no_face",
        "No face was found: face the camera.",
    )


def test_the_face_must_match_the_bills_patient_clearly(package) -> None:
    refused(decide(package, probe=Probe(unit(3), live())), "offline_no_match")
    stranger = Probe(unit(6), live())
    refused(decide(package, probe=stranger), "offline_no_match")
    between = (unit(0) + unit(3)) / np.linalg.norm(unit(0) + unit(3))
    refused(decide(package, probe=Probe(between.astype(np.float32), live())), "offline_no_match")
    assert isinstance(decide(package, probe=Probe(unit(0, wobble=0.2), live())), Approval)


def test_the_deny_list(server: FakeServer) -> None:
    server.deny = ["per_a"]
    refused(decide(opened(server)), "offline_denied")


def test_consecutive_offline_payments_per_patient(package) -> None:
    limit = package[0].limits.per_patient_consecutive
    assert isinstance(decide(package, unsynced_per_person={"per_a": limit - 1}), Approval)
    refused(decide(package, unsynced_per_person={"per_a": limit}), "offline_patient_limit")
    assert isinstance(decide(package, unsynced_per_person={"per_b": limit}), Approval)


def test_what_this_terminal_took_offline_counts_against_the_account(package) -> None:
    taken = {"per_a": Taken(account_fen=4_000)}
    approved = decide(package, taken=taken)
    assert isinstance(approved, Approval)
    assert approved.provisional()["acct_pay"] == 1_000
    assert approved.provisional()["psn_cash_pay"] == 2_000


def test_offline_deltas_are_added_to_the_librarys_accumulators() -> None:
    server = FakeServer(persons=[person("per_a", 0, {"bil_1": 10_000}, used=170_000)])
    package = opened(server)
    first = decide(package, bill="bil_1")
    assert isinstance(first, Approval)
    assert first.provisional()["fund_pay_sumamt"] == 0
    deltas = [{"year": 2026, "outpatient_deductible_used": 10_000}]
    after = decide(package, bill="bil_1", taken={"per_a": Taken(deltas=deltas)})
    assert isinstance(after, Approval)
    assert after.provisional()["fund_pay_sumamt"] == 7_000
    other_year = [{"year": 2025, "outpatient_deductible_used": 10_000}]
    ignored = decide(package, bill="bil_1", taken={"per_a": Taken(deltas=other_year)})
    assert isinstance(ignored, Approval)
    assert ignored.provisional()["fund_pay_sumamt"] == 0


def test_limits_signed_by_another_key_or_for_another_terminal_are_refused(server) -> None:
    body = server.package(NOW)
    with pytest.raises(InvalidInput) as forged:
        open_limits(body["limits"], ed25519_public_raw(FakeServer().key), terminal_id=TERMINAL)
    assert forged.value.code == "offline_signature_bad"
    with pytest.raises(InvalidInput) as other:
        open_limits(body["limits"], ed25519_public_raw(server.key), terminal_id="trm_other")
    assert other.value.code == "offline_package_bad"


def test_default_limits_are_the_protocols() -> None:
    assert OfflineLimits().per_patient_consecutive == 3
