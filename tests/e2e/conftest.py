"""End-to-end: a real uvicorn on 127.0.0.1 over SQLite (a file) and PostgreSQL (a database on the
session's one server, `postgres_server_url` in tests/conftest.py), driven through HTTP only."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from facepay.client import StaffSession, TerminalSession
from facepay.config import Settings
from facepay.demo import kiosk
from facepay.demo.process import OPERATOR_PASSWORD, ServerProcess, serve_process
from facepay.demo.world import Site, make_site, register_person
from facepay.services.context import Services
from facepay.vision.image import load_image
from facepay.vision.liveness.synth.bona_fide import Subject, subjects_from_photo

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


@pytest.fixture(scope="module", params=BACKENDS)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    serve_api: Callable[..., AbstractContextManager[tuple[Any, ...]]],
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
    with serve_api(settings, OPERATOR) as (url, http, app, services, operator):
        yield Api(url, http, app, services, operator, settings)


SERVED_ENV = {
    "FACEPAY_ENVIRONMENT": "test",
    "FACEPAY_JWT_SECRET": "srv-jwt-k3y-" + "Zq8Lw2Xv9Rb4Nm7Kp1Hs6Dc3Fg5Jt0Ay",
    "FACEPAY_GALLERY_BACKEND": "memory",
    "FACEPAY_API_RATE_TERMINAL_PER_SECOND": "500",
    "FACEPAY_API_RATE_TERMINAL_BURST": "500",
}


@dataclass
class Served:
    """A real `facepay serve` process, one hospital with four kiosks, Obama and Biden enrolled
    (people: name -> (card data, camera subject, chip photo file))."""

    server: ServerProcess
    site: Site
    kiosks: list[TerminalSession]
    people: dict[str, tuple[dict[str, Any], Subject, str]]


@pytest.fixture(scope="session")
def served(
    tmp_path_factory: pytest.TempPathFactory, face_engine: Any, images_dir: Path
) -> Iterator[Served]:
    """One server process for the suites that need their own address space (memory, crashes)."""
    folder = tmp_path_factory.mktemp("served") / "data"
    with (
        serve_process(folder, env=SERVED_ENV) as server,
        httpx.Client(base_url=server.url, timeout=180) as http,
    ):
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        site = make_site(http, operator, serial=88)
        kiosks = site.add_kiosks(3)
        biden = register_person(operator, serial=89, name="Joe Biden")

        def subject(file: str) -> Subject:
            return subjects_from_photo(face_engine, load_image(images_dir / file), file, file)[0]

        people = {
            "obama": (site.person, subject("obama2.jpg"), "obama.jpg"),
            "biden": (biden, subject("biden.jpg"), "biden.jpg"),
        }
        for seed, (card, face, chip) in enumerate(people.values()):
            done = kiosk.enrol(site.kiosk, card, load_image(images_dir / chip), face, seed=seed)
            assert done.status_code == 201, done.text
        yield Served(server, site, kiosks, people)
