"""Four kiosks of one hospital identify patients at the same moment against a real `facepay
serve` process. Before the face engine kept a detector per thread, two concurrent
identifications crashed the server (`double free or corruption` in dlib) within a few rounds."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Served

from facepay.demo import kiosk

pytestmark = pytest.mark.slow
KIOSKS = 4
ROUNDS = 2


def test_four_kiosks_identify_at_once_and_the_server_survives(served: Served) -> None:
    server, kiosks, people = served.server, served.kiosks, served.people
    assert len(kiosks) >= KIOSKS
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
