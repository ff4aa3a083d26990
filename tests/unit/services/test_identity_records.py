"""ID card numbers (GB 11643 check digit), second-factor matching and alert details."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from facepay.identity.id_card import IdCard, check_digit, normalise_id_number
from facepay.identity.records import InsuredPerson
from facepay.services.support import mask_name
from facepay.shared.errors import InvalidInput
from facepay.supervision.alerts import Alert

# The worked example of GB 11643-1999 (born 1949-12-31, female, check character X).
STANDARD = "11010519491231002X"


def test_the_standard_example_is_valid_and_read() -> None:
    assert check_digit(STANDARD[:17]) == "X"
    assert normalise_id_number(" 11010519491231002x ") == STANDARD
    card = IdCard(STANDARD, "Wang Fang", "F", date(1949, 12, 31))
    assert card.id_number == STANDARD


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check digit
        "11010519491331002X",  # month 13 (check digit fixed up below)
        "1101051949123100",  # too short
        "11010519491231002Y",  # not a digit or X
    ],
)
def test_bad_numbers_are_refused_without_echoing_them(number: str) -> None:
    if number.startswith("1101051949133"):
        number = number[:17] + check_digit(number[:17])
    with pytest.raises(InvalidInput) as refused:
        normalise_id_number(number)
    assert number not in refused.value.message


def test_card_fields_must_agree_with_the_number() -> None:
    with pytest.raises(InvalidInput):
        IdCard(STANDARD, "Wang Fang", "M", date(1949, 12, 31))
    with pytest.raises(InvalidInput):
        IdCard(STANDARD, "Wang Fang", "F", date(1949, 12, 30))
    with pytest.raises(InvalidInput):
        IdCard(STANDARD, " ", "F", date(1949, 12, 31))


def test_second_factor_is_the_last_four_of_phone_or_id_number() -> None:
    person = InsuredPerson(
        "p", STANDARD, "Wang Fang", "F", date(1949, 12, 31), "employee_active", "C1", "13812345678"
    )
    assert person.second_factor_matches("5678")
    assert person.second_factor_matches("002x")
    assert not person.second_factor_matches("1234")
    assert not person.second_factor_matches("45678")
    no_phone = InsuredPerson("p", STANDARD, "W", "F", date(1949, 12, 31), "x", "C1")
    assert not no_phone.second_factor_matches("5678")


def test_alert_details_refuse_unmasked_numbers_and_biometric_fields() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        Alert("a", "h", "duplicate_face", "p", {"id": STANDARD}, at)
    with pytest.raises(InvalidInput):
        Alert("a", "h", "duplicate_face", "p", {"template": "x"}, at)
    assert Alert("a", "h", "duplicate_face", "p", {"id": "110105********002X"}, at)


def test_names_on_screen_are_masked() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("A") == "A*"
