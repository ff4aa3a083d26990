"""Encounter, ServiceRequest and DiagnosticReport: the stays and orders around a bill.

An inpatient stay is an Encounter (class IMP). An exam or lab line of a paid bill is a
ServiceRequest on its department's worklist; its result is a DiagnosticReport with the LIS /
PACS summary as `conclusion` and the image only as a reference (`imagingStudy` by the PACS
identifier): never image bytes.
"""

from __future__ import annotations

from typing import Any

from facepay.adapters.fhir.common import BASE, SID_SITE, emit, fhir_id
from facepay.hospital.inpatient import Stay
from facepay.hospital.orders import ServiceRequest

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
SID_IMAGE = f"{BASE}/sid/pacs-image"
CS_CONCLUSION = {"normal": ("N", "Normal"), "abnormal": ("A", "Abnormal"),
                 "critical": ("AA", "Critical abnormal")}  # fmt: skip
REQUEST_STATUS = {"requested": "active", "checked_in": "active", "done": "active",
                  "reported": "completed"}  # fmt: skip


def encounter_resource(stay: Stay) -> dict[str, Any]:
    """An inpatient stay as an Encounter."""
    period: dict[str, Any] = {"start": stay.admitted_at.isoformat(timespec="seconds")}
    if stay.discharged_at is not None:
        period["end"] = stay.discharged_at.isoformat(timespec="seconds")
    return emit(
        {
            "resourceType": "Encounter",
            "id": fhir_id(stay.id),
            "status": "in-progress" if stay.status == "admitted" else "finished",
            "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
            "subject": {"reference": f"Patient/{fhir_id(stay.person_id)}"},
            "participant": [
                {
                    "type": [{"text": "attending"}],
                    "individual": {
                        "reference": f"Practitioner/{fhir_id(stay.attending_doctor_id)}"
                    },
                }
            ],
            "period": period,
            "reasonCode": [
                {
                    "coding": [
                        {
                            "system": ICD10,
                            "code": stay.diagnosis.code,
                            "display": stay.diagnosis.text,
                        }
                    ],
                    "text": stay.diagnosis.text,
                }
            ],
            "location": [{"location": {"display": f"{stay.ward} {stay.bed}"}}],
            "serviceProvider": {"identifier": {"system": SID_SITE, "value": stay.hospital_id}},
        }
    )


def service_request_resource(request: ServiceRequest) -> dict[str, Any]:
    """A worklist entry as a ServiceRequest."""
    return emit(
        {
            "resourceType": "ServiceRequest",
            "id": fhir_id(request.id),
            "status": REQUEST_STATUS.get(request.status, "unknown"),
            "intent": "order",
            "category": [{"text": request.kind}],
            "code": {
                "coding": [{"code": request.line_code, "display": request.name}],
                "text": request.name,
            },
            "subject": {"reference": f"Patient/{fhir_id(request.person_id)}"},
            "authoredOn": request.created_at.isoformat(timespec="seconds"),
            "requester": {"reference": f"Practitioner/{fhir_id(request.ordered_by)}"},
            "performerType": {"text": request.department},
            "supportingInfo": [{"reference": f"Invoice/{fhir_id(request.bill_id)}"}],
        }
    )


def diagnostic_report_resource(request: ServiceRequest) -> dict[str, Any]:
    """The result of a reported request (the summary and the image reference only)."""
    result = request.result
    if result is None:
        raise ValueError("no result to report")  # the use case refuses first
    code, display = CS_CONCLUSION[result.conclusion]
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": fhir_id(request.id),
        "basedOn": [{"reference": f"ServiceRequest/{fhir_id(request.id)}"}],
        "status": "final",
        "category": [{"text": request.kind}],
        "code": {
            "coding": [{"code": request.line_code, "display": request.name}],
            "text": request.name,
        },
        "subject": {"reference": f"Patient/{fhir_id(request.person_id)}"},
        "effectiveDateTime": result.performed_at.isoformat(timespec="seconds"),
        "issued": result.recorded_at.isoformat(timespec="seconds"),
        "performer": [{"display": request.department}],
        "conclusion": result.summary,
        "conclusionCode": [
            {"coding": [{"system": INTERPRETATION, "code": code, "display": display}]}
        ],
    }
    if result.image_ref is not None:
        resource["imagingStudy"] = [
            {"identifier": {"system": SID_IMAGE, "value": result.image_ref}, "display": "images"}
        ]
    return emit(resource)
