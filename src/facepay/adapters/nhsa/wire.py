"""The national interface's wire format: JSON with money as yuan numbers of two decimals.

JSON numbers are read as `Decimal` (never float) and written back digit for digit, so that
4.52 yuan is exactly 452 fen on both sides. `to_fen` refuses anything that is not a whole fen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import BeforeValidator

from facepay.shared.errors import InvalidInput

CENT = Decimal("0.01")
DIGITS = 16
"""n(16, s): sixteen digits in all, s of them after the point."""
MAX_BODY_BYTES = 1_000_000
"""Largest message either side accepts (the interface caps `input` at 40,000 characters; fee
uploads of a long stay are larger, so this leaves room and still bounds memory)."""


def _exact(value: object, places: int, what: str) -> Decimal:
    if isinstance(value, bool | float):
        # A float has already lost the exact decimal: the caller must parse with Decimal.
        raise ValueError(f"{what} must be an exact decimal number, not {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"{what} must be a decimal number, got {value!r}") from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** (DIGITS - places):
        raise ValueError(f"{what} must be a finite number of at most {DIGITS} digits")
    step = Decimal(1).scaleb(-places)
    if number != number.quantize(step):
        raise ValueError(f"{what} has more than {places} decimals: {number}")
    return number.quantize(step)


def _yuan(value: object) -> Decimal:
    return _exact(value, 2, "an amount in yuan")


def _ratio(value: object) -> Decimal:
    return _exact(value, 4, "a ratio")


def _quantity(value: object) -> Decimal:
    return _exact(value, 4, "a quantity")


def _price(value: object) -> Decimal:
    return _exact(value, 6, "a unit price")


Yuan = Annotated[Decimal, BeforeValidator(_yuan)]
"""n(16,2): an amount of money in yuan, exactly two decimals."""
Ratio = Annotated[Decimal, BeforeValidator(_ratio)]
"""n(5,4)."""
Quantity = Annotated[Decimal, BeforeValidator(_quantity)]
"""n(16,4)."""
Price = Annotated[Decimal, BeforeValidator(_price)]
"""n(16,6)."""


def to_fen(yuan: Decimal | None) -> int:
    """Yuan on the wire to integer fen, exactly (None, as the platform may send, is 0)."""
    if yuan is None:
        return 0
    fen = yuan * 100
    if fen != fen.to_integral_value():
        raise InvalidInput(f"{yuan} yuan is not a whole number of fen", code="nhsa_bad_amount")
    return int(fen)


def to_yuan(fen: int) -> Decimal:
    """Integer fen to yuan with two decimals."""
    return (Decimal(fen) / 100).quantize(CENT)


def decode(body: bytes) -> dict[str, object]:
    """A JSON object, numbers with a fraction as Decimal; anything else is `InvalidInput`."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput(f"message larger than {MAX_BODY_BYTES} bytes", code="nhsa_bad_message")

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not a number")

    try:
        value = json.loads(body, parse_float=Decimal, parse_constant=refuse)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(f"not JSON: {error}", code="nhsa_bad_message") from None
    if not isinstance(value, dict):
        raise InvalidInput("a message is a JSON object", code="nhsa_bad_message")
    return value


def encode(value: object, *, indent: int | None = None) -> bytes:
    """JSON with Decimal written as the number it is (4.52, never 4.5200000001 or "4.52");
    keys sorted, so equal messages are equal bytes."""
    return _write(value, indent, 0).encode("utf-8")


def _write(value: object, indent: int | None, depth: int) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping | Sequence):
        return _container(value, indent, depth)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _container(
    value: Mapping[object, object] | Sequence[object], indent: int | None, depth: int
) -> str:
    pad = "" if indent is None else "\n" + " " * indent * (depth + 1)
    end = "" if indent is None else "\n" + " " * indent * depth
    colon = ":" if indent is None else ": "
    if isinstance(value, Mapping):
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}{colon}{_write(v, indent, depth + 1)}"
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        ]
        return "{" + ",".join(items) + end + "}" if items else "{}"
    items = [f"{pad}{_write(v, indent, depth + 1)}" for v in value]
    return "[" + ",".join(items) + end + "]" if items else "[]"
