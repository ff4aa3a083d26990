"""Proxy grants in memory, for the use-case tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from facepay.hospital.proxies import ProxyGrant
from facepay.shared.errors import Conflict


class InMemoryProxyRepository:
    """Grants in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, ProxyGrant] = {}

    def add(self, grant: ProxyGrant) -> None:
        """Store; one unrevoked grant per pair, as the database's unique index rules."""
        pair = (grant.patient_id, grant.proxy_id)
        if any(
            (g.patient_id, g.proxy_id) == pair and g.revoked_at is None for g in self.rows.values()
        ):
            raise Conflict(
                "this proxy already acts for the patient: revoke that grant first",
                code="proxy_already_granted",
            )
        self.rows[grant.id] = grant

    def get(self, grant_id: str) -> ProxyGrant | None:
        """By id."""
        return self.rows.get(grant_id)

    def between(self, patient_id: str, proxy_id: str) -> list[ProxyGrant]:
        """The grants of this pair."""
        pair = (patient_id, proxy_id)
        return [g for g in self.of_patient(patient_id) if (g.patient_id, g.proxy_id) == pair]

    def of_patient(self, patient_id: str) -> list[ProxyGrant]:
        """Oldest first."""
        mine = [g for g in self.rows.values() if g.patient_id == patient_id]
        return sorted(mine, key=lambda g: (g.valid_from, g.id))

    def revoke(self, grant_id: str, *, at: datetime, by: str) -> None:
        """Mark revoked, once."""
        grant = self.rows[grant_id]
        if grant.revoked_at is None:
            self.rows[grant_id] = replace(grant, revoked_at=at, revoked_by=by)
