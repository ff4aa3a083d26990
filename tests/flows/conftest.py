"""The hospital flows over HTTP: a real uvicorn on SQLite and one on PostgreSQL, shared by every
flow module of a test process (each module onboards its own two hospitals, so nothing one module
does is seen by another: the tenancy the tests check is also what isolates them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.security.conftest import BACKENDS, SERIALS, Api, ServeApi, api_on

from facepay.demo.world import Site, make_site

__all__ = ["Api", "api", "site_a", "site_b"]


@pytest.fixture(scope="session", params=BACKENDS)
def api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    serve_api: ServeApi,
) -> Iterator[Api]:
    """One API per test process and database."""
    yield from api_on(request, tmp_path_factory, serve_api, prefix="facepay_flows_")


@pytest.fixture(scope="module")
def site_a(api: Api) -> Site:
    """Hospital A of this module."""
    return make_site(api.http, api.operator, serial=next(SERIALS))


@pytest.fixture(scope="module")
def site_b(api: Api) -> Site:
    """Hospital B of this module."""
    return make_site(api.http, api.operator, serial=next(SERIALS))
