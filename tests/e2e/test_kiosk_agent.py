"""`facepay kiosk --agent URL pay`: the command-line kiosk pays through a real terminal agent
(`facepay terminal run`, a child process) whose server sits behind a `NetCut`: online first,
then offline while the network is cut (a voucher, synced once the network is back), and the
operator's mistakes. The agent's own refusals are the unit tests' (tests/unit/terminal)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import OPERATOR, SECRET

from facepay.config import Settings
from facepay.demo import kiosk
from facepay.demo.netcut import NetCut
from facepay.demo.process import AgentProcess, agent_process, free_port, run_cli
from facepay.demo.scenario import expect
from facepay.demo.world import Site, make_site
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import subjects_from_photo

CAMERA = "obama2.jpg"


@dataclass
class World:
    """A server, a site whose patient is enrolled, and the window's agent behind a NetCut."""

    site: Site
    cut: NetCut
    agent: AgentProcess
    photo: Path
    bills: list[dict[str, Any]]


def bill(site: Site, fen: int) -> dict[str, Any]:
    """An outpatient bill of one class-A line for the site's person."""
    return site.post_visit(fen, hospital_tier=3)


def agent_status(world: World) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{world.agent.url}/status", timeout=10).json()
    return body


def wait_for(world: World, done: Callable[[dict[str, Any]], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done(agent_status(world)):
        assert time.monotonic() < deadline, agent_status(world)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    serve_api: Callable[..., AbstractContextManager[tuple[Any, ...]]],
    face_engine: Any,
    images_dir: Path,
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("kiosk-agent")
    settings = Settings(
        data_dir=folder / "server",
        environment="test",
        jwt_secret=SECRET,
        api_rate_terminal_per_second=500.0,
        api_rate_terminal_burst=500,
    )
    with serve_api(settings, OPERATOR) as (url, http, _app, _services, operator):
        site = make_site(http, operator, serial=4_321)
        face = subjects_from_photo(face_engine, load_image(images_dir / CAMERA), "o", "o")[0]
        chip = load_image(images_dir / "obama.jpg")
        enrolled = kiosk.enrol(site.kiosk, site.person, chip, face, seed=3)
        assert enrolled.status_code == 201, enrolled.text
        # Bills first: the agent's first package holds the patient's open bills.
        bills = [bill(site, fen) for fen in (4_000, 5_000, 60_000)]
        made = expect(
            site.admin.request("POST", "/v1/terminals", {"name": "window", "kind": "window"}), 201
        )
        key = folder / "window.pem"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(made["private_key_pem"])
        with (
            NetCut(int(url.rsplit(":", 1)[1])) as cut,
            agent_process(
                server_url=cut.url,
                key_file=key,
                data_dir=folder / "agent",
                terminal_id=made["id"],
            ) as agent,
        ):
            found = World(site, cut, agent, images_dir / CAMERA, bills)
            wait_for(found, lambda s: s["library"]["persons"] >= 1, 60)
            yield found


def pay(world: World, bill_id: str, *extra: str) -> Any:
    args = ["kiosk", "--agent", world.agent.url, "pay", bill_id, "--synthetic", str(world.photo)]
    return run_cli([*args, "--attempts", "4", *extra], env={})


def test_a_payment_online_through_the_agent(world: World) -> None:
    done = pay(world, world.bills[0]["id"], "--json")
    assert done.returncode == 0, done.stderr[-2_000:]
    body = json.loads(done.stdout)
    assert (body["status"], body["mode"], body["provisional"]) == ("paid", "online", False)
    assert body["person"]["person_id"] == world.site.person["person_id"]
    assert body["receipt"]["settlement_id"].startswith("stl_")
    assert "paid online: settlement" in done.stderr
    read = expect(world.site.cashier.request("GET", f"/v1/bills/{world.bills[0]['id']}"), 200)
    assert read["status"] == "paid"


def test_a_payment_offline_while_cut_then_synced(world: World) -> None:
    world.cut.cut()
    try:
        done = pay(world, world.bills[1]["id"], "--json")
        assert done.returncode == 0, done.stderr[-2_000:]
        body = json.loads(done.stdout)
        assert (body["status"], body["mode"], body["provisional"]) == ("paid", "offline", True)
        assert "provisional" in body["message"]
        assert body["voucher"]["counter"] == 1
        assert "paid offline: voucher" in done.stderr
        status = agent_status(world)
        assert (status["mode"], status["outbox"]["depth"]) == ("offline", 1)
    finally:
        world.cut.restore()
    # The agent's loop would try again within 10 s; a round now (POST /sync) drains the outbox.
    assert httpx.post(f"{world.agent.url}/sync", timeout=60).status_code == 200
    wait_for(world, lambda s: s["outbox"]["depth"] == 0, 40)
    page = expect(world.site.auditor.request("GET", "/v1/offline-vouchers"), 200)
    (voucher,) = [v for v in page["items"] if v["id"] == body["voucher"]["id"]]
    assert voucher["status"] == "posted"
    read = expect(world.site.cashier.request("GET", f"/v1/bills/{world.bills[1]['id']}"), 200)
    assert read["status"] == "paid"


def test_operator_mistakes_exit_2(world: World, tmp_path: Path) -> None:
    second_factor = pay(world, world.bills[2]["id"], "--last4", "1234")
    assert second_factor.returncode == 2
    assert "second factor" in second_factor.stderr
    card = tmp_path / "card.json"
    card.write_text(json.dumps({k: world.site.person[k] for k in ("id_number", "name", "sex",
                                                                  "birth_date")}))  # fmt: skip
    enrol = run_cli(
        ["kiosk", "--agent", world.agent.url, "enrol", "--card", str(card),
         "--chip-photo", str(world.photo), "--consent-given", "--video", str(world.photo)],
        env={},
    )  # fmt: skip
    assert enrol.returncode == 2
    assert "only `pay` goes through --agent" in enrol.stderr
    gone = run_cli(
        ["kiosk", "--agent", f"http://127.0.0.1:{free_port()}", "pay", "bil_x",
         "--video", str(world.photo)],
        env={},
    )  # fmt: skip
    assert gone.returncode == 2
    assert "cannot reach the terminal agent" in gone.stderr
