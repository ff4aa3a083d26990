"""An insurance policy version as plain data (INSURANCE.md §3), checked when it is built.

The interchange schema in `facepay.adapters.interchange` checks types; the rules that tie fields
together (bands increasing, every category priced the same way) live here so that a policy built
in code is held to them too. Every message names the field, in the interchange format's terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from facepay.shared.errors import InvalidInput

ACCOUNT_PARTS = frozenset({"inscope", "preselfpay", "overlmt", "fulamt"})


def check_fen(value: int, where: str, *, at_most: int | None = None) -> None:
    """Refuse an amount that is not a whole, non-negative number of fen (up to `at_most`)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{where}: must be a whole, non-negative number of fen, got {value!r}")
    if at_most is not None and value > at_most:
        raise InvalidInput(f"{where}: at most {at_most} fen, got {value}")


def check_ratio(value: Decimal, where: str) -> None:
    """Refuse a ratio that is not a finite Decimal in [0, 1]."""
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 <= value <= 1:
        raise InvalidInput(f"{where}: ratio must be a decimal between 0 and 1, got {value!r}")


def check_uptos(uptos: list[int | None], where: str, *, above: int = 0) -> None:
    """Band upper bounds must rise strictly from `above`, and only the last band is open."""
    if not uptos:
        raise InvalidInput(f"{where}: at least one band is needed")
    if uptos[-1] is not None:
        raise InvalidInput(f"{where}: the last band must be open (upto: null)")
    previous = above
    for index, upto in enumerate(uptos[:-1]):
        if upto is None:
            raise InvalidInput(f"{where}.{index}.upto: only the last band may be open (null)")
        check_fen(upto, f"{where}.{index}.upto")
        if upto <= previous:
            raise InvalidInput(
                f"{where}.{index}.upto: bands must increase ({upto} after {previous})"
            )
        previous = upto


@dataclass(frozen=True)
class Band:
    """A bracket of cumulative eligible spending with its ratio per hospital tier."""

    upto: int | None
    ratio: Mapping[int, Decimal]


@dataclass(frozen=True)
class VisitRules:
    """Deductible, annual fund cap and ratio bands for one visit type."""

    annual_cap: Mapping[str, int]
    bands: Mapping[str, tuple[Band, ...]]

    def _check(self, where: str, categories: set[str]) -> None:
        if set(self.annual_cap) != categories or set(self.bands) != categories:
            raise InvalidInput(
                f"{where}: deductible, annual_cap and bands must list the same categories "
                f"(got {sorted(categories)}, {sorted(self.annual_cap)}, {sorted(self.bands)})"
            )
        for category, cap in self.annual_cap.items():
            check_fen(cap, f"{where}.annual_cap.{category}")
        for category, bands in self.bands.items():
            path = f"{where}.bands.{category}"
            check_uptos([band.upto for band in bands], path)
            for index, band in enumerate(bands):
                if not band.ratio:
                    raise InvalidInput(f"{path}.{index}.ratio: give a ratio per hospital tier")
                for tier, ratio in band.ratio.items():
                    check_ratio(ratio, f"{path}.{index}.ratio.{tier}")


@dataclass(frozen=True)
class OutpatientRules(VisitRules):
    """Outpatient: one deductible per calendar year, by person category."""

    deductible: Mapping[str, int]

    def __post_init__(self) -> None:
        for category, amount in self.deductible.items():
            check_fen(amount, f"outpatient.deductible.{category}")
        self._check("outpatient", set(self.deductible))


@dataclass(frozen=True)
class InpatientRules(VisitRules):
    """Inpatient: a deductible per admission by hospital tier, lower from the second one."""

    first_deductible: Mapping[int, int]
    later_deductible: Mapping[int, int]

    def __post_init__(self) -> None:
        for name, table in (("first", self.first_deductible), ("later", self.later_deductible)):
            for tier, amount in table.items():
                check_fen(amount, f"inpatient.deductible.{name}.{tier}")
        self._check("inpatient", set(self.annual_cap))


@dataclass(frozen=True)
class CriticalIllness:
    """Second layer (大病保险): bands over the year's burden, starting at the threshold."""

    threshold: int
    annual_cap: int
    bands: tuple[tuple[int | None, Decimal], ...]  # (upto, ratio)

    def __post_init__(self) -> None:
        check_fen(self.threshold, "critical_illness.threshold")
        check_fen(self.annual_cap, "critical_illness.annual_cap")
        where = "critical_illness.bands"
        check_uptos([upto for upto, _ in self.bands], where, above=self.threshold)
        for index, (_, ratio) in enumerate(self.bands):
            check_ratio(ratio, f"{where}.{index}.ratio")


@dataclass(frozen=True)
class MedicalAssistance:
    """Third layer (医疗救助) for eligible people: a ratio of what is left, up to a cap."""

    ratio: Decimal
    annual_cap: int

    def __post_init__(self) -> None:
        check_ratio(self.ratio, "medical_assistance.ratio")
        check_fen(self.annual_cap, "medical_assistance.annual_cap")


@dataclass(frozen=True)
class Policy:
    """One version of a policy, in force from `effective_from` to `effective_to` inclusive."""

    id: str
    region: str
    effective_from: date
    effective_to: date | None
    class_b_selfpay_ratio: Decimal
    personal_account_may_pay: frozenset[str]
    outpatient: OutpatientRules | None
    inpatient: InpatientRules | None
    critical_illness: CriticalIllness | None = None
    medical_assistance: MedicalAssistance | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidInput("id: a policy needs a non-empty id")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise InvalidInput("effective_to: must not be before effective_from")
        check_ratio(self.class_b_selfpay_ratio, "class_b_selfpay_ratio")
        unknown = set(self.personal_account_may_pay) - ACCOUNT_PARTS
        if unknown:
            raise InvalidInput(
                f"personal_account_may_pay: unknown part(s) {sorted(unknown)}; "
                f"choose from {sorted(ACCOUNT_PARTS)}"
            )

    def in_force(self, on: date) -> bool:
        """Whether this version applies to a service on `on`."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def covers(self, category: str) -> bool:
        """Whether any visit type of this policy lists the person category."""
        rules = [r for r in (self.outpatient, self.inpatient) if r is not None]
        return any(category in r.bands for r in rules)
