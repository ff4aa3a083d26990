"""End-to-end: a real uvicorn on 127.0.0.1 over SQLite (a file) and PostgreSQL (a database on the
session's one server, `postgres_server_url` in tests/conftest.py), driven through HTTP only."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from facepay.config import Settings
from facepay.demo.client import StaffSession
from facepay.services.context import Services

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
