from decimal import Decimal

import pytest

from facepay.shared.money import fen_to_yuan_str, round_half_up, yuan_str_to_fen


def test_round_half_up_rounds_halves_away_from_zero() -> None:
    assert round_half_up(Decimal("12.5")) == 13
    assert round_half_up(Decimal("12.49")) == 12
    assert round_half_up(Decimal("0.5")) == 1


def test_yuan_round_trip() -> None:
    assert fen_to_yuan_str(123456) == "1234.56"
    assert fen_to_yuan_str(-5) == "-0.05"
    assert yuan_str_to_fen("1234.56") == 123456


def test_fractions_of_a_fen_are_refused() -> None:
    with pytest.raises(ValueError, match="whole number of fen"):
        yuan_str_to_fen("0.001")
