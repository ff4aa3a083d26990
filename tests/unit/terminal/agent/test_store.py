"""The agent's store: private, durable across reopening, one chain, a full disk refused whole."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.shared.errors import ConfigurationError
from facepay.terminal.agent.store import FILE_NAME, AgentStore, NewVoucher, StoreFull
from facepay.terminal.protocol import (
    GENESIS,
    Voucher,
    ed25519_public_raw,
    open_voucher,
    sign_voucher,
    uuid7,
)

KEY = Ed25519PrivateKey.generate()


def builder(person: str = "per_a", bill: str = "bil_1", amount: int = 1_000):
    def build(counter: int, prev_hash: str) -> NewVoucher:
        voucher = Voucher(
            id=uuid7(), terminal_id="trm_1", hospital_id="hsp_1", counter=counter,
            prev_hash=prev_hash, created_at="2026-03-01T08:00:00+00:00", limits_version="l1",
            library_version="v1", bill_id=bill, bill_total_fen=amount, person_id=person,
            evidence={}, provisional={}, cash_collected_fen=amount // 2,
        )  # fmt: skip
        signed, digest = sign_voucher(KEY, voucher)
        deltas = {"year": 2026, "outpatient_eligible": amount}
        return NewVoucher(
            signed, digest, voucher.id, voucher.created_at, bill, person, amount, amount // 2,
            "v1", 100, deltas,
        )  # fmt: skip

    return build


def test_the_folder_and_file_are_private(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    assert oct(os.stat(store.folder).st_mode & 0o777) == "0o700"
    assert oct(os.stat(store.path).st_mode & 0o777) == "0o600"
    store.close()


def test_a_folder_others_can_read_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "agent"
    AgentStore(folder).close()
    os.chmod(folder, 0o750)
    with pytest.raises(ConfigurationError, match="chmod 700") as refused:
        AgentStore(folder)
    assert refused.value.code == "terminal_data_open"
    os.chmod(folder, 0o700)
    os.chmod(folder / FILE_NAME, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        AgentStore(folder)


def test_status_of_a_folder_without_a_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as missing:
        AgentStore(tmp_path / "nowhere", create=False)
    assert missing.value.code == "terminal_data_missing"
    (tmp_path / "empty").mkdir(mode=0o700)
    with pytest.raises(ConfigurationError, match="holds no terminal store"):
        AgentStore(tmp_path / "empty", create=False)


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "agent"
    folder.mkdir(mode=0o700)
    (folder / FILE_NAME).write_bytes(b"not a database at all, just text" * 100)
    os.chmod(folder / FILE_NAME, 0o600)
    with pytest.raises(ConfigurationError) as refused:
        AgentStore(folder)
    assert refused.value.code == "terminal_data_unreadable"


def test_vouchers_chain_and_survive_reopening(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    first = store.append_voucher(idempotency_key="k1", build=builder())
    second = store.append_voucher(idempotency_key="k2", build=builder(bill="bil_2"))
    store.close()
    again = AgentStore(tmp_path / "agent")
    rows = again.vouchers()
    assert [r.counter for r in rows] == [1, 2]
    one, hash_one = open_voucher(rows[0].signed, _raw())
    two, hash_two = open_voucher(rows[1].signed, _raw())
    assert one.prev_hash == GENESIS
    assert two.prev_hash == hash_one == first.hash
    assert again.chain_head() == (2, hash_two)
    assert second.hash == hash_two
    assert again.outbox_counts() == {"pending": 2, "held": 0, "synced": 0}
    again.close()


def test_the_same_idempotency_key_returns_the_same_voucher(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    first = store.append_voucher(idempotency_key="k1", build=builder())
    repeat = store.append_voucher(idempotency_key="k1", build=builder(bill="bil_other"))
    assert repeat == first
    assert store.chain_head()[0] == 1
    store.close()


def test_a_failing_build_leaves_nothing_behind(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")

    def broken(counter: int, prev_hash: str) -> NewVoucher:
        raise RuntimeError("the signer died")

    with pytest.raises(RuntimeError):
        store.append_voucher(idempotency_key="k1", build=broken)
    assert store.vouchers() == []
    assert store.chain_head() == (0, GENESIS)
    store.close()


def test_a_full_disk_refuses_the_payment_and_writes_nothing(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    store.append_voucher(idempotency_key="k0", build=builder())
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = "x" * 20_000

    def huge(counter: int, prev_hash: str) -> NewVoucher:
        made = builder()(counter, prev_hash)
        return NewVoucher(**{**made.__dict__, "signed": {**made.signed, "pad": big}})

    with pytest.raises(StoreFull) as full:
        store.append_voucher(idempotency_key="k1", build=huge)
    assert full.value.code == "terminal_storage_full"
    assert store.chain_head()[0] == 1
    assert len(store.vouchers()) == 1
    assert store.voucher_by_key("k1") is None
    store.close()
    reopened = AgentStore(tmp_path / "agent")
    assert reopened.chain_head()[0] == 1
    reopened.close()


def test_results_settle_vouchers_and_keep_differences_as_notices(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    rows = [
        store.append_voucher(idempotency_key=f"k{i}", build=builder(bill=f"b{i}")) for i in range(3)
    ]
    store.record_results([
        {"voucher_id": rows[0].voucher_id, "status": "posted", "person_id": "per_a",
         "difference": {"kind": "arrears", "amount_fen": 120}, "message": "you owe 1.20"},
        {"voucher_id": rows[1].voucher_id, "status": "quarantined", "person_id": "per_a",
         "difference": {"kind": "none", "amount_fen": 0}},
        {"voucher_id": rows[2].voucher_id, "status": "held", "person_id": "per_a"},
    ])  # fmt: skip
    assert store.outbox_counts() == {"pending": 0, "held": 1, "synced": 2}
    assert [r.counter for r in store.unsynced(50)] == [3]
    notices = store.notices("per_a")
    assert [(n.kind, n.amount_fen, n.message) for n in notices] == [
        ("arrears", 120, "you owe 1.20")
    ]
    # The same answer again (a replay) adds no second notice.
    arrears = {"kind": "arrears", "amount_fen": 120}
    again = {"voucher_id": rows[0].voucher_id, "status": "posted", "person_id": "per_a"}
    store.record_results([{**again, "difference": arrears}])
    assert len(store.notices("per_a")) == 1
    store.close()


def test_offline_deltas_are_forgotten_once_a_library_shows_them(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    one = store.append_voucher(idempotency_key="k1", build=builder(bill="b1"))
    store.append_voucher(idempotency_key="k2", build=builder(bill="b2"))
    store.record_results([{"voucher_id": one.voucher_id, "status": "posted"}])
    seen = store.sync_seq()
    account, deltas, bills = store.offline_taken("per_a")
    assert (account, len(deltas), bills) == (200, 2, {"b1", "b2"})
    store.save_package(limits={"payload": "x"}, library_version="v2", library=b"sealed",
                       fetched_at=datetime.now(UTC), synced_up_to=seen)  # fmt: skip
    assert store.offline_taken("per_a")[2] == {"b2"}
    assert store.package() is not None
    store.close()


def test_an_online_attempt_is_stored_before_it_is_sent(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    store.begin_attempt("key-1", "bil_1")
    store.begin_attempt("key-2", "bil_1")
    assert store.sending_bills() == {"bil_1"}
    store.finish_attempt("key-2", "paid", {"receipt": {"settlement_id": "stl_1"}})
    assert store.sending_bills() == set()
    assert store.attempt("key-1").state == "refused"
    assert store.attempt("key-2").result == {"receipt": {"settlement_id": "stl_1"}}
    store.close()


def test_the_file_runs_wal_with_full_sync(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "agent")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
    with sqlite3.connect(tmp_path / "agent" / FILE_NAME) as raw:
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("1",)


def _raw() -> bytes:
    return ed25519_public_raw(KEY)
