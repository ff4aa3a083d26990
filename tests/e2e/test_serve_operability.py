"""What a hospital engineer sees of a running `facepay serve`: the start-up banner, and a request
id on every response and on every log line of that request, with the caller and client address."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from tests.e2e.conftest import Served

from facepay import __version__
from facepay.client import StaffSession
from facepay.commands.serve import banner
from facepay.config import Settings
from facepay.demo.process import OPERATOR_PASSWORD

VERIFY = "/v1/audit/verification"


def _log_lines(served: Served) -> list[dict[str, Any]]:
    lines = []
    for line in served.server.log_file.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _banner(served: Served) -> str:
    text = served.server.log_file.read_text(errors="replace")
    return "\n".join(line for line in text.splitlines() if not line.startswith("{"))


def test_the_banner_names_version_folder_database_environment_workers_and_address(
    served: Served,
) -> None:
    banner = _banner(served)
    assert f"facepay {__version__}" in banner
    assert f"data folder   {served.server.data_dir.resolve()}" in banner
    assert f"database      sqlite:///{served.server.data_dir}" in banner
    assert "environment   test" in banner
    workers = r"workers +1 process; \d+ face detector\(s\), \d+ capture\(s\) at once"
    assert re.search(workers, banner)
    assert f"listening on  {served.server.url}" in banner
    assert "warning" not in banner  # not dev, and FACEPAY_JWT_SECRET is set


def test_the_banner_warns_about_the_dev_environment() -> None:
    dev = banner(Settings(environment="dev"), host="127.0.0.1", port=8000)
    assert any("dev environment: liveness refusals show their checks" in line for line in dev)
    assert any("without FACEPAY_JWT_SECRET" in line for line in dev)
    secret = "b4nner-" + "Hq7Vb2Nc9Xz4Lm8Kw1Rt6Ys3Df5Gp0Ju"
    production = Settings(environment="production", jwt_secret=secret)
    assert not any("warning" in line for line in banner(production, host="h", port=1))
    masked = Settings(database_url="postgresql+psycopg://u:s3cret@db/facepay")
    assert "postgresql+psycopg://u:***@db/facepay" in "\n".join(banner(masked, host="h", port=1))


def test_a_request_id_is_returned_and_generated_when_missing_or_unfit(served: Served) -> None:
    with httpx.Client(base_url=served.server.url) as http:
        given = http.get("/healthz", headers={"X-Request-ID": "his-4711.a"})
        assert given.headers["x-request-id"] == "his-4711.a"
        for unfit in ("x" * 65, "has space", "<script>"):
            made = http.get("/healthz", headers={"X-Request-ID": unfit})
            assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"]), unfit
        first, second = http.get("/healthz"), http.get("/healthz")
        assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_every_log_line_of_a_request_names_its_id_caller_and_client(served: Served) -> None:
    with httpx.Client(base_url=served.server.url, timeout=60) as http:
        operator = StaffSession.login(http, "operator", OPERATOR_PASSWORD)
        done = operator.request("GET", VERIFY, headers={"X-Request-ID": "trace-staff-1"})
        assert done.status_code == 200, done.text
        refused = http.get(VERIFY, headers={"X-Request-ID": "trace-anon-1"})
        assert refused.status_code == 401
    lines: list[dict[str, Any]] = []
    for _ in range(50):  # the server writes its line as the response goes out
        lines = [line for line in _log_lines(served) if line.get("request_id") == "trace-staff-1"]
        if lines:
            break
        time.sleep(0.1)
    assert lines, "no log line carries the request id"
    for line in lines:
        assert line["client"] == "127.0.0.1"
        assert line["caller"].startswith("staff:stf_")
    assert any(line["event"] == "http_request" and line["status"] == 200 for line in lines)
    anonymous = [line for line in _log_lines(served) if line.get("request_id") == "trace-anon-1"]
    assert anonymous
    assert all("caller" not in line for line in anonymous)
    # The fixture's enrolments were made by a signed kiosk: their lines name the terminal.
    kiosk = served.site.kiosk.terminal_id
    assert any(line.get("caller") == f"terminal:{kiosk}" for line in _log_lines(served))
