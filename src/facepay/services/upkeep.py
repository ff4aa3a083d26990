"""Upkeep the server runs on a schedule of its own (facepay.api.app's lifespan): forget what
has expired, so that no store grows without end.

- seen request nonces, once the signature skew window that could replay them has passed;
- liveness challenges after their TTL, and redeemed nonces once their challenge expired;
- ledger holds past their expiry, voided;
- rate-limit buckets nobody used for an hour (refilled long since: they carry nothing).
- what payments added to the shared ledger accounts, folded into their rows.

Every step is idempotent and safe on several server processes at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from facepay.ledger.corrections import expire_holds
from facepay.services.context import Services
from facepay.services.ledger import roll_up_balances

IDLE_BUCKET_SECONDS = 3600.0


@dataclass(frozen=True)
class Upkeep:
    """What one round of upkeep removed."""

    nonces: int
    challenges: int
    holds: int
    buckets: int = 0
    balances: int = 0


def run_upkeep(*, ctx: Services) -> Upkeep:
    """One round: purge expired nonces, challenges and idle buckets, void expired holds, fold
    the payments' additions into the shared accounts' rows."""
    now = ctx.clock.now()
    challenges = ctx.challenges.purge(now=now)
    with ctx.uow() as uow:
        nonces = uow.tenants.purge_nonces(now=now)
        holds = expire_holds(repo=uow.ledger, now=now)
        buckets = uow.shared.purge_buckets(before=time.time() - IDLE_BUCKET_SECONDS)
        uow.commit()
    balances = roll_up_balances(uow=ctx.uow())
    return Upkeep(
        nonces=nonces, challenges=challenges, holds=len(holds), buckets=buckets, balances=balances
    )
