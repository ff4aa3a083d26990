"""End-to-end: a real uvicorn on 127.0.0.1 over SQLite (a file) and PostgreSQL (a database on the
session's one server, `postgres_server_url` in tests/conftest.py), driven through HTTP only."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from facepay.api.app import create_app
from facepay.bootstrap import build_engine, build_face_engine
from facepay.config import Settings
from facepay.demo.client import StaffSession
from facepay.demo.local import fast_passwords, seed_operator, serve_in_thread, stored_services
from facepay.services.context import Services
from facepay.vision.dlib_engine import DlibFaceEngine

SECRET = "e2e-jwt-k3y-" + "Hq7Vb2Nc9Xz4Lm8Kw1Rt6Ys3Df5Gp0Ju"
OPERATOR = ("operator", "operator-pass-2026")
SERIALS = itertools.count(500)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass
class Api:
    """A running API over one database."""

    url: str
    http: httpx.Client
    app: FastAPI
    services: Services
    operator: StaffSession
    settings: Settings


@pytest.fixture(scope="session")
def face_engine() -> DlibFaceEngine:
    """The real dlib engine, loaded once."""
    return build_face_engine(Settings())


@pytest.fixture(scope="module", params=BACKENDS)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    face_engine: DlibFaceEngine,
) -> Iterator[Api]:
    """One API per module and backend."""
    data_dir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    values: dict[str, object] = {
        "data_dir": data_dir,
        "environment": "test",
        "jwt_secret": SECRET,
        "api_rate_terminal_per_second": 500.0,
        "api_rate_terminal_burst": 500,
        "api_rate_staff_per_second": 500.0,
        "api_rate_staff_burst": 500,
    }
    if request.param == "postgresql":
        create_database = request.getfixturevalue("create_postgres_database")
        values["database_url"] = create_database("facepay_e2e_")
    settings = Settings(**values)  # type: ignore[arg-type]
    database = build_engine(settings)
    services = stored_services(settings, face_engine, database=database)
    passwords = fast_passwords()
    seed_operator(services, username=OPERATOR[0], password=OPERATOR[1], passwords=passwords)
    app = create_app(services, passwords=passwords)
    try:
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as http:
            yield Api(url, http, app, services, StaffSession.login(http, *OPERATOR), settings)
    finally:
        database.dispose()
