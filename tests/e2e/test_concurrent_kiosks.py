"""Four kiosks of one hospital identify patients at the same moment against a real `facepay
serve` process. Before the face engine kept a detector per thread, two concurrent
identifications crashed the server (`double free or corruption` in dlib) within a few rounds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from facepay.demo import kiosk
from facepay.demo.client import StaffSession, TerminalSession
from facepay.demo.process import OPERATOR_PASSWORD, ServerProcess, serve_process
from facepay.demo.world import Site, make_site, register_person
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo

pytestmark = pytest.mark.slow
KIOSKS = 4
ROUNDS = 2
ENV = {
    "FACEPAY_ENVIRONMENT": "test",
    "FACEPAY_JWT_SECRET": "kio-jwt-k3y-" + "Zq8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay",
    "FACEPAY_GALLERY_BACKEND": "memory",
    "FACEPAY_API_RATE_TERMINAL_PER_SECOND": "500",
    "FACEPAY_API_RATE_TERMINAL_BURST": "500",
}


@pytest.fixture(scope="module")
def hospital(
    tmp_path_factory: pytest.TempPathFactory, face_engine: Any, images_dir: Path
) -> Iterator[tuple[ServerProcess, Site, list[TerminalSession], dict[str, Any]]]:
    """A server process, a hospital with four kiosks, Obama and Biden enrolled."""
    folder = tmp_path_factory.mktemp("kiosks") / "data"
    with (
        serve_process(folder, env=ENV) as server,
        httpx.Client(base_url=server.url, timeout=180) as http,
    ):
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        site = make_site(http, operator, serial=88)
        kiosks = [site.kiosk]
        for n in range(1, KIOSKS):
            made = site.admin.request("POST", "/v1/terminals", {"name": f"lobby-{n}"}).json()
            kiosks.append(TerminalSession.from_pem(http, made["id"], made["private_key_pem"]))
        biden = register_person(operator, serial=89, name="Joe Biden")

        def subject(file: str) -> Subject:
            photo = load_image(images_dir / file)
            return subjects_from_photo(face_engine, photo, file, file)[0]

        people = {
            "obama": (site.person, subject("obama2.jpg"), "obama.jpg"),
            "biden": (biden, subject("biden.jpg"), "biden.jpg"),
        }
        for seed, (card, face, chip) in enumerate(people.values()):
            done = kiosk.enrol(site.kiosk, card, load_image(images_dir / chip), face, seed=seed)
            assert done.status_code == 201, done.text
        yield server, site, kiosks, people


def test_four_kiosks_identify_at_once_and_the_server_survives(
    hospital: tuple[ServerProcess, Site, list[TerminalSession], dict[str, Any]],
) -> None:
    server, _, kiosks, people = hospital
    names = sorted(people)
    results: list[tuple[str, int, dict[str, Any]]] = []
    start = threading.Barrier(KIOSKS)

    def serve_patients(slot: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            name = names[(slot + round_) % len(names)]
            response = kiosk.identify(kiosks[slot], people[name][1], seed=100 * slot + round_)
            results.append((name, response.status_code, response.json()))

    threads = [threading.Thread(target=serve_patients, args=(slot,)) for slot in range(KIOSKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.process.poll() is None, "the server died"
    assert len(results) == KIOSKS * ROUNDS
    for name, status, body in results:
        assert status == 201, (name, body)
        assert (body["decision"], body["person_id"]) == ("match", people[name][0]["person_id"])
    assert httpx.get(f"{server.url}/healthz").status_code == 200
