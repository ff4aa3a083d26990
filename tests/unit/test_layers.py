"""Imports run down the layers only: every `facepay` import of every module under src/facepay,
read with `ast` (imports inside functions and under TYPE_CHECKING count too), is checked
against the layer table below. A failure lists each offending import as file:line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "facepay"

SHARED, DOMAIN, SERVICES, ADAPTERS, API, ROOT, CLIENTS = range(7)
NAMES = ("shared", "domain", "services", "adapters", "api", "bootstrap", "clients")
LAYERS: dict[str, int] = {
    "facepay": SHARED,  # the package itself holds only __version__
    "facepay.shared": SHARED,
    "facepay.identity": DOMAIN,
    "facepay.insurance": DOMAIN,
    "facepay.ledger": DOMAIN,
    "facepay.hospital": DOMAIN,
    "facepay.supervision": DOMAIN,
    "facepay.vision": DOMAIN,
    "facepay.gallery": DOMAIN,
    "facepay.access": DOMAIN,
    "facepay.policies": DOMAIN,
    "facepay.terminal": DOMAIN,  # the terminal's signing and capture: domain code only
    "facepay.config": SERVICES,  # the settings class: read by use cases, never by the domain
    "facepay.services": SERVICES,
    "facepay.adapters": ADAPTERS,
    "facepay.api": API,
    "facepay.bootstrap": ROOT,  # may import anything below the command line
    "facepay.client": CLIENTS,  # the HTTP client of terminals and staff
    "facepay.terminal.kiosk": CLIENTS,  # a complete kiosk on facepay.client
    # The terminal agent (`facepay terminal run`): an HTTP client of the server with its own
    # store, local API and edge vision; it reuses the vision, insurance and interchange code.
    "facepay.terminal.agent": CLIENTS,
    "facepay.terminal.agent_kiosk": CLIENTS,  # a kiosk on the agent's local API
    "facepay.cli": CLIENTS,
    "facepay.commands": CLIENTS,
    "facepay.demo": CLIENTS,
}
_BACKUP = (
    "backup and restore copy the database and the key files themselves (a snapshot of whichever"
    " database, the Alembic revision, the tables, the key files): an operation on the storage's"
    " own format, which no port of the use cases describes"
)
_ROTATION = "key rotation writes and renames the template key files of adapters.crypto in place"
ALLOWED: dict[tuple[str, str], str] = {
    # (importing module, imported module): why this upward import is right.
    ("facepay.services.backup", "facepay.adapters.crypto"): _BACKUP,
    ("facepay.services.backup", "facepay.adapters.data_dir"): _BACKUP,
    ("facepay.services.backup", "facepay.adapters.db.migrate"): _BACKUP,
    ("facepay.services.backup", "facepay.adapters.db.snapshot"): _BACKUP,
    ("facepay.services.backup", "facepay.adapters.db.tables"): _BACKUP,
    ("facepay.services.key_rotation", "facepay.adapters.crypto"): _ROTATION,
}


def layer_of(module: str) -> int:
    """The layer of `module`: that of its longest prefix in LAYERS."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        layer = LAYERS.get(".".join(parts[:end]))
        if layer is not None:
            return layer
    raise KeyError(f"{module} is in no layer: add its package to LAYERS")


def module_name(path: Path) -> str:
    """`facepay.x.y` for src/facepay/x/y.py (and src/facepay/x/__init__.py is `facepay.x`)."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every facepay import in the file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from facepay import x` imports the module facepay.x when there is one.
            found += [(node.lineno, _target(base, alias.name)) for alias in node.names]
    # `from x import a, b` is one import of x, reported once.
    return sorted({(line, module) for line, module in found if module.split(".")[0] == "facepay"})


def _target(base: str, name: str) -> str:
    candidate = f"{base}.{name}"
    folder = SRC.joinpath(*candidate.split("."))
    return candidate if folder.is_dir() or folder.with_suffix(".py").is_file() else base


def upward_imports(root: Path = PACKAGE) -> list[str]:
    """Every import from a lower layer to a higher one under `root`, as `file:line: ...`."""
    bad: list[str] = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path)
        own = layer_of(importer)
        for line, imported in imports(path):
            theirs = layer_of(imported)
            if theirs > own and (importer, imported) not in ALLOWED:
                where = path.relative_to(SRC.parent)
                bad.append(
                    f"{where}:{line}: {importer} ({NAMES[own]}) imports {imported} "
                    f"({NAMES[theirs]})"
                )
    return bad


def test_no_import_runs_up_the_layers() -> None:
    bad = upward_imports()
    assert not bad, "imports that run up the layers:\n" + "\n".join(bad)


def test_every_module_has_a_layer() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path))


def test_every_allowed_exception_is_still_needed() -> None:
    present = {
        (module_name(path), imported)
        for path in PACKAGE.rglob("*.py")
        for _, imported in imports(path)
    }
    assert not set(ALLOWED) - present, "remove the exceptions no module needs any more"


def test_an_upward_import_is_reported_with_its_place(tmp_path: Path) -> None:
    """The check itself: a domain module importing the API is caught, with file and line."""
    fake = tmp_path / "src" / "facepay"
    (fake / "ledger").mkdir(parents=True)
    (fake / "ledger" / "bad.py").write_text(
        "from facepay.shared import money\nfrom facepay.api import deps\n", encoding="utf-8"
    )
    global SRC  # noqa: PLW0603 - point the module's helpers at the fake tree for this test
    real, SRC = SRC, tmp_path / "src"
    try:
        bad = upward_imports(fake)
    finally:
        SRC = real
    assert bad == ["src/facepay/ledger/bad.py:2: facepay.ledger.bad (domain) imports facepay.api"
                   " (api)"]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("facepay.access.rbac", DOMAIN),
        ("facepay.terminal.signing", DOMAIN),
        ("facepay.terminal.kiosk", CLIENTS),
        ("facepay.adapters.db.security_ports", ADAPTERS),
    ],
)
def test_layer_of_takes_the_longest_prefix(module: str, layer: int) -> None:
    assert layer_of(module) == layer
