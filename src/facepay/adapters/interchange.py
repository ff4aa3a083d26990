"""The interchange formats of INSURANCE.md §3: policy (YAML), bill and person (JSON), settlement.

Pydantic checks shapes and types here; the domain types check how fields relate (bands increasing,
categories consistent). Either failure becomes one `InvalidInput` whose message lists every bad
field by its path, e.g. `lines.0.unit_price: money is whole fen, not 12.5`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from facepay.adapters.interchange_schema import BillIn, PersonIn, PolicyIn
from facepay.insurance.model import Accumulators, Bill, Coverage, Settlement
from facepay.insurance.policies import PolicyBook
from facepay.insurance.policy import Policy
from facepay.shared.errors import InvalidInput

__all__ = [
    "load_bill",
    "load_person",
    "load_policy",
    "parse_bill",
    "parse_person",
    "parse_policy",
    "read_document",
    "settlement_to_json",
    "shipped_policies",
    "shipped_policy_files",
]

_Schema = TypeVar("_Schema", bound=BaseModel)


def read_document(path_or_text: str | Path) -> object:
    """Parse a JSON or YAML document from a file path, or from text that holds it.

    A `Path`, or a one-line string naming an existing file, is read as a file; any other string is
    the document itself.
    """
    text = str(path_or_text)
    if isinstance(path_or_text, Path) or ("\n" not in text and Path(text).is_file()):
        try:
            text = Path(path_or_text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidInput(f"cannot read {path_or_text}: {error}") from None
    try:
        return json.loads(text)
    except ValueError:
        pass  # not JSON: YAML (a superset for our purposes) gets the chance to say why
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidInput(f"not valid JSON or YAML: {error}") from None
    if isinstance(document, str) and "\n" not in text:
        raise InvalidInput(f"no such file, and not a JSON/YAML document: {text!r}")
    return document


def _validate(schema: type[_Schema], obj: object, what: str) -> _Schema:
    if not isinstance(obj, dict):
        raise InvalidInput(
            f"invalid {what}: expected a mapping of fields, got {type(obj).__name__}"
        )
    try:
        return schema.model_validate(obj)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            where = ".".join(str(part) for part in item["loc"]) or "(document)"
            message = str(item["msg"]).removeprefix("Value error, ")
            given = item.get("input")
            if item["type"] != "value_error" and isinstance(given, int | float | str | None):
                message += f" (got {given!r:.40})"
            problems.append(f"{where}: {message}")
        raise InvalidInput(f"invalid {what}: " + "; ".join(problems)) from None


def _to_domain(schema_obj: PolicyIn | BillIn | PersonIn, what: str) -> Any:
    try:
        return schema_obj.to_domain()
    except InvalidInput as error:
        raise InvalidInput(f"invalid {what}: {error.message}") from None


def parse_policy(obj: object) -> Policy:
    """Validate a parsed policy document and build the domain `Policy`."""
    policy: Policy = _to_domain(_validate(PolicyIn, obj, "policy"), "policy")
    return policy


def load_policy(path_or_text: str | Path) -> Policy:
    """Read a policy from a YAML/JSON file or text."""
    return parse_policy(read_document(path_or_text))


def parse_bill(obj: object) -> Bill:
    """Validate a parsed bill document and build the domain `Bill`."""
    bill: Bill = _to_domain(_validate(BillIn, obj, "bill"), "bill")
    return bill


def load_bill(path_or_text: str | Path) -> Bill:
    """Read a bill from a JSON/YAML file or text."""
    return parse_bill(read_document(path_or_text))


def parse_person(obj: object) -> tuple[Coverage, Accumulators]:
    """Validate a parsed person document: their coverage and this year's accumulators."""
    person: tuple[Coverage, Accumulators] = _to_domain(_validate(PersonIn, obj, "person"), "person")
    return person


def load_person(path_or_text: str | Path) -> tuple[Coverage, Accumulators]:
    """Read a person from a JSON/YAML file or text."""
    return parse_person(read_document(path_or_text))


def settlement_to_json(settlement: Settlement) -> dict[str, Any]:
    """The settlement as a JSON-ready dict: national field names, amounts in fen."""
    data = asdict(settlement)
    data["service_date"] = settlement.service_date.isoformat()
    data["explanation"] = [asdict(step) for step in settlement.explanation]
    return data


def shipped_policy_files() -> list[Path]:
    """The example policies shipped in `facepay/policies/*.yaml`."""
    folder = resources.files("facepay") / "policies"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def find_policy(name_or_path: str) -> Policy:
    """A policy file, or a shipped policy by its file name (`employee-2026`) or its id
    (`example-employee-2026`), whatever the working folder."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml", ".json") or len(path.parts) > 1:
        return load_policy(path)
    shipped = {file.stem: file for file in shipped_policy_files()}
    if name_or_path in shipped:
        return load_policy(shipped[name_or_path])
    for file in shipped.values():
        found = load_policy(file)
        if found.id == name_or_path:
            return found
    raise InvalidInput(
        f"no policy file or shipped policy named {name_or_path!r}; shipped: "
        f"{', '.join(sorted(shipped))} (or give a policy file's path)",
        code="unknown_policy",
    )


def shipped_policies() -> PolicyBook:
    """A `PolicyBook` of the shipped example policies (employee and resident, 2026)."""
    return PolicyBook(load_policy(path) for path in shipped_policy_files())
