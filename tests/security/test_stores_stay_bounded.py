"""Stores that only grew: seen request nonces (`purge_nonces` had no caller) and the in-memory
challenge book (every challenge ever issued). The server now expires both on a schedule of its
own: nonces once the signature skew window has passed, challenges after their TTL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.security.conftest import Api, ServeApi, api_settings, running_api

from facepay.demo.world import Site, make_site


@pytest.fixture
def quick_api(tmp_path: Path, serve_api: ServeApi) -> Iterator[Api]:
    """Signatures valid for 3 s (timestamps are whole seconds: 1 s would refuse a request
    that took a moment on a loaded machine), challenges for 2 s, upkeep every 0.2 s."""
    settings = api_settings(
        tmp_path,
        request_max_skew_seconds=3,
        liveness_challenge_ttl_seconds=2.0,
        maintenance_interval_seconds=0.2,
    )
    yield from running_api(settings, serve_api)


def _seen_nonces(api: Api) -> int:
    engine = create_engine(api.services.settings.resolved_database_url())
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM seen_nonces")).scalar_one())
    engine.dispose()
    return count


def _until(condition, seconds: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_nonces_and_challenges_expire_while_the_server_runs(quick_api: Api) -> None:
    site: Site = make_site(quick_api.http, quick_api.operator, serial=601)
    # On a loaded machine 25 requests may take longer than a nonce or a challenge lives, so
    # the test asks that the stores grew, not that all 25 are still there (it flaked at 24).
    held = 0
    for _ in range(25):
        assert site.kiosk.request("POST", "/v1/liveness/challenges").status_code == 201
        held = max(held, len(quick_api.services.challenges))
    assert _seen_nonces(quick_api) >= 1
    assert held >= 2
    assert _until(lambda: _seen_nonces(quick_api) == 0), _seen_nonces(quick_api)
    assert _until(lambda: len(quick_api.services.challenges) == 0)
    # And the server goes on answering signed requests.
    assert site.kiosk.request("POST", "/v1/liveness/challenges").status_code == 201
