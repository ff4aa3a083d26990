"""Two `facepay serve` processes (different ports and data folders, as on two machines) on one
PostgreSQL: an enrolment on one is identifiable on the other within a second, an erasure on
the other is effective on the first at once, a challenge issued by one is redeemed once across
both, and a kill -9 of one in the middle of an enrolment loses nothing."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import SERVED_ENV

from facepay.client import StaffSession, TerminalSession
from facepay.demo import kiosk
from facepay.demo.process import OPERATOR_PASSWORD, ServerProcess, serve_process
from facepay.demo.world import make_site, register_person
from facepay.terminal.capture import SubjectSource
from facepay.terminal.kiosk import Kiosk
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
FOLLOW_BOUND_S = 1.0


@dataclass
class Pair:
    """Two servers on one database; the environment and folders to start them again."""

    a: ServerProcess
    b: ServerProcess
    env: dict[str, str]
    folders: tuple[Path, Path]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, create_postgres_database) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("two-servers")
    first, second = root / "machine-a", root / "machine-b"
    second.mkdir(mode=0o700)
    env = {
        **SERVED_ENV,
        "FACEPAY_GALLERY_BACKEND": "faiss",
        "FACEPAY_DATABASE_URL": create_postgres_database("facepay_pair_"),
        # The same template key on both machines (copied, in real life; here one file).
        "FACEPAY_TEMPLATE_KEY_FILE": str(root / "template.key"),
        "FACEPAY_GALLERY_FOLLOW_INTERVAL_MS": "100",
    }
    with serve_process(first, env=env) as a, serve_process(second, env=env, init=False) as b:
        yield Pair(a, b, env, (first, second))


@pytest.fixture
def client() -> Iterator[Any]:
    """Make HTTP clients closed at the end of the test."""
    made: list[httpx.Client] = []

    def make(url: str) -> httpx.Client:
        made.append(httpx.Client(base_url=url, timeout=180))
        return made[-1]

    yield make
    for http in made:
        http.close()


def _subject(face_engine: Any, images_dir: Path, file: str) -> Subject:
    return subjects_from_photo(face_engine, load_image(images_dir / file), file, file)[0]


def _templates_on(server: ServerProcess) -> int:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.search(r"^facepay_gallery_templates (\S+)$", text, re.MULTILINE)
    assert found, "no gallery gauge"
    return int(float(found.group(1)))


def _wait_for_templates(server: ServerProcess, count: int, bound: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < bound + 5:
        if _templates_on(server) >= count:
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"{server.url} did not reach {count} templates")


def test_two_servers_share_enrolments_erasures_and_challenges(
    pair: Pair, face_engine: Any, images_dir: Path, client: Any
) -> None:
    http_a, http_b = client(pair.a.url), client(pair.b.url)
    operator = StaffSession.login(http_a, "operator", OPERATOR_PASSWORD)
    site = make_site(http_a, operator, serial=301)
    on_b = TerminalSession.from_pem(http_b, site.kiosk.terminal_id, site.kiosk_pem)
    obama = _subject(face_engine, images_dir, "obama2.jpg")
    chip = load_image(images_dir / "obama.jpg")
    held_b = _templates_on(pair.b)

    # Enrol on A: B's gallery has the template within a second, and B identifies the patient.
    done = kiosk.enrol(site.kiosk, site.person, chip, obama, seed=1)
    assert done.status_code == 201, done.text
    person_id = done.json()["person_id"]
    lag = _wait_for_templates(pair.b, held_b + 1, FOLLOW_BOUND_S)
    assert lag <= FOLLOW_BOUND_S, f"B followed the enrolment after {lag:.2f} s"
    found = kiosk.identify(on_b, obama, seed=2)
    assert (found.status_code, found.json()["person_id"]) == (201, person_id), found.text

    # A challenge issued by A, answered on B: accepted once; the same capture on A is a replay.
    for seed in range(3, 8):  # a synthetic patient sometimes misses a move: film again
        body = {"capture": Kiosk(site.kiosk, SubjectSource(obama, seed)).capture()}
        first = on_b.request("POST", "/v1/identifications", body)
        if first.status_code == 201:
            break
        assert first.json()["code"] == "liveness_retry", first.text
    assert first.status_code == 201, first.text
    replay = site.kiosk.request("POST", "/v1/identifications", body)
    assert replay.status_code in (400, 401, 403, 422), replay.text
    assert replay.json()["code"] == "liveness_spoof"

    # Withdraw on B: A answers no_match at once (before it has followed the journal).
    admin_b = site.admin.on(http_b)
    path = f"/v1/patients/{person_id}/consent-withdrawals"
    gone = admin_b.request("POST", path, {"reason": "asked"})
    assert gone.status_code == 201, gone.text
    after = kiosk.identify(site.kiosk, obama, seed=9)
    assert after.status_code == 201, after.text
    assert after.json()["decision"] == "no_match"


def test_a_server_killed_mid_enrolment_loses_nothing(
    pair: Pair, face_engine: Any, images_dir: Path, client: Any
) -> None:
    http_a, http_b = client(pair.a.url), client(pair.b.url)
    operator = StaffSession.login(http_b, "operator", OPERATOR_PASSWORD)
    site = make_site(http_b, operator, serial=302)
    biden_card = register_person(operator, serial=303, name="Joe Biden")
    biden = _subject(face_engine, images_dir, "biden.jpg")
    chip = load_image(images_dir / "biden.jpg")
    on_a = TerminalSession.from_pem(http_a, site.kiosk.terminal_id, site.kiosk_pem)

    outcome: dict[str, Any] = {}

    def enrol_on_a() -> None:
        try:
            outcome["response"] = kiosk.enrol(on_a, biden_card, chip, biden, seed=5)
        except httpx.HTTPError as error:
            outcome["error"] = error

    started = threading.Thread(target=enrol_on_a)
    started.start()
    time.sleep(1.5)  # the enrolment is being processed (liveness, 1:1, duplicate screen)
    os.kill(pair.a.process.pid, 9)
    started.join(timeout=60)
    # Either the enrolment committed before the kill or nothing of it did: B tells which, and
    # a retry on B either enrols or finds it enrolled - never a half-stored patient.
    again = kiosk.enrol(site.kiosk, biden_card, chip, biden, seed=6)
    assert again.status_code in (201, 409), again.text
    if again.status_code == 409:
        assert again.json()["code"] == "already_enrolled"
    found = kiosk.identify(site.kiosk, biden, seed=7)
    assert (found.status_code, found.json()["decision"]) == (201, "match"), found.text
    person_id = found.json()["person_id"]

    # A restarts from its folder: its gallery file is stale or missing; it catches up and
    # identifies the patient too.
    with serve_process(pair.folders[0], env=pair.env, init=False) as restarted:
        http_r = client(restarted.url)
        on_r = TerminalSession.from_pem(http_r, site.kiosk.terminal_id, site.kiosk_pem)
        again_a = kiosk.identify(on_r, biden, seed=8)
        assert (again_a.status_code, again_a.json().get("person_id")) == (201, person_id)
