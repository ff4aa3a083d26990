"""What a patient's insurance stands at: category, the year's accumulators, the personal account.

The cashier's screen shows it before a payment, and the demo's report records it before every
settlement so that the split can be recomputed from the report alone (the policy is picked by
service date and category, the split by `facepay.insurance.settlement.settle`).
"""

from __future__ import annotations

from dataclasses import dataclass

from facepay.insurance.model import Accumulators
from facepay.services.context import Services
from facepay.services.lookups import is_patient_of
from facepay.services.payments import standing
from facepay.services.support import require_hospital
from facepay.shared.errors import InvalidInput, NotFound

EARLIEST_YEAR = 2000


@dataclass(frozen=True)
class Coverage:
    """A person's standing for one year: what `settle` needs besides the bill and the policy."""

    person_id: str
    category: str
    medical_assistance: bool
    accumulators: Accumulators
    personal_account_fen: int
    """What the personal account can still pay (posted credits less posted and held debits)."""


def patient_coverage(*, ctx: Services, hospital_id: str, person_id: str, year: int) -> Coverage:
    """The standing of one of this hospital's patients (NotFound for anyone else)."""
    if not EARLIEST_YEAR <= year <= ctx.clock.now().year + 1:
        raise InvalidInput(f"year: {EARLIEST_YEAR} to next year", code="bad_year")
    with ctx.uow() as uow:
        require_hospital(uow, hospital_id)
        person = uow.people.get(person_id)
        if person is None or not is_patient_of(uow, hospital_id, person_id):
            raise NotFound("no such patient")
        accumulators, available = standing(uow, person_id, year)
    return Coverage(
        person_id=person.id,
        category=person.category,
        medical_assistance=person.medical_assistance,
        accumulators=accumulators,
        personal_account_fen=available,
    )
