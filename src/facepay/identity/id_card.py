"""Resident ID cards (GB 11643-1999): number checksum, birth date and sex read from the number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from facepay.shared.errors import InvalidInput

Sex = Literal["F", "M"]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    """The 18th character of an ID number whose first 17 digits are given (ISO 7064 MOD 11-2)."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def normalise_id_number(value: str) -> str:
    """Return the 18-character number (upper-case X) or raise InvalidInput; never echoes it."""
    text = value.strip().upper()
    if len(text) != 18 or not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        raise InvalidInput("an ID number is 17 digits and a digit or X", code="bad_id_number")
    if check_digit(text[:17]) != text[17]:
        raise InvalidInput("the ID number's check digit is wrong", code="bad_id_number")
    birth_date_of(text)
    return text


def birth_date_of(id_number: str) -> date:
    """The birth date encoded in digits 7-14."""
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        raise InvalidInput(
            "the ID number holds no valid birth date", code="bad_id_number"
        ) from None


def sex_of(id_number: str) -> Sex:
    """Digit 17 is odd for men, even for women."""
    return "M" if int(id_number[16]) % 2 else "F"


@dataclass(frozen=True)
class IdCard:
    """What the ID card's chip says about its holder (the photo travels separately)."""

    id_number: str
    name: str
    sex: Sex
    birth_date: date

    def __post_init__(self) -> None:
        number = normalise_id_number(self.id_number)
        object.__setattr__(self, "id_number", number)
        if not self.name.strip() or len(self.name) > 80 or not self.name.isprintable():
            raise InvalidInput("name: 1 to 80 printable characters", code="bad_id_card")
        if self.sex not in ("F", "M") or self.sex != sex_of(number):
            raise InvalidInput("sex does not match the ID number", code="bad_id_card")
        if self.birth_date != birth_date_of(number):
            raise InvalidInput("birth date does not match the ID number", code="bad_id_card")
