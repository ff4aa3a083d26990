"""The offline package checked and opened: signed limits, the sealed library, the pinned key.

The server's Ed25519 key is pinned on first use (kept in the store); a package signed by another
key is refused, as is limits of another terminal or a library whose SHA-256 or version is not
the one the signed limits name. The library is opened into memory only: its templates become a
matrix of unit vectors for 1:N, its bills and policies the domain's `Bill` and `PolicyBook`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from numpy.typing import NDArray

from facepay.adapters.interchange import parse_bill, parse_policy
from facepay.insurance.model import Accumulators, Bill
from facepay.insurance.policies import PolicyBook
from facepay.shared.errors import InvalidInput
from facepay.terminal.protocol import (
    LIBRARY_KIND,
    LIMITS_KIND,
    OfflineLimits,
    digest,
    library_context,
    open_document,
    open_sealed,
    unb64,
)


@dataclass(frozen=True)
class SignedLimits:
    """The limits document's payload, checked, and the signed document as received."""

    version: str
    terminal_id: str
    hospital_id: str
    issued_at: datetime
    limits: OfflineLimits
    deny: frozenset[str]
    library_version: str | None
    library_sha256: str | None
    model_version: str
    match_threshold: int
    margin: int
    face_pay_limit_fen: int
    signed: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class LibraryBill:
    """An open bill of the library: its total and its lines, as the settlement reads them."""

    bill_id: str
    total_fen: int
    bill: Bill


@dataclass(frozen=True)
class LibraryPerson:
    """One patient the site may see offline (masked name, templates, standing, open bills)."""

    person_id: str
    display_name: str
    category: str
    medical_assistance: bool
    accumulators: Accumulators
    account_available_fen: int
    bills: dict[str, LibraryBill]


@dataclass(frozen=True)
class Library:
    """The opened library: persons, policies, and the templates as one matrix for 1:N."""

    version: str
    issued_at: datetime
    persons: dict[str, LibraryPerson]
    policies: PolicyBook
    matrix: NDArray[np.float32] = field(repr=False)
    template_ids: tuple[str, ...]
    owners: tuple[str, ...]
    """The person of each matrix row."""

    def person_of_bill(self, bill_id: str) -> LibraryPerson | None:
        """The person whose open bill this is."""
        for person in self.persons.values():
            if bill_id in person.bills:
                return person
        return None


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, code="offline_package_bad")


def open_limits(signed: object, server_key: bytes, *, terminal_id: str) -> SignedLimits:
    """The limits, after checking the signature (with the pinned key) and that they are this
    terminal's."""
    payload, _ = open_document(signed, server_key, kind=LIMITS_KIND)
    assert isinstance(signed, dict)
    try:
        face = payload["face"]
        limits = SignedLimits(
            version=str(payload["version"]),
            terminal_id=str(payload["terminal_id"]),
            hospital_id=str(payload["hospital_id"]),
            issued_at=datetime.fromisoformat(payload["issued_at"]),
            limits=OfflineLimits.from_json(payload["limits"]),
            deny=frozenset(str(p) for p in payload["deny"]),
            library_version=payload["library_version"],
            library_sha256=payload["library_sha256"],
            model_version=str(face["model_version"]),
            match_threshold=int(face["match_threshold"]),
            margin=int(face["margin"]),
            face_pay_limit_fen=int(payload["face_pay_limit_fen"]),
            signed=dict(signed),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise _bad(f"the offline limits are malformed: {error}") from None
    if limits.terminal_id != terminal_id:
        raise _bad(f"the offline limits are for terminal {limits.terminal_id}, not {terminal_id}")
    if limits.issued_at.tzinfo is None:
        raise _bad("the offline limits' issued_at has no time zone")
    return limits


def check_library(limits: SignedLimits, version: str | None, sealed: bytes | None) -> None:
    """The library is the one the signed limits name (version and SHA-256 of the sealed bytes)."""
    if sealed is None:
        return
    if version != limits.library_version or digest(sealed) != limits.library_sha256:
        raise _bad("the offline library is not the one the signed limits name")


def open_library(
    sealed: bytes, key: X25519PrivateKey, *, limits: SignedLimits, model_version: str
) -> Library:
    """Open the sealed library into memory; only templates of `model_version` (the local face
    model, which must be the limits' model) are kept for 1:N."""
    version = limits.library_version
    if version is None:
        raise _bad("the signed limits name no library")
    check_library(limits, version, sealed)
    plain = open_sealed(key, sealed, context=library_context(limits.terminal_id, version))
    try:
        return _parse(_json(plain), limits=limits, model_version=model_version)
    except (KeyError, TypeError, ValueError) as error:
        raise _bad(f"the offline library is malformed: {error}") from None


def _json(plain: bytes) -> dict[str, Any]:
    data = json.loads(plain)
    if not isinstance(data, dict) or data.get("kind") != LIBRARY_KIND:
        raise _bad("the sealed document is not an offline library")
    return data


def _parse(data: dict[str, Any], *, limits: SignedLimits, model_version: str) -> Library:
    if data["version"] != limits.library_version or data["terminal_id"] != limits.terminal_id:
        raise _bad("the offline library's version or terminal differs from its limits")
    policies = PolicyBook(parse_policy(item["document"]) for item in data["policies"])
    persons: dict[str, LibraryPerson] = {}
    vectors: list[NDArray[np.float32]] = []
    template_ids: list[str] = []
    owners: list[str] = []
    for item in data["persons"]:
        person_id = str(item["person_id"])
        bills = {
            str(b["bill_id"]): LibraryBill(
                str(b["bill_id"]), int(b["total_fen"]), parse_bill(b["bill"])
            )
            for b in item["bills"]
        }
        persons[person_id] = LibraryPerson(
            person_id=person_id,
            display_name=str(item["display_name"]),
            category=str(item["category"]),
            medical_assistance=bool(item["medical_assistance"]),
            accumulators=Accumulators(**item["accumulators"]),
            account_available_fen=int(item["account_available_fen"]),
            bills=bills,
        )
        for template in item["templates"]:
            if template["model_version"] != model_version:
                continue
            vector = np.frombuffer(unb64(template["embedding"], "embedding"), dtype="<f4")
            norm = float(np.linalg.norm(vector))
            if not norm or not np.isfinite(norm):
                continue
            vectors.append((vector / norm).astype(np.float32))
            template_ids.append(str(template["template_id"]))
            owners.append(person_id)
    dims = {v.shape[0] for v in vectors}
    if len(dims) > 1:
        raise _bad("the offline library's templates have different lengths")
    matrix = np.vstack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
    return Library(
        version=str(data["version"]),
        issued_at=datetime.fromisoformat(data["issued_at"]),
        persons=persons,
        policies=policies,
        matrix=matrix,
        template_ids=tuple(template_ids),
        owners=tuple(owners),
    )
