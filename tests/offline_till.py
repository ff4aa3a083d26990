"""A terminal's side of offline payment for the server's tests: its keys, the package it opens,
and the chained vouchers it signs (with facepay.terminal.protocol, as the agent does)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from facepay.terminal import protocol


@dataclass
class Till:
    """One terminal: its signing key, its sealing key, its counter and chain head."""

    terminal_id: str
    hospital_id: str
    key: Ed25519PrivateKey
    sealing: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    counter: int = 0
    prev_hash: str = protocol.GENESIS
    limits: dict[str, Any] = field(default_factory=dict)
    library: dict[str, Any] = field(default_factory=dict)

    @property
    def sealing_public(self) -> bytes:
        """The raw X25519 public key the server seals to."""
        return protocol.x25519_public_raw(self.sealing)

    def load(self, signed_limits: dict[str, str], server_key: bytes, sealed: bytes | None) -> None:
        """Check the limits' signature and open the library, as the agent does."""
        payload, _ = protocol.open_document(signed_limits, server_key, kind=protocol.LIMITS_KIND)
        self.limits = payload
        self.library = {}
        if sealed is not None:
            assert protocol.digest(sealed) == payload["library_sha256"]
            context = protocol.library_context(self.terminal_id, payload["library_version"])
            self.library = json.loads(protocol.open_sealed(self.sealing, sealed, context=context))

    def person(self, person_id: str) -> dict[str, Any]:
        """A person of the opened library."""
        return next(p for p in self.library["persons"] if p["person_id"] == person_id)

    def pay(
        self,
        *,
        person_id: str,
        bill_id: str,
        total_fen: int,
        cash_fen: int,
        score: int = 990_000,
        live: bool = True,
        template_id: str | None = None,
        created_at: datetime | None = None,
        chain: bool = True,
        signer: Ed25519PrivateKey | None = None,
        counter: int | None = None,
        prev_hash: str | None = None,
    ) -> dict[str, str]:
        """Sign the next voucher (`chain` False: without moving the counter and chain head)."""
        template = template_id or self.person(person_id)["templates"][0]["template_id"]
        voucher = protocol.Voucher(
            id=protocol.uuid7(),
            terminal_id=self.terminal_id,
            hospital_id=self.hospital_id,
            counter=counter if counter is not None else self.counter + 1,
            prev_hash=prev_hash if prev_hash is not None else self.prev_hash,
            created_at=(created_at or datetime.now(UTC)).isoformat(),
            limits_version=self.limits["version"],
            library_version=self.limits["library_version"],
            bill_id=bill_id,
            bill_total_fen=total_fen,
            person_id=person_id,
            evidence={
                "method": "face",
                "template_id": template,
                "score": score,
                "runner_up_score": None,
                "liveness": {"passed": live, "steps": ["blink"], "checks": {"blink": 990_000}},
                "frames": 8,
            },
            provisional={"psn_cash_pay": cash_fen},
            cash_collected_fen=cash_fen,
        )
        signed, digest = protocol.sign_voucher(signer or self.key, voucher)
        if chain:
            self.counter, self.prev_hash = voucher.counter, digest
        return signed


def b64(data: bytes) -> str:
    """Standard base64."""
    return base64.b64encode(data).decode("ascii")
