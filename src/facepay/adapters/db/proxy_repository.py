"""Proxy grants on SQLAlchemy Core (table `proxy_grants`, migration 0014)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from facepay.adapters.db.ledger_repository import utc
from facepay.adapters.db.tables import proxy_grants
from facepay.hospital.proxies import Basis, ProxyAct, ProxyGrant, Relation
from facepay.shared.errors import Conflict

__all__ = ["SqlAlchemyProxyRepository"]


class SqlAlchemyProxyRepository:
    """Grants, found by id, by the two persons, or by patient."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, grant: ProxyGrant) -> None:
        """Insert; Conflict `proxy_already_granted` when the pair has an unrevoked grant (the
        partial unique index decides, so two concurrent registrations make one grant)."""
        statement = insert(proxy_grants).values(
            id=grant.id,
            patient_id=grant.patient_id,
            proxy_id=grant.proxy_id,
            relation=grant.relation,
            basis=grant.basis,
            acts=",".join(sorted(grant.acts)),
            valid_from=grant.valid_from,
            valid_until=grant.valid_until,
            hospital_id=grant.hospital_id,
            created_by=grant.created_by,
            evidence_ref=grant.evidence_ref,
            revoked_at=grant.revoked_at,
            revoked_by=grant.revoked_by,
        )
        refused = False
        try:
            with self._c.begin_nested():
                self._c.execute(statement)
        except IntegrityError:
            refused = True
        if refused:  # raised outside the except: see SqlAlchemyInpatientRepository._refused
            raise Conflict(
                "this proxy already acts for the patient: revoke that grant first",
                code="proxy_already_granted",
            )

    def get(self, grant_id: str) -> ProxyGrant | None:
        """By id."""
        row = self._c.execute(select(proxy_grants).where(proxy_grants.c.id == grant_id))
        found = row.mappings().first()
        return _grant(found) if found else None

    def between(self, patient_id: str, proxy_id: str) -> list[ProxyGrant]:
        """The grants of this pair."""
        t = proxy_grants
        query = select(t).where(t.c.patient_id == patient_id, t.c.proxy_id == proxy_id)
        return [_grant(r) for r in self._c.execute(query.order_by(t.c.valid_from)).mappings()]

    def of_patient(self, patient_id: str) -> list[ProxyGrant]:
        """Every grant for the patient, oldest first."""
        t = proxy_grants
        query = select(t).where(t.c.patient_id == patient_id).order_by(t.c.valid_from, t.c.id)
        return [_grant(r) for r in self._c.execute(query).mappings()]

    def revoke(self, grant_id: str, *, at: datetime, by: str) -> None:
        """Mark revoked (once: a revoked grant keeps its first revocation)."""
        t = proxy_grants
        self._c.execute(
            update(t)
            .where(t.c.id == grant_id, t.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by)
        )


def _grant(row: RowMapping) -> ProxyGrant:
    return ProxyGrant(
        id=row["id"],
        patient_id=row["patient_id"],
        proxy_id=row["proxy_id"],
        relation=cast(Relation, row["relation"]),
        basis=cast(Basis, row["basis"]),
        acts=frozenset(cast(ProxyAct, a) for a in row["acts"].split(",") if a),
        valid_from=utc(row["valid_from"]),
        valid_until=utc(row["valid_until"]),
        hospital_id=row["hospital_id"],
        created_by=row["created_by"],
        evidence_ref=row["evidence_ref"],
        revoked_at=utc(row["revoked_at"]) if row["revoked_at"] else None,
        revoked_by=row["revoked_by"],
    )
