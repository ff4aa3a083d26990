"""A liveness refusal tells the patient one sentence and keeps, in its hospital's audit chain,
which checks failed with their scores; staff with the right role read it by the decision id the
refusal carries, other hospitals cannot, and only the dev environment puts the checks in the
response itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.security.conftest import SERIALS, Api, ServeApi, api_settings, running_api

from facepay.client import TerminalSession
from facepay.demo.world import Site, make_site
from facepay.services.support import LivenessRefused, liveness_details
from facepay.supervision.redaction import check_safe_details
from facepay.terminal.capture import SubjectSource, capture_body, challenge_of, encode_image
from facepay.vision.image import load_image
from facepay.vision.liveness import Capture, Decision, LivenessDecision
from facepay.vision.liveness.capture import Frame
from facepay.vision.liveness.checks.base import CheckResult
from facepay.vision.liveness.synth.bona_fide import subjects_from_photo


def _still_photo_capture(kiosk: TerminalSession, photo: Path) -> dict[str, Any]:
    """Twelve copies of one photo answering a fresh challenge: what a held-up print films."""
    challenge = kiosk.request("POST", "/v1/liveness/challenges")
    assert challenge.status_code == 201
    issued = datetime.fromisoformat(challenge.json()["issued_at"])
    frame = encode_image(load_image(photo), fmt=".jpg")
    return {
        "challenge_nonce": challenge.json()["nonce"],
        "started_at": (issued + timedelta(milliseconds=50)).isoformat(),
        "frames": [{"t": round(i * 0.25, 2), "image": frame} for i in range(12)],
    }


@pytest.fixture(scope="module")
def refusal(site_a: Site, images_dir: Path) -> dict[str, Any]:
    capture = _still_photo_capture(site_a.kiosk, images_dir / "obama.jpg")
    refused = site_a.kiosk.request("POST", "/v1/identifications", {"capture": capture})
    assert refused.status_code == 422, refused.text
    body: dict[str, Any] = refused.json()
    return body


def test_the_patient_gets_one_sentence_and_a_decision_id(refusal: dict[str, Any]) -> None:
    assert refusal["code"] in {"liveness_spoof", "liveness_retry"}
    assert refusal["decision_id"].startswith("lvd_")
    assert "liveness" not in refusal  # the checks are for staff, outside dev
    assert refusal["detail"].endswith(".")


def test_staff_read_every_check_with_its_score(site_a: Site, refusal: dict[str, Any]) -> None:
    path = f"/v1/liveness/decisions/{refusal['decision_id']}"
    for reader in (site_a.admin, site_a.auditor, site_a.operator):
        found = reader.request("GET", path)
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["hospital_id"] == site_a.hospital_id
        assert body["decision"] == refusal["code"].removeprefix("liveness_")
        assert body["caller"] == f"terminal:{site_a.kiosk.terminal_id}"
        assert body["reason"]
        failed = [c for c in body["checks"] if c["applicable"] and not c["passed"]]
        assert failed, body
        assert all(isinstance(c["score"], float) and c["reason"] for c in failed)


def test_the_front_desk_and_terminals_may_not_read_them(
    site_a: Site, refusal: dict[str, Any]
) -> None:
    path = f"/v1/liveness/decisions/{refusal['decision_id']}"
    assert site_a.cashier.request("GET", path).status_code == 403
    assert site_a.kiosk.request("GET", path).status_code == 403


def test_another_hospital_cannot_see_them(site_b: Site, refusal: dict[str, Any]) -> None:
    path = f"/v1/liveness/decisions/{refusal['decision_id']}"
    assert site_b.admin.request("GET", path).status_code == 404
    assert site_b.admin.request("GET", "/v1/liveness/decisions/lvd_nope").status_code == 404


def test_the_audit_entry_keeps_the_checks(api: Api, site_a: Site, refusal: dict[str, Any]) -> None:
    with api.services.uow() as uow:
        entries = uow.audit.by_subject(site_a.hospital_id, refusal["decision_id"])
    assert [e.action for e in entries] == ["liveness.refused"]
    assert entries[0].details["checks"]


def test_the_dev_environment_returns_the_checks() -> None:
    check = CheckResult(name="motion", passed=False, score=0.01, reason="no head motion")
    decision = LivenessDecision(Decision.SPOOF, "Ask staff.", "motion: still", None, (check,))
    refused = LivenessRefused(decision, "lvd_1")
    assert refused.problem_extensions(dev=False) == {"decision_id": "lvd_1"}
    dev = refused.problem_extensions(dev=True)
    assert dev["liveness"]["checks"][0]["score"] == "0.0100"  # type: ignore[index]


def test_a_refusal_after_every_check_ran_keeps_their_measurements(
    site_a: Site, images_dir: Path, face_engine: Any
) -> None:
    """A live face filmed at the wrong pace: the actions miss their windows, so every check
    runs (motion among them) and the refusal's entry keeps each measurement."""
    subject = subjects_from_photo(face_engine, load_image(images_dir / "obama2.jpg"), "o", "o")[0]
    challenge = site_a.kiosk.request("POST", "/v1/liveness/challenges")
    filmed = SubjectSource(subject, seed=5).record(challenge_of(challenge.json()), print)
    hurried = Capture(
        tuple(Frame(t=round(f.t / 2.5, 4), rgb=f.rgb) for f in filmed.frames),
        filmed.capabilities,
        filmed.started_at,
        filmed.challenge_nonce,
    )
    refused = site_a.kiosk.request(
        "POST", "/v1/identifications", {"capture": capture_body(hurried)}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] in {"liveness_spoof", "liveness_retry"}, refused.text
    path = f"/v1/liveness/decisions/{refused.json()['decision_id']}"
    checks = site_a.admin.request("GET", path).json()["checks"]
    assert {c["name"] for c in checks} >= {"motion", "active"}
    assert any(c["details"] for c in checks), checks


def test_measurement_names_that_read_like_biometric_fields_are_kept_safely() -> None:
    """`moving_frames` made the audit refuse the whole entry (422 unsafe_details instead of the
    liveness refusal)."""
    check = CheckResult(
        name="motion", passed=False, score=0.2, reason="flat",
        details={"parallax": 0.01, "moving_frames": 3.0},
    )  # fmt: skip
    decision = LivenessDecision(Decision.SPOOF, "Ask staff.", "motion: flat", None, (check,))
    details = liveness_details(decision)
    check_safe_details(details)
    assert details["checks"][0]["details"] == {  # type: ignore[index]
        "parallax": "0.0100",
        "moving_frames_value": "3.0000",
    }


def test_in_the_dev_environment_the_response_carries_the_checks(
    tmp_path: Path, serve_api: ServeApi, images_dir: Path
) -> None:
    settings = api_settings(tmp_path, environment="dev")
    for dev in running_api(settings, serve_api):
        site = make_site(dev.http, dev.operator, serial=next(SERIALS))
        capture = _still_photo_capture(site.kiosk, images_dir / "obama.jpg")
        refused = site.kiosk.request("POST", "/v1/identifications", {"capture": capture})
        assert refused.status_code == 422
        body = refused.json()
        assert body["decision_id"].startswith("lvd_")
        assert body["liveness"]["checks"], body
        assert body["liveness"]["decision"] == body["code"].removeprefix("liveness_")
