"""The hash-chained audit log: building, storing, serialising and verifying the chain."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facepay.shared.clock import FixedClock
from facepay.shared.errors import Conflict, InvalidInput
from facepay.supervision.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditHead,
    chain_entry,
    entry_from_json,
    entry_hash,
    entry_to_json,
    verify_chain,
    verify_lines,
)
from facepay.supervision.audit_store import AuditLog, InMemoryAuditStore
from facepay.supervision.redaction import mask_id_number

T0 = datetime(2026, 11, 23, 23, 40, tzinfo=UTC)


def make_log(n: int) -> tuple[AuditLog, InMemoryAuditStore]:
    store = InMemoryAuditStore()
    clock = FixedClock(T0)
    log = AuditLog(store=store, clock=clock)
    for i in range(n):
        clock.set(T0 + timedelta(seconds=i))
        log.record(
            actor=f"stf_{i % 3}",
            action="payment.settled",
            subject=f"bil_{i}",
            details={"amount_fen": 100 * i, "id_number": mask_id_number("110101199003074518")},
        )
    return log, store


def test_first_entry_links_to_genesis_and_hash_is_sha256_of_canonical_json() -> None:
    _, store = make_log(1)
    (entry,) = store.iterate()
    assert entry.seq == 1
    assert entry.prev_hash == GENESIS_HASH == "0" * 64
    canonical = (
        '{"action":"payment.settled","actor":"stf_0","at":"2026-11-23T23:40:00.000000Z",'
        '"details":{"amount_fen":0,"id_number":"110101********4518"},'
        f'"prev_hash":"{GENESIS_HASH}","seq":1,"subject":"bil_0"}}'
    )
    assert entry.hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_intact_chain_verifies() -> None:
    log, store = make_log(10)
    report = verify_chain(store.iterate(), head=log.head())
    assert report.ok
    assert report.entries_checked == 10
    assert report.first_bad_seq is None
    assert report.problem is None


def test_empty_chain_verifies_and_empty_with_head_is_truncated() -> None:
    assert verify_chain([]).ok
    report = verify_chain([], head=AuditHead(3, "a" * 64))
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "truncated", 1)


def test_edited_entry_is_detected() -> None:
    _, store = make_log(5)
    entries = list(store.iterate())
    entries[2] = dataclasses.replace(entries[2], details={"amount_fen": 1})
    report = verify_chain(entries)
    assert (report.ok, report.problem, report.first_bad_seq, report.entries_checked) == (
        False,
        "hash_mismatch",
        3,
        2,
    )


def test_edited_entry_with_recomputed_hash_breaks_the_next_link() -> None:
    _, store = make_log(5)
    entries = list(store.iterate())
    forged = dataclasses.replace(entries[2], actor="stf_evil")
    entries[2] = dataclasses.replace(forged, hash=entry_hash(forged))
    report = verify_chain(entries)
    assert (report.problem, report.first_bad_seq) == ("broken_link", 4)


def test_deleted_entry_is_detected() -> None:
    _, store = make_log(5)
    entries = list(store.iterate())
    del entries[1]
    report = verify_chain(entries)
    assert (report.problem, report.first_bad_seq) == ("bad_seq", 2)


def test_deleted_and_renumbered_entry_is_detected() -> None:
    _, store = make_log(5)
    entries = list(store.iterate())
    del entries[1]
    entries = [dataclasses.replace(e, seq=i + 1) for i, e in enumerate(entries)]
    report = verify_chain(entries)
    assert (report.problem, report.first_bad_seq) == ("hash_mismatch", 2)


def test_reordered_entries_are_detected() -> None:
    _, store = make_log(5)
    entries = list(store.iterate())
    entries[1], entries[2] = entries[2], entries[1]
    report = verify_chain(entries)
    assert (report.problem, report.first_bad_seq) == ("bad_seq", 2)


def test_truncated_tail_is_detected_only_against_a_head() -> None:
    log, store = make_log(5)
    head = log.head()
    entries = list(store.iterate())[:3]
    assert verify_chain(entries).ok  # a shorter chain is self-consistent ...
    report = verify_chain(entries, head=head)  # ... but not against the trusted head
    assert (report.ok, report.problem, report.first_bad_seq) == (False, "truncated", 4)


def test_rewritten_tail_is_detected_against_a_head() -> None:
    log, store = make_log(5)
    head = log.head()
    entries = list(store.iterate())[:2]
    prev = AuditHead(2, entries[-1].hash)
    for _ in range(3):  # an attacker with database access re-chains a different tail
        forged = chain_entry(
            prev=prev, at=T0, actor="stf_evil", action="x", subject="y", details={}
        )
        entries.append(forged)
        prev = AuditHead(forged.seq, forged.hash)
    assert verify_chain(entries).ok
    report = verify_chain(entries, head=head)
    assert (report.problem, report.first_bad_seq) == ("head_mismatch", 5)


def test_entries_appended_after_the_head_still_verify() -> None:
    log, store = make_log(3)
    head = log.head()
    log.record(actor="stf_1", action="refund.done", subject="bil_1")
    assert verify_chain(store.iterate(), head=head).ok


def test_verify_from_a_later_start() -> None:
    _, store = make_log(6)
    entries = list(store.iterate())
    start = AuditHead(3, entries[2].hash)
    assert verify_chain(store.iterate(from_seq=4), start=start).ok
    assert verify_chain(store.iterate(from_seq=4)).problem == "bad_seq"


def test_bad_hash_format_is_a_mismatch() -> None:
    _, store = make_log(2)
    entries = list(store.iterate())
    entries[0] = dataclasses.replace(entries[0], hash=entries[0].hash.upper())
    assert verify_chain(entries).problem == "hash_mismatch"


def test_store_refuses_entries_that_do_not_extend_the_chain() -> None:
    _, store = make_log(2)
    last = store.last()
    assert last is not None
    stale = chain_entry(
        prev=AuditHead(1, "f" * 64), at=T0, actor="a", action="b", subject="c", details={}
    )
    with pytest.raises(Conflict):
        store.append(stale)
    wrong_link = chain_entry(
        prev=AuditHead(2, "f" * 64), at=T0, actor="a", action="b", subject="c", details={}
    )
    with pytest.raises(Conflict):
        store.append(wrong_link)
    assert store.last() == last


def test_record_rejects_unsafe_details_and_changes_nothing() -> None:
    log, _ = make_log(2)
    head = log.head()
    with pytest.raises(InvalidInput):
        log.record(
            actor="stf_1", action="patient.enrolled", subject="pat_1", details={"chip_photo": "..."}
        )
    with pytest.raises(InvalidInput):
        log.record(actor="stf_1", action="patient.enrolled", subject="110101199003074518")
    with pytest.raises(InvalidInput):
        log.record(actor="", action="patient.enrolled", subject="pat_1")
    with pytest.raises(InvalidInput):
        log.record(actor="stf_1\n", action="patient.enrolled", subject="pat_1")
    assert log.head() == head


def test_naive_time_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        chain_entry(
            prev=AuditHead(0, GENESIS_HASH),
            at=datetime(2026, 1, 1),  # noqa: DTZ001
            actor="a",
            action="b",
            subject="c",
            details={},
        )


def test_time_is_normalised_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    entry = chain_entry(
        prev=AuditHead(0, GENESIS_HASH),
        at=T0.astimezone(beijing),
        actor="a",
        action="b",
        subject="c",
        details={},
    )
    assert entry.at.utcoffset() == timedelta(0)
    assert entry_to_json(entry).count("2026-11-23T23:40:00.000000Z") == 1


def test_details_are_frozen_at_append() -> None:
    log, store = make_log(0)
    details: dict = {"lines": ["a"]}
    log.record(actor="a", action="b", subject="c", details=details)
    details["lines"].append("b")
    assert verify_chain(store.iterate()).ok


def test_json_round_trip() -> None:
    _, store = make_log(3)
    for entry in store.iterate():
        assert entry_from_json(entry_to_json(entry)) == entry


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: {**d, "extra": 1},
        lambda d: {k: v for k, v in d.items() if k != "details"},
        lambda d: {**d, "seq": True},
        lambda d: {**d, "at": "2026-11-23T23:40:00+00:00"},
    ],
)
def test_non_canonical_lines_are_refused(mutate) -> None:
    _, store = make_log(1)
    raw = json.loads(entry_to_json(store.last()))
    line = json.dumps(mutate(raw), sort_keys=True, separators=(",", ":"))
    with pytest.raises(InvalidInput):
        entry_from_json(line)
    with pytest.raises(InvalidInput):
        entry_from_json(entry_to_json(store.last()) + " ")


_safe_text = st.text(alphabet="abcdefghij_- 中文", max_size=12)
_details = st.dictionaries(
    st.sampled_from(["bill_id", "amount_fen", "note", "ok", "lines"]),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**12), 10**12),
        _safe_text,
        st.lists(_safe_text, max_size=3),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), details=st.lists(_details, min_size=1, max_size=6))
def test_any_single_byte_change_in_any_entry_breaks_verification(data, details) -> None:
    log = AuditLog(store=InMemoryAuditStore(), clock=FixedClock(T0))
    entries: list[AuditEntry] = [
        log.record(actor="stf_1", action="bill.paid", subject=f"bil_{i}", details=d)
        for i, d in enumerate(details)
    ]
    head = log.head()
    lines = [entry_to_json(e).encode("utf-8") for e in entries]
    victim = data.draw(st.integers(0, len(lines) - 1))
    position = data.draw(st.integers(0, len(lines[victim]) - 1))
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != lines[victim][position]))
    corrupted = bytearray(lines[victim])
    corrupted[position] = new_byte
    lines[victim] = bytes(corrupted)
    try:
        parsed = [entry_from_json(line.decode("utf-8")) for line in lines]
    except (InvalidInput, UnicodeDecodeError):
        return  # the change made the line unreadable: detected
    report = verify_chain(parsed, head=head)
    assert not report.ok
    assert report.first_bad_seq == victim + 1


def test_verify_lines_reports_unreadable_lines_as_malformed() -> None:
    log, store = make_log(4)
    lines = [entry_to_json(e) + "\n" for e in store.iterate()]
    assert verify_lines(lines, head=log.head()).ok
    lines[2] = lines[2].replace('"seq":3', '"seq":03')
    report = verify_lines(lines)
    assert (report.ok, report.problem, report.first_bad_seq, report.entries_checked) == (
        False,
        "malformed",
        3,
        2,
    )
    assert verify_lines(["{}"]).problem == "malformed"


def test_verify_lines_reports_a_bad_chain_before_a_later_unreadable_line() -> None:
    _, store = make_log(4)
    lines = [entry_to_json(e) for e in store.iterate()]
    del lines[0]
    lines[2] = "garbage"
    assert verify_lines(lines).problem == "bad_seq"


def test_concurrent_records_keep_one_chain() -> None:
    store = InMemoryAuditStore()
    log = AuditLog(store=store, clock=FixedClock(T0))

    def work(worker: int) -> None:
        for i in range(50):
            log.record(actor=f"stf_{worker}", action="bill.paid", subject=f"bil_{i}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_chain(store.iterate(), head=log.head())
    assert report.ok
    assert report.entries_checked == 300
