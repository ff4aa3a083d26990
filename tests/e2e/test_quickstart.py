"""docs/quickstart.md, step by step, on PostgreSQL: `facepay admin init`, `facepay serve`, the
platform operator registers a hospital and a person, its admin a kiosk whose key `facepay kiosk
keygen` made; the patient enrols with `facepay kiosk enrol`, is identified from a video turned
into a capture by `facepay capture`, pays with `facepay kiosk pay`; the cashier refunds.

Every `facepay` command runs as a child process, as an engineer would type it; staff steps are the
HTTP calls the document shows with curl. The elapsed time of each step is printed (`-s`)."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from facepay.client import StaffSession, TerminalSession
from facepay.demo.process import run_cli, serve_process
from facepay.demo.world import register_person
from facepay.terminal.capture import SubjectSource, challenge_of, write_video
from facepay.terminal.signing import private_key_from_pem
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import subjects_from_photo

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET = "qs-jwt-k3y-" + "Tq8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay1"
OPERATOR_PASSWORD = "operator-pass-2026"
ADMIN_PASSWORD = "admin-pass-2026-x"
CASHIER_PASSWORD = "cashier-pass-2026"


class Steps:
    """Times each step of the quickstart; prints them at the end."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []
        self._start = time.monotonic()

    def __call__(self, name: str, action: Callable[[], Any]) -> Any:
        started = time.monotonic()
        result = action()
        self.times.append((name, time.monotonic() - started))
        return result

    def report(self) -> str:
        lines = [f"  {name:<44} {seconds:6.1f} s" for name, seconds in self.times]
        total = time.monotonic() - self._start
        return "\n".join(["quickstart steps:", *lines, f"  {'total':<44} {total:6.1f} s"])


@pytest.fixture
def environment(tmp_path: Path, create_postgres_database: Callable[[str], str]) -> dict[str, str]:
    return {
        "FACEPAY_DATA_DIR": str(tmp_path / "facepay-data"),
        "FACEPAY_DATABASE_URL": create_postgres_database("facepay_quickstart_"),
        "FACEPAY_ENVIRONMENT": "production",
        "FACEPAY_JWT_SECRET": SECRET,
        "FACEPAY_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _run(
    args: list[str], env: dict[str, str], *, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    done = run_cli(args, env, timeout=300)
    assert done.returncode == expect, f"facepay {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done


def _cli(args: list[str], env: dict[str, str]) -> str:
    return _run(args, env).stdout


def test_the_quickstart_on_postgresql(
    environment: dict[str, str], tmp_path: Path, images_dir: Path, face_engine: Any
) -> None:
    step = Steps()
    data = Path(environment["FACEPAY_DATA_DIR"])
    step("facepay admin init", lambda: _cli(["admin", "init"], environment))
    with ExitStack() as stack:
        server = step(
            "facepay serve (until /healthz answers)",
            lambda: stack.enter_context(serve_process(data, env=environment, init=False)),
        )
        http = stack.enter_context(httpx.Client(base_url=server.url, timeout=120))
        kiosk_env = {**environment, "FACEPAY_KIOSK_SERVER": server.url}
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        tag = secrets.token_hex(3)

        def register_hospital() -> tuple[StaffSession, StaffSession]:
            body = {"name": "City Hospital", "admin_username": f"admin-{tag}",
                    "admin_password": ADMIN_PASSWORD}  # fmt: skip
            assert operator.request("POST", "/v1/hospitals", body).status_code == 201
            admin = StaffSession.login(http, f"admin-{tag}", ADMIN_PASSWORD)
            cashier = {"username": f"cashier-{tag}", "password": CASHIER_PASSWORD,
                       "role": "cashier"}  # fmt: skip
            assert admin.request("POST", "/v1/staff", cashier).status_code == 201
            return admin, StaffSession.login(http, f"cashier-{tag}", CASHIER_PASSWORD)

        admin, cashier = step("register a hospital, its admin and a cashier", register_hospital)

        key_file = tmp_path / "kiosk.pem"

        def register_kiosk() -> str:
            public = _cli(["kiosk", "keygen", "--out", str(key_file)], environment)
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            made = admin.request(
                "POST", "/v1/terminals", {"name": "lobby", "kind": "kiosk", "public_key": public}
            )
            assert made.status_code == 201, made.text
            assert made.json().get("private_key_pem") is None  # the key never left the kiosk
            terminal_id: str = made.json()["id"]
            return terminal_id

        terminal = step("facepay kiosk keygen + register the kiosk", register_kiosk)
        kiosk_env["FACEPAY_KIOSK_TERMINAL"] = terminal
        kiosk_env["FACEPAY_KIOSK_KEY"] = str(key_file)
        person = step(
            "register an insured person",
            lambda: register_person(operator, serial=4242, name="Barack Obama"),
        )
        card = tmp_path / "card.json"
        card.write_text(json.dumps({k: person[k] for k in ("id_number", "name", "sex",
                                                           "birth_date")}))  # fmt: skip
        camera = images_dir / "obama2.jpg"
        chip = images_dir / "obama.jpg"

        enrolled = step(
            "facepay kiosk enrol (--synthetic)",
            lambda: _cli(["kiosk", "enrol", "--card", str(card), "--chip-photo", str(chip),
                          "--synthetic", str(camera), "--consent-given"], kiosk_env),
        )  # fmt: skip
        assert f"enrolled: person {person['person_id']}" in enrolled

        session = TerminalSession(http, terminal, private_key_from_pem(key_file.read_bytes()))
        subject = subjects_from_photo(face_engine, load_image(camera), "obama", "obama")[0]

        def identify_from_a_video() -> dict[str, Any]:
            # Like a kiosk, film again when liveness asks for a retake (the synthetic patient
            # misses a random challenge's move now and then; the liveness suite measures how
            # often).
            for seed in (7, 8, 9):
                issued = session.request("POST", "/v1/liveness/challenges")
                assert issued.status_code == 201
                (tmp_path / "challenge.json").write_text(issued.text)
                # What a camera app would record while the patient follows the prompts.
                filmed = SubjectSource(subject, seed=seed).record(
                    challenge_of(issued.json()), print
                )
                write_video(tmp_path / "answer.avi", filmed)
                # One file per attempt: `facepay capture` never overwrites an earlier capture.
                answer = tmp_path / f"capture-{seed}.json"
                _cli(["capture", "--challenge", str(tmp_path / "challenge.json"),
                      "--video", str(tmp_path / "answer.avi"), "--out",
                      str(answer)], environment)  # fmt: skip
                capture = json.loads(answer.read_text())
                found = session.request("POST", "/v1/identifications", {"capture": capture})
                if found.status_code != 422 or found.json()["code"] != "liveness_retry":
                    break
            assert found.status_code == 201, found.text
            body: dict[str, Any] = found.json()
            return body

        found = step("facepay capture --video + POST /v1/identifications", identify_from_a_video)
        assert (found["decision"], found["person_id"]) == ("match", person["person_id"])

        bill_body = {"external_ref": f"HIS-{tag}", "id_number": person["id_number"],
                     "visit_type": "outpatient", "hospital_tier": 2,
                     "service_date": time.strftime("%Y-%m-%d"),
                     "lines": [{"code": "A01", "name": "amoxicillin", "item_class": "A",
                                "unit_price": 3_550, "quantity": "2"}]}  # fmt: skip
        bill = step("the HIS posts a bill",
                    lambda: cashier.request("POST", "/v1/bills", bill_body).json())  # fmt: skip
        assert bill["status"] == "open", bill

        paid = step(
            "facepay kiosk pay (--synthetic)",
            lambda: _cli(["kiosk", "pay", bill["id"], "--synthetic", str(camera), "--seed", "3",
                          "--last4", person["phone"][-4:], "--json"], kiosk_env),
        )  # fmt: skip
        receipt = json.loads(paid)  # under --json, stdout is the JSON alone
        assert receipt["receipt"]["bill"]["status"] == "paid"
        assert receipt["receipt"]["split"]["medfee_sumamt"] == 7_100

        # The answer was lost: the same key again returns the receipt and charges nothing.
        repeat = step(
            "facepay kiosk pay --idempotency-key (a repeat)",
            lambda: _cli(["kiosk", "pay", bill["id"], "--synthetic", str(camera), "--seed", "4",
                          "--last4", person["phone"][-4:], "--idempotency-key",
                          receipt["idempotency_key"], "--json"], kiosk_env),
        )  # fmt: skip
        repeated = json.loads(repeat)["receipt"]
        assert repeated["replayed"] is True
        assert repeated["settlement_id"] == receipt["receipt"]["settlement_id"]

        def refund() -> dict[str, Any]:
            done = cashier.request(
                "POST", f"/v1/bills/{bill['id']}/refunds", {},
                headers={"Idempotency-Key": f"refund-{tag}"},
            )  # fmt: skip
            assert done.status_code == 201, done.text
            body: dict[str, Any] = done.json()
            return body

        refunded = step("the cashier refunds", refund)
        assert refunded["bill"]["status"] == "refunded"
        again = _run(["kiosk", "pay", bill["id"], "--synthetic", str(camera)], kiosk_env,
                     expect=1)  # fmt: skip
        assert "refused (409" in again.stderr, again.stderr
    print(step.report())
    with (data.parent / "quickstart-times.txt").open("w") as out:
        out.write(step.report() + "\n")
    if os.environ.get("FACEPAY_QUICKSTART_TIMES"):
        Path(os.environ["FACEPAY_QUICKSTART_TIMES"]).write_text(step.report() + "\n")
