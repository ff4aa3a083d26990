"""Staff tokens are only as good as the account behind them, and the data folder is private.

Before: a token whose staff id does not exist, or whose `exp` was 100 years away, was accepted
when signed with the real secret; `facepay.sqlite` (names, ID numbers, phones) was created 0644
in a 0755 folder, and a world-readable data folder was used as it was."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import jwt
from sqlalchemy import create_engine, text
from tests.security.conftest import SECRET, Api

from facepay.bootstrap import build_engine, build_template_sealer
from facepay.config import Settings
from facepay.demo.process import run_cli
from facepay.demo.world import Site


def _forged(site: Site, **claims: object) -> dict[str, str]:
    now = int(time.time())
    body = {"iss": "facepay", "aud": "facepay-staff", "sub": "stf_nobody", "role": "admin",
            "hospital_id": site.hospital_id, "iat": now, "nbf": now, "exp": now + 600,
            "jti": "forged", **claims}  # fmt: skip
    return {"Authorization": f"Bearer {jwt.encode(body, SECRET.encode(), algorithm='HS256')}"}


def test_a_token_for_staff_that_does_not_exist_is_refused(api: Api, site_a: Site) -> None:
    response = api.http.get("/v1/audit/entries", headers=_forged(site_a))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unknown_staff"


def test_a_token_of_a_disabled_account_is_refused_at_once(api: Api, site_a: Site) -> None:
    assert site_a.auditor.request("GET", "/v1/audit/entries").status_code == 200
    token = site_a.auditor._auth["Authorization"].split()[1]
    staff_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    engine = create_engine(api.services.settings.resolved_database_url())
    with engine.begin() as conn:
        conn.execute(text("UPDATE staff_users SET active = false WHERE id = :i"), {"i": staff_id})
    engine.dispose()
    response = site_a.auditor.request("GET", "/v1/audit/entries")
    assert (response.status_code, response.json()["code"]) == (401, "account_disabled")


def test_a_token_naming_another_role_than_the_account_is_refused(api: Api, site_a: Site) -> None:
    token = site_a.cashier._auth["Authorization"].split()[1]
    claims = jwt.decode(token, options={"verify_signature": False}) | {"role": "admin"}
    forged = {"Authorization": f"Bearer {jwt.encode(claims, SECRET.encode(), algorithm='HS256')}"}
    response = api.http.get("/v1/audit/entries", headers=forged)
    assert (response.status_code, response.json()["code"]) == (401, "token_stale")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_is_0700_and_every_file_in_it_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    engine = build_engine(settings)
    with engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM hospitals"))
    build_template_sealer(settings)
    folder = settings.data_dir
    assert _mode(folder) == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert {"facepay.sqlite", "template.key"} <= set(files)
    assert {p.name: _mode(p) for p in folder.iterdir()} == dict.fromkeys(files, 0o600)
    engine.dispose()


def test_serve_refuses_a_world_readable_data_folder_outside_dev(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    os.chmod(folder, 0o755)
    done = run_cli(
        ["serve", "--data", str(folder), "--port", "1"],
        {"FACEPAY_ENVIRONMENT": "production", "FACEPAY_JWT_SECRET": SECRET,
         "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    output = (done.stdout + done.stderr).strip()
    assert "Traceback" not in output
    assert "chmod 700" in output
    assert len(output.splitlines()) <= 2


def test_serve_with_the_wrong_template_key_is_one_sentence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"FACEPAY_ENVIRONMENT": "production", "FACEPAY_JWT_SECRET": SECRET,
           "FACEPAY_OPERATOR_PASSWORD": "operator-pass-2026", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # fmt: skip
    assert run_cli(["admin", "init", "--data", str(data)], env).returncode == 0
    (data / "template.key").write_bytes(bytes(32))
    done = run_cli(["serve", "--data", str(data), "--port", "1"], env, timeout=60)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "is not the key of this database" in output
    assert len(output.splitlines()) <= 2
