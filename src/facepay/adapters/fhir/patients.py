"""Patient and Coverage: an insured person as their site sees them.

The ID number is always masked (region code and last four kept, as everywhere in the API) and
the resource carries the `MASKED` security label; what the caller may see besides depends on
their role (`NAME_VISIBLE`). Never a face template, a photo, the insurance card number or the
phone number.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from facepay.adapters.fhir.common import (
    CS_CATEGORY,
    SID_REGION,
    SID_RESIDENT_ID,
    emit,
    fhir_id,
)
from facepay.hospital.tenants import Region
from facepay.identity.records import InsuredPerson
from facepay.services.coverage import Coverage
from facepay.services.support import mask_name
from facepay.supervision.redaction import mask_id_number

SECURITY_MASKED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "MASKED",
    "display": "masked",
}
CATEGORY_NAMES = {
    "employee_active": "在职职工 employee (active)",
    "employee_retired": "退休职工 employee (retired)",
    "resident": "城乡居民 resident",
}
_GENDER = {"M": "male", "F": "female"}


def patient_resource(person: InsuredPerson, *, full_name: bool) -> dict[str, Any]:
    """The Patient: masked ID number; the name in full only if `full_name` (else `张*`)."""
    name = person.name if full_name else mask_name(person.name)
    return emit(
        {
            "resourceType": "Patient",
            "id": fhir_id(person.id),
            "meta": {"security": [SECURITY_MASKED]},
            "identifier": [
                {
                    "use": "official",
                    "system": SID_RESIDENT_ID,
                    "value": mask_id_number(person.id_number),
                }
            ],
            "active": True,
            "name": [{"use": "official", "text": name}],
            "gender": _GENDER.get(str(person.sex), "unknown"),
            "birthDate": person.birth_date.isoformat(),
        }
    )


def coverage_resource(
    coverage: Coverage, *, region: Region | None, region_id: str, year: int
) -> dict[str, Any]:
    """The person's insurance for `year`: category, the bureau that pays, the period."""
    payor: dict[str, Any] = {"identifier": {"system": SID_REGION, "value": region_id}}
    if region is not None:
        payor["display"] = region.name
    category = coverage.category
    return emit(
        {
            "resourceType": "Coverage",
            "id": fhir_id(coverage.person_id),
            "status": "active",
            "type": {
                "coding": [
                    {
                        "system": CS_CATEGORY,
                        "code": category,
                        "display": CATEGORY_NAMES.get(category, category),
                    }
                ]
            },
            "beneficiary": {"reference": f"Patient/{fhir_id(coverage.person_id)}"},
            "period": {
                "start": date(year, 1, 1).isoformat(),
                "end": date(year, 12, 31).isoformat(),
            },
            "payor": [payor],
            "class": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                "code": "plan",
                            }
                        ]
                    },
                    "value": category,
                    "name": "medical assistance"
                    if coverage.medical_assistance
                    else "basic medical insurance",
                }
            ],
        }
    )
