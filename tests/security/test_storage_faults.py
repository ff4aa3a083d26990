"""Storage faults are 503 with Retry-After, the connection stays open, and the server recovers.

Before, with the data disk full every write - and even signed GETs, whose nonce insert failed -
was a 500 and the connection was dropped. A full disk is a SQLite file whose page count is
capped (`PRAGMA max_page_count`, SQLITE_FULL as on a full disk); an unavailable database is a
PostgreSQL database that stops taking connections and has its sessions terminated.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from tests.security.conftest import OPERATOR, api_settings

from facepay.api.app import create_app
from facepay.bootstrap import build_access, build_engine, build_services, build_unit_of_work
from facepay.client import StaffSession
from facepay.demo.in_thread import fast_passwords, seed_operator, serve_in_thread
from facepay.demo.world import Site, make_site

pytestmark = pytest.mark.slow


def _local_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    port: int = stream.get_extra_info("socket").getsockname()[1]
    return port


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "storage_unavailable"
    assert int(response.headers["retry-after"]) >= 1


@pytest.fixture
def served(
    tmp_path: Path, face_engine: Any, request: pytest.FixtureRequest
) -> Iterator[tuple[Engine, httpx.Client, Site, str | None]]:
    """An API on its own engine (SQLite, or a PostgreSQL database when parametrised)."""
    overrides: dict[str, object] = {}
    url = None
    if getattr(request, "param", "sqlite") == "postgresql":
        url = request.getfixturevalue("create_postgres_database")("facepay_faults_")
        overrides["database_url"] = url
    settings = api_settings(tmp_path / "data", **overrides)
    engine = build_engine(settings)
    uow = build_unit_of_work(settings, engine)
    services = build_services(settings, face_engine=face_engine, uow=uow)
    passwords = fast_passwords()
    seed_operator(services, username=OPERATOR[0], password=OPERATOR[1], passwords=passwords)
    app = create_app(services, build_access(settings, storage=services, passwords=passwords))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        operator = StaffSession.login(http, *OPERATOR)
        yield engine, http, make_site(http, operator, serial=900), url
    engine.dispose()


def _cap_pages(engine: Engine) -> Callable[[int | None], None]:
    """A switch that caps (int) or uncaps (None) the SQLite file's pages on every connection."""
    cap: dict[str, int | None] = {"pages": None}

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection: Any, _: Any) -> None:
        if cap["pages"] is not None:
            dbapi_connection.execute(f"PRAGMA max_page_count={cap['pages']}")

    def switch(pages: int | None) -> None:
        cap["pages"] = pages
        engine.dispose()  # pooled connections reconnect with the new cap

    return switch


def test_a_full_disk_is_503_the_connection_stays_and_the_server_recovers(
    served: tuple[Engine, httpx.Client, Site, str | None],
) -> None:
    engine, http, site, _ = served
    bill = site.post_bill()
    with engine.connect() as conn:
        pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    disk = _cap_pages(engine)
    disk(pages)
    # Fill what free pages are left, then every write is refused.
    responses = [site.cashier.request("POST", "/v1/bills", _body(site)) for _ in range(40)]
    assert responses[-1].status_code == 503
    for response in responses:
        assert response.status_code in (201, 503), response.text
    _unavailable(responses[-1])
    # A signed GET writes its nonce: once the last free page is gone it is refused the same way,
    # on the same connection.
    for _ in range(500):
        first = site.kiosk.request("GET", f"/v1/bills/{bill['id']}")
        if first.status_code != 200:
            break
    again = site.kiosk.request("GET", f"/v1/bills/{bill['id']}")
    _unavailable(first)
    _unavailable(again)
    assert _local_port(first) == _local_port(again), "the server dropped the connection"
    assert http.get("/healthz").status_code in (200, 503)
    disk(None)  # space is freed
    assert site.kiosk.request("GET", f"/v1/bills/{bill['id']}").status_code == 200
    assert site.cashier.request("POST", "/v1/bills", _body(site)).status_code == 201


def _body(site: Site) -> dict[str, Any]:
    return {
        "external_ref": f"HIS-{secrets.token_hex(6)}",
        "id_number": site.person["id_number"],
        "visit_type": "outpatient",
        "hospital_tier": 2,
        "service_date": "2026-11-20",
        "lines": [{"code": f"A{n}", "name": "x" * 120, "item_class": "A", "unit_price": 1000,
                   "quantity": "1"} for n in range(50)],
    }  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize("served", ["postgresql"], indirect=True)
def test_an_unavailable_database_is_503_and_the_server_recovers(
    served: tuple[Engine, httpx.Client, Site, str | None],
    postgres_server_url: str,
) -> None:
    _, http, site, url = served
    assert url is not None
    name = make_url(url).database
    bill = site.post_bill()
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": name},
        )
    try:
        first = site.kiosk.request("GET", f"/v1/bills/{bill['id']}")
        _unavailable(first)
        _unavailable(site.cashier.request("POST", "/v1/bills", _body(site)))
        again = site.kiosk.request("GET", f"/v1/bills/{bill['id']}")
        _unavailable(again)
        assert _local_port(first) == _local_port(again), "the server dropped the connection"
        health = http.get("/healthz")
        assert health.status_code == 503
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert site.kiosk.request("GET", f"/v1/bills/{bill['id']}").status_code == 200
    assert site.cashier.request("POST", "/v1/bills", _body(site)).status_code == 201
