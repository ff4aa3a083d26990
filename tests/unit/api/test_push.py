"""The window stream's cursor over a database sequence shared by every window and site."""

from __future__ import annotations

from facepay.api.push import EventCursor

BATCH = 50
POLL = 0.5


def delivered_within(window: list[int], *, start: int, seconds: float) -> list[int]:
    """What a stream sends of `window`'s committed events by `seconds`, polling as the route
    does (events after the floor, at most BATCH, only the fresh ones sent)."""
    cursor, sent, now = EventCursor(start), [], 0.0
    while now <= seconds:
        found = [seq for seq in window if seq > cursor.floor][:BATCH]
        sent += cursor.fresh(found)
        cursor.advance(now)
        now += POLL
    return sent


def test_a_reconnecting_stream_catches_up_though_other_windows_share_the_sequence() -> None:
    """Review: the numbers of one window are never consecutive (the sequence is shared), so
    every one of them looked like a gap, and the floor moved one event per gap timeout: past
    one batch behind, a window's stream stalled for minutes."""
    window = list(range(2, 302, 2))  # 150 events; the odd numbers are another window's
    assert delivered_within(window, start=0, seconds=20) == window


def test_a_number_still_in_flight_is_waited_for_a_moment() -> None:
    cursor = EventCursor(10)
    assert cursor.fresh([12]) == [12]  # 11 is a transaction not committed yet
    cursor.advance(0.0)
    assert cursor.floor == 10
    cursor.advance(1.0)
    assert cursor.floor == 10
    assert cursor.fresh([11, 12]) == [11]  # it commits: sent once, the floor moves over both
    cursor.advance(1.5)
    assert cursor.floor == 12
    assert cursor.fresh([14]) == [14]
    cursor.advance(2.0)
    cursor.advance(7.5)  # 13 never came: given up after the gap timeout
    assert cursor.floor == 14
