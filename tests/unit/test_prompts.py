"""The sentences patient screens show and the kiosk speaks: short, plain, one or two clauses."""

from __future__ import annotations

from datetime import date

from facepay.hospital import prompts

SENTENCES = [
    prompts.booked("Dr Li", date(2026, 12, 2), "am", 3),
    prompts.appointment("checked_in", "Dr Li", refunded=False),
    prompts.appointment("cancelled", "Dr Li", refunded=True),
    prompts.appointment("cancelled", "Dr Li", refunded=False),
    prompts.collected("done"),
    prompts.collected("partial"),
    prompts.exam_checked_in(),
    prompts.bedside(),
]


def test_every_sentence_is_short_and_plain() -> None:
    for sentence in SENTENCES:
        assert len(sentence) <= 80, sentence
        assert sentence.endswith("."), sentence
        assert "_" not in sentence, sentence  # no codes read out


def test_a_booking_says_who_when_and_which_number() -> None:
    assert prompts.booked("Dr Li", date(2026, 12, 2), "am", 3) == (
        "You are booked with Dr Li, 2 December, morning, number 3."
    )
    assert "not refunded" in prompts.appointment("cancelled", "Dr Li", refunded=False)
