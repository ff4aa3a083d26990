"""Audit chains per site, signed checkpoints over all of them, and verification that names the
first bad entry of every chain - on SQLite and PostgreSQL, against a hostile writer who can
change any row but does not hold the checkpoint key."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text, update

from facepay.access.keys import Ed25519CheckpointSigner, Ed25519CheckpointVerifier
from facepay.adapters.db.tables import audit_checkpoints
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import shipped_policies
from facepay.config import Settings
from facepay.services.audit import AuditVerification, verify_audit, write_checkpoint
from facepay.services.context import StorageServices
from facepay.services.ports import StorageBusy
from facepay.shared.clock import SystemClock
from facepay.supervision.audit import canonical_json, entry_hash
from facepay.supervision.audit_checkpoint import heads_json
from facepay.supervision.audit_store import AuditLog

KEY = Ed25519PrivateKey.generate()
SIGNER = Ed25519CheckpointSigner(KEY)
SITES = ("site-a", "site-b", "site-c")


@pytest.fixture
def ctx(engine: Engine, tmp_path) -> StorageServices:
    return StorageServices(
        settings=Settings(data_dir=tmp_path),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=SystemClock(),
    )


def _fill(ctx: StorageServices, per_chain: int = 6) -> None:
    """`per_chain` entries in each site's chain and in the platform's."""
    for i in range(per_chain):
        for site in (*SITES, None):
            details = {"hospital": site, "n": i} if site else {"n": i}
            with ctx.uow() as uow:
                AuditLog(store=uow.audit, clock=ctx.clock).record(
                    actor="staff", action="test.event", subject=f"s{i}", details=details
                )
                uow.commit()


def _verify(ctx: StorageServices, verifier_key: Ed25519PrivateKey = KEY) -> AuditVerification:
    raw_signer = Ed25519CheckpointSigner(verifier_key)
    public = verifier_key.public_key()
    return verify_audit(
        ctx=ctx, verifier=Ed25519CheckpointVerifier(_raw(public)), key_id=raw_signer.key_id
    )


def _raw(public) -> bytes:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def _broken(report: AuditVerification) -> dict[str, tuple[int | None, str | None]]:
    return {c.chain: (c.first_bad_seq, c.problem) for c in report.broken}


def test_checkpoints_anchor_every_chain_and_link_to_each_other(ctx) -> None:
    _fill(ctx, 3)
    first = write_checkpoint(ctx=ctx, signer=SIGNER)
    _fill(ctx, 2)
    second = write_checkpoint(ctx=ctx, signer=SIGNER)
    assert (first.seq, second.seq, second.prev_hash) == (1, 2, first.hash)
    assert set(second.heads) == {*SITES, "platform"}
    assert {h.seq for h in first.heads.values()} == {3}
    assert {h.seq for h in second.heads.values()} == {5}
    report = _verify(ctx)
    assert (report.ok, report.checkpoints_checked, report.entries_checked) == (True, 2, 20)


def test_an_edited_row_in_two_chains_names_the_first_bad_entry_of_each(ctx, engine) -> None:
    _fill(ctx)
    write_checkpoint(ctx=ctx, signer=SIGNER)
    _sql(engine, "UPDATE audit_log SET actor = 'mallory' WHERE chain = 'site-a' AND seq = 4")
    _sql(engine, "UPDATE audit_log SET subject = 'x' WHERE chain = 'platform' AND seq = 2")
    report = _verify(ctx)
    assert not report.ok
    assert _broken(report) == {"site-a": (4, "hash_mismatch"), "platform": (2, "hash_mismatch")}
    assert report.checkpoint_problem is None  # the checkpoints themselves are sound


def test_a_deleted_tail_before_a_checkpoint_is_caught(ctx, engine) -> None:
    _fill(ctx)
    write_checkpoint(ctx=ctx, signer=SIGNER)
    _sql(engine, "DELETE FROM audit_log WHERE chain = 'site-b' AND seq >= 5")
    _sql(engine, "DELETE FROM audit_log WHERE chain = 'site-c'")  # a whole chain
    report = _verify(ctx)
    assert _broken(report) == {"site-b": (5, "truncated"), "site-c": (1, "truncated")}


def _rewrite_tail(engine: Engine, chain: str, from_seq: int) -> None:
    """What someone with write access but no key can do: change entries from `from_seq` on
    and recompute every hash after them, so that the chain verifies on its own."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        entries = list(uow.audit.iterate(chain=chain))
    prev: str | None = None
    with engine.begin() as conn:
        for old in entries:
            actor = old.actor if old.seq < from_seq else "mallory"
            entry = dataclasses.replace(old, actor=actor, prev_hash=prev or old.prev_hash)
            prev = entry_hash(entry)
            conn.execute(
                text(
                    "UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h"
                    " WHERE chain = :c AND seq = :s"
                ),
                {"a": actor, "p": entry.prev_hash, "h": prev, "c": chain, "s": entry.seq},
            )


def test_a_rewritten_and_rehashed_tail_is_caught_by_the_checkpoint(ctx, engine) -> None:
    _fill(ctx, 4)
    write_checkpoint(ctx=ctx, signer=SIGNER)  # anchors seq 4 of every chain
    _fill(ctx, 4)
    write_checkpoint(ctx=ctx, signer=SIGNER)  # anchors seq 8
    _rewrite_tail(engine, "site-a", from_seq=6)
    without_checkpoints = verify_audit(ctx=ctx)
    assert without_checkpoints.ok  # the chain alone cannot tell
    report = _verify(ctx)
    assert _broken(report) == {"site-a": (5, "checkpoint_mismatch")}
    assert "entries 5 to 8 may have been rewritten" in report.broken[0].detail


def test_a_forged_or_altered_checkpoint_is_refused(ctx, engine) -> None:
    _fill(ctx, 2)
    write_checkpoint(ctx=ctx, signer=SIGNER)
    write_checkpoint(ctx=ctx, signer=SIGNER)
    # Mallory rewrites a tail, then "re-signs" checkpoint 2 over the new heads with her key.
    _rewrite_tail(engine, "site-b", from_seq=1)
    with ctx.uow() as uow:
        heads = uow.audit.heads()
        first = next(uow.audit.checkpoints())
    from facepay.supervision.audit_checkpoint import make_checkpoint  # noqa: PLC0415

    mallory = Ed25519CheckpointSigner(Ed25519PrivateKey.generate())
    forged = make_checkpoint(previous=first, at=datetime.now(UTC), heads=heads, signer=mallory)
    honest_id = dataclasses.replace(forged, key_id=SIGNER.key_id)
    for fake, problem in ((forged, "unknown_key"), (honest_id, "hash_mismatch")):
        with engine.begin() as conn:
            conn.execute(
                update(audit_checkpoints)
                .where(audit_checkpoints.c.seq == 2)
                .values(
                    at=fake.at,
                    heads=heads_json(fake.heads),
                    hash=fake.hash,
                    key_id=fake.key_id,
                    signature=fake.signature,
                )
            )
        report = _verify(ctx)
        assert report.checkpoint_problem is not None
        assert (report.checkpoint_problem.seq, report.checkpoint_problem.problem) == (2, problem)
        # Checkpoint 1 still holds: the rewrite from entry 1 on is caught through it.
        assert _broken(report) == {"site-b": (1, "checkpoint_mismatch")}
    # Only the signature is changed: a valid signature of another message.
    _sql(engine, "UPDATE audit_checkpoints SET signature = :s WHERE seq = 1", s=forged.signature)
    report = _verify(ctx)
    assert report.checkpoint_problem is not None
    assert (report.checkpoint_problem.seq, report.checkpoint_problem.problem) == (
        1,
        "bad_signature",
    )


def test_a_deleted_middle_checkpoint_breaks_the_checkpoint_chain(ctx, engine) -> None:
    _fill(ctx, 1)
    for _ in range(3):
        write_checkpoint(ctx=ctx, signer=SIGNER)
    _sql(engine, "DELETE FROM audit_checkpoints WHERE seq = 2")
    report = _verify(ctx)
    assert report.checkpoint_problem is not None
    assert (report.checkpoint_problem.seq, report.checkpoint_problem.problem) == (3, "bad_seq")
    assert report.checkpoints_checked == 2


def test_canonical_heads_are_what_is_signed(ctx) -> None:
    _fill(ctx, 1)
    made = write_checkpoint(ctx=ctx, signer=SIGNER)
    text_heads = heads_json(made.heads)
    assert (
        text_heads
        == canonical_json(
            [{"chain": c, "seq": h.seq, "hash": h.hash} for c, h in sorted(made.heads.items())]
        ).decode()
    )


# --- Sites never wait for each other ----------------------------------------------------------


def _append(engine: Engine, site: str, **options: int) -> None:
    with SqlAlchemyUnitOfWork(engine, **options) as uow:
        AuditLog(store=uow.audit, clock=SystemClock()).record(
            actor="kiosk", action="test.event", subject="x", details={"hospital": site}
        )
        uow.commit()


def test_a_site_appends_while_another_site_holds_its_chain_open(ctx, engine) -> None:
    """Site A's transaction appends to its chain and stays open. On PostgreSQL site B's append
    and a checkpoint complete meanwhile, and only a second writer of site A waits; SQLite admits
    one writer at a time, so there site B waits too."""
    holding, release = threading.Event(), threading.Event()

    def site_a() -> None:
        with SqlAlchemyUnitOfWork(engine) as uow:
            AuditLog(store=uow.audit, clock=ctx.clock).record(
                actor="kiosk", action="test.event", subject="held", details={"hospital": "site-a"}
            )
            holding.set()
            release.wait(30)
            uow.commit()

    holder = threading.Thread(target=site_a)
    holder.start()
    try:
        assert holding.wait(10)
        if engine.dialect.name == "postgresql":
            began = time.perf_counter()
            _append(engine, "site-b", lock_timeout_ms=5_000)
            write_checkpoint(ctx=ctx, signer=SIGNER)
            assert time.perf_counter() - began < 2.0
            assert holder.is_alive()  # site A's transaction is still open
            with pytest.raises(StorageBusy):
                _append(engine, "site-a", lock_timeout_ms=300)
        else:
            with pytest.raises(StorageBusy):
                _append(engine, "site-b", lock_timeout_ms=300)
    finally:
        release.set()
        holder.join(30)
    _append(engine, "site-a")
    report = _verify(ctx)
    assert report.ok, report
    with ctx.uow() as uow:
        heads = uow.audit.heads()
    assert heads["site-a"].seq == 2


def test_eight_sites_appending_at_once_keep_every_chain_sound(ctx, engine) -> None:
    sites = [f"site-{n}" for n in range(8)]
    start = threading.Barrier(len(sites))

    def worker(site: str) -> None:
        start.wait()
        for _ in range(10):
            _append(engine, site)
            if site == "site-0":
                write_checkpoint(ctx=ctx, signer=SIGNER)

    threads = [threading.Thread(target=worker, args=(s,)) for s in sites]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    report = _verify(ctx)
    assert (report.ok, report.entries_checked, report.checkpoints_checked) == (True, 80, 10)
