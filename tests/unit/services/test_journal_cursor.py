"""The journal cursor moves over what was applied, waits for a hole (a change numbered lower that
commits later, as PostgreSQL allows), and gives up on one only after GAP_SECONDS."""

from __future__ import annotations

from datetime import UTC, datetime

from facepay.services.context import JournalCursor
from facepay.services.gallery_sync import GAP_SECONDS, _advance
from facepay.services.repositories import TemplateChange

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _changes(*seqs: int) -> list[TemplateChange]:
    return [TemplateChange(s, f"t{s}", "add", "site:h1", "m", AT) for s in seqs]


def test_the_position_stops_at_a_hole_until_it_fills() -> None:
    cursor = JournalCursor()
    cursor.applied.update({1, 3})
    _advance(cursor, _changes(1, 3), moment=0.0)
    assert (cursor.position, cursor.applied, set(cursor.waiting)) == (1, {3}, {2})
    cursor.applied.add(2)  # change 2 committed late and was applied
    _advance(cursor, _changes(2, 3), moment=1.0)
    assert (cursor.position, cursor.applied, cursor.waiting) == (3, set(), {})


def test_a_hole_nobody_fills_is_passed_after_the_wait() -> None:
    cursor = JournalCursor()
    cursor.applied.update({1, 3})
    _advance(cursor, _changes(1, 3), moment=0.0)
    _advance(cursor, _changes(3), moment=GAP_SECONDS - 1)
    assert cursor.position == 1
    _advance(cursor, _changes(3), moment=GAP_SECONDS + 0.1)  # a rolled-back insert's number
    assert (cursor.position, cursor.applied, cursor.waiting) == (3, set(), {})
