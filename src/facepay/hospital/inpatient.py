"""Inpatient stays: admission to a bed, deposits held for the stay, daily charges, bedside
check-ins and the discharge settlement that nets the deposit against the patient's cash share.

Pure: the types check themselves and the decisions (`stay_bill`, `net_deposit`,
`deposit_position`) take numbers and give numbers. Money is integer fen, quantities and
ratios `Decimal`. Where the money goes is in facepay.services.inpatient_discharge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from facepay.insurance.model import Bill, BillLine, ItemClass
from facepay.shared.errors import InvalidInput
from facepay.shared.money import round_half_up

StayStatus = Literal["admitted", "discharged"]
DepositSource = Literal["cash", "bank"]
DEPOSIT_SOURCES: tuple[DepositSource, ...] = ("cash", "bank")
"""Where a deposit's money comes from: the cash till or a bank card (the clearing accounts)."""
DischargeStatus = Literal["settled", "reversed"]

TIER_NUMBERS = {"primary": 1, "secondary": 2, "tertiary": 3}
"""A hospital's grade as the insurance policies number it (一级 1, 二级 2, 三级 3)."""
MAX_PLACE = 40
MAX_DIAGNOSIS_TEXT = 200
MAX_DEPOSIT_FEN = 10**10
"""One deposit or top-up: at most 100 million yuan, as one bill line."""
# ICD-10 as the national clinical version writes it: a letter, two digits, an optional
# extension after a dot (J18.900, S72.001x011).
_ICD10 = re.compile(r"[A-Z][0-9]{2}(\.[0-9A-Za-z]{1,8})?")


def _text(value: str, where: str, limit: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= limit or not value.isprintable():
        raise InvalidInput(f"{where}: 1 to {limit} printable characters")


def _fen(value: int, where: str, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        raise InvalidInput(f"{where}: a whole number of fen{' above 0' if positive else ''}")


@dataclass(frozen=True)
class Diagnosis:
    """The admitting diagnosis: an ICD-10 code and its text."""

    code: str
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _ICD10.fullmatch(self.code):
            raise InvalidInput("diagnosis code: ICD-10, e.g. J18.900", code="bad_diagnosis")
        _text(self.text, "diagnosis text", MAX_DIAGNOSIS_TEXT)


@dataclass(frozen=True)
class Stay:
    """One admission of one person to one bed of a site, until the discharge settlement.

    `admitted_on` is the service date of the stay's inpatient bill (the policy and the
    accumulators' year are those of the admission). A reversed discharge settlement opens the
    stay again (status `admitted`, same bed) until it is settled again."""

    id: str
    hospital_id: str
    person_id: str
    ward: str
    bed: str
    diagnosis: Diagnosis
    attending_doctor_id: str
    hospital_tier: int
    admitted_on: date
    admitted_at: datetime
    admitted_by: str
    identification_id: str
    status: StayStatus = "admitted"
    discharged_at: datetime | None = None
    low_deposit_alerted: bool = False
    """An alert was raised since the deposit last stood above the level (one alert per fall)."""

    def __post_init__(self) -> None:
        _text(self.ward, "ward", MAX_PLACE)
        _text(self.bed, "bed", MAX_PLACE)
        if self.hospital_tier not in TIER_NUMBERS.values():
            raise InvalidInput("hospital_tier: 1, 2 or 3", code="bad_hospital_tier")
        if self.status not in ("admitted", "discharged"):
            raise InvalidInput(f"stay status: admitted or discharged, not {self.status!r}")

    @property
    def is_open(self) -> bool:
        """Whether the stay still holds its bed and takes deposits and charges."""
        return self.status == "admitted"


@dataclass(frozen=True)
class Deposit:
    """Money paid for the stay, held on its payment source by the ledger hold `hold_id` until
    the discharge settlement posts what the patient owes and releases the rest. `applied` is
    what the standing discharge took of it (0 while the stay is open). `returned` is what a
    discharge since reversed released of it: handed back to its source, so no longer held
    (`held`), and never taken or handed back again."""

    id: str
    stay_id: str
    hospital_id: str
    amount: int
    source: DepositSource
    idempotency_key: str
    hold_id: str
    created_at: datetime
    actor: str
    identification_id: str | None = None
    present_person_id: str | None = None
    applied: int = 0
    returned: int = 0

    def __post_init__(self) -> None:
        _fen(self.amount, "deposit amount", positive=True)
        if self.amount > MAX_DEPOSIT_FEN:
            raise InvalidInput(f"deposit amount: at most {MAX_DEPOSIT_FEN} fen")
        if self.source not in DEPOSIT_SOURCES:
            raise InvalidInput("deposit source: cash or bank", code="bad_deposit_source")
        _fen(self.applied, "applied")
        _fen(self.returned, "returned")
        if self.applied + self.returned > self.amount:
            raise InvalidInput("a deposit cannot pay more than it holds")

    @property
    def held(self) -> int:
        """What the hospital still holds of it for the stay."""
        return self.amount - self.returned


@dataclass(frozen=True)
class ChargeLine:
    """One fee line of the stay's bill, posted under the charge `reference` (a day's charges
    from the HIS, say) at position `line_no`."""

    id: str
    stay_id: str
    hospital_id: str
    reference: str
    line_no: int
    service_date: date
    code: str
    name: str
    item_class: ItemClass
    unit_price: int
    quantity: Decimal
    created_at: datetime
    actor: str

    def __post_init__(self) -> None:
        _text(self.reference, "charge reference", 64)
        # BillLine checks code, name, class, price and quantity the way a bill does.
        self.bill_line()

    @property
    def amount(self) -> int:
        """unit price x quantity, rounded half-up to the fen."""
        return round_half_up(self.unit_price * self.quantity)

    def bill_line(self) -> BillLine:
        """The line as the insurance bill carries it."""
        return BillLine(self.code, self.name, self.item_class, self.unit_price, self.quantity)

    def same_charge(self, other: ChargeLine) -> bool:
        """Whether `other` asks for this very line (a replayed charge reference)."""
        mine = (self.line_no, self.service_date, self.code, self.name, self.item_class)
        theirs = (other.line_no, other.service_date, other.code, other.name, other.item_class)
        return (
            mine == theirs
            and self.unit_price == other.unit_price
            and self.quantity == other.quantity
        )


@dataclass(frozen=True)
class BedsideCheckIn:
    """The patient (or a proxy for them) seen at the bed on `day`: at most one a stay a day."""

    id: str
    stay_id: str
    hospital_id: str
    day: date
    at: datetime
    actor: str
    identification_id: str
    present_person_id: str
    method: str
    proxy_grant_id: str | None = None


@dataclass(frozen=True)
class Discharge:
    """One discharge settlement of a stay: the settlement of its inpatient bill and how the
    deposit paid the cash share (`applied`), came back (`released`) or fell short (`arrears`,
    what the patient still owes). `reversed` after a 2305-style cancel; the next discharge of
    the same stay is a new one."""

    id: str
    stay_id: str
    hospital_id: str
    idempotency_key: str
    settlement_id: str
    cash_share: int
    applied: int
    released: int
    arrears: int
    created_at: datetime
    actor: str
    status: DischargeStatus = "settled"
    reversal_key: str | None = None
    reversed_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("cash_share", "applied", "released", "arrears"):
            _fen(getattr(self, name), name)
        if self.applied + self.arrears != self.cash_share:
            raise InvalidInput("deposit applied + arrears must make the cash share")


def stay_bill(stay: Stay, lines: Sequence[ChargeLine]) -> Bill:
    """The stay's one inpatient bill: every charge line, at the site's tier, dated the day of
    admission (InvalidInput from `Bill` when there is no line)."""
    if not lines:
        raise InvalidInput("the stay has no charges yet", code="stay_has_no_charges")
    ordered = sorted(lines, key=lambda line: (line.service_date, line.reference, line.line_no))
    return Bill(
        visit_type="inpatient",
        hospital_tier=stay.hospital_tier,
        service_date=stay.admitted_on,
        lines=tuple(line.bill_line() for line in ordered),
    )


def charges_fen(lines: Sequence[ChargeLine]) -> int:
    """What the stay has cost so far: the sum of its lines."""
    return sum(line.amount for line in lines)


@dataclass(frozen=True)
class Netting:
    """How the deposits meet the cash share: `posts` (deposit id, fen) are taken from their
    holds, oldest first, `voids` are released whole; a partly taken hold releases its rest."""

    cash_share: int
    posts: tuple[tuple[str, int], ...]
    voids: tuple[str, ...]
    deposit: int
    applied: int
    released: int
    arrears: int


def net_deposit(cash_share: int, deposits: Sequence[Deposit]) -> Netting:
    """Take min(deposit held, cash share) from the deposits, oldest first; release the
    surplus; what the deposit does not cover is arrears. A deposit handed back whole by a
    reversed discharge (nothing held) has no hold to take or release."""
    _fen(cash_share, "cash share")
    owed = cash_share
    posts: list[tuple[str, int]] = []
    voids: list[str] = []
    for deposit in sorted(deposits, key=lambda d: (d.created_at, d.id)):
        if not deposit.held:
            continue
        take = min(owed, deposit.held)
        if take:
            posts.append((deposit.id, take))
        else:
            voids.append(deposit.id)
        owed -= take
    total = sum(d.held for d in deposits)
    applied = cash_share - owed
    return Netting(cash_share, tuple(posts), tuple(voids), total, applied, total - applied, owed)


@dataclass(frozen=True)
class LowDepositLevel:
    """When the deposit is low: its balance over the charges so far below `fen`, or below
    `percent` of the charges when that is more (0: only the fixed amount)."""

    fen: int
    percent: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        _fen(self.fen, "low-deposit level")
        if not isinstance(self.percent, Decimal) or not 0 <= self.percent <= 100:
            raise InvalidInput("low-deposit percent: a decimal from 0 to 100")

    def of(self, charges: int) -> int:
        """The level in fen for a stay that has cost `charges` so far."""
        return max(self.fen, round_half_up(self.percent * charges / 100))


@dataclass(frozen=True)
class DepositPosition:
    """The running deposit of an open stay against its charges (all fen)."""

    deposit: int
    charges: int
    level: int

    @property
    def balance(self) -> int:
        """Deposit less charges: negative when the charges have run past the deposit."""
        return self.deposit - self.charges

    @property
    def low(self) -> bool:
        """Whether the balance is below the level (the ward asks for a top-up)."""
        return self.balance < self.level


def deposit_position(
    deposits: Sequence[Deposit], lines: Sequence[ChargeLine], level: LowDepositLevel
) -> DepositPosition:
    """The deposit held for the stay against what it has cost so far."""
    charged = charges_fen(lines)
    return DepositPosition(sum(d.held for d in deposits), charged, level.of(charged))
