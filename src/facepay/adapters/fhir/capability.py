"""The CapabilityStatement (exactly what the facade implements) and the searchset Bundle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facepay import __version__
from facepay.adapters.fhir.common import FHIR_VERSION, MEDIA_TYPE, emit


@dataclass(frozen=True)
class ResourceSupport:
    """One resource type: its interactions and search parameters (name, FHIR type, meaning)."""

    type: str
    interactions: tuple[str, ...]
    search: tuple[tuple[str, str, str], ...] = ()
    documentation: str = ""

    @property
    def parameters(self) -> frozenset[str]:
        """The names of its search parameters."""
        return frozenset(name for name, _, _ in self.search)


_PATIENT = ("patient", "reference", "Patient/<id> (or the bare id)")
_DATE = ("date", "date", "eq/ge/le/gt/lt; a day without zone is in the hospital's zone")
SUPPORT: tuple[ResourceSupport, ...] = (
    ResourceSupport(
        "Patient",
        ("read", "search-type"),
        (("identifier", "token", "the resident ID number (system optional)"),),
        "Patients of the caller's site only; the ID number is masked.",
    ),
    ResourceSupport(
        "Coverage",
        ("read", "search-type"),
        (_PATIENT,),
        "The patient's insurance this year: category and the paying bureau. Id = the Patient's.",
    ),
    ResourceSupport(
        "Invoice",
        ("read", "search-type", "create"),
        (
            ("identifier", "token", "the HIS's Invoice identifier"),
            _PATIENT,
            ("status", "token", "issued | balanced | cancelled"),
            ("date", "date", "when the bill reached facepay; " + _DATE[2]),
        ),
        "create: an Invoice with contained ChargeItems, or a transaction Bundle; idempotent on "
        "the identifier (same content 200, other content 409).",
    ),
    ResourceSupport(
        "ChargeItem",
        ("read",),
        (),
        "The lines of a pushed Invoice (created with it).",
    ),
    ResourceSupport(
        "Claim",
        ("read", "search-type", "create"),
        (_PATIENT, ("date", "date", "when it was settled; " + _DATE[2])),
        "create: use = preauthorization only, answered by a ClaimResponse (nothing stored). "
        "read/search: the settlement of a paid bill (use = claim).",
    ),
    ResourceSupport(
        "ClaimResponse",
        ("read", "search-type"),
        (_PATIENT, ("date", "date", "when it was settled; " + _DATE[2])),
        "The national settlement amounts as `total` (CodeSystem nhsa-amount).",
    ),
    ResourceSupport(
        "PaymentNotice",
        ("read",),
        (),
        "A bill paid or refunded (one per event of the site's outbox).",
    ),
    ResourceSupport(
        "PaymentReconciliation",
        ("read", "search-type"),
        (("date", "date", "the day (eq YYYY-MM-DD only)"),),
        "One per site and day: totals and one detail per settlement and refund.",
    ),
    ResourceSupport(
        "Encounter",
        ("read", "search-type"),
        (("patient", "reference", "the patient's open inpatient stay at this site"),),
        "Inpatient stays (class IMP).",
    ),
    ResourceSupport(
        "ServiceRequest",
        ("read", "search-type"),
        (("patient", "reference", "the patient's latest requests, newest first, one page"),),
        "The exam and lab lines of paid bills on their departments' worklists.",
    ),
    ResourceSupport(
        "DiagnosticReport",
        ("read",),
        (),
        "A request's result (id = the ServiceRequest's): summary and image reference only, "
        "for the ordering doctor.",
    ),
    ResourceSupport(
        "MedicationRequest",
        ("read", "search-type"),
        (
            _PATIENT,
            ("status", "token", "active | completed | cancelled"),
            ("date", "date", "when the dispensing order was made; " + _DATE[2]),
        ),
        "One per drug line of a dispensing order (id <order id>.<n>); pages forward only.",
    ),
    ResourceSupport(
        "MedicationDispense",
        ("read", "search-type"),
        (_PATIENT, ("status", "token", "preparation | in-progress | completed | declined")),
        "What was handed over of a MedicationRequest (same id); pages forward only. "
        "Notifications carry one per pick-up or return event instead.",
    ),
    ResourceSupport(
        "Appointment",
        ("read", "search-type"),
        (
            _PATIENT,
            ("status", "token", "booked | checked-in | cancelled"),
            ("date", "date", "the session's start; " + _DATE[2]),
        ),
        "A booking of a doctor's session (start and end: the session's).",
    ),
    ResourceSupport(
        "Slot",
        ("read", "search-type"),
        (
            ("start", "date", "the session's start; " + _DATE[2]),
            ("status", "token", "free | busy"),
        ),
        "Slot <session id>.<number> of a session: free or busy; pages forward only.",
    ),
    ResourceSupport(
        "Subscription",
        ("read", "search-type", "create", "delete"),
        (("status", "token", "requested | active | error | off"),),
        "rest-hook only; criteria PaymentNotice?, Invoice?[status=balanced|cancelled] or "
        "MedicationDispense?; signed notifications (docs/fhir.md).",
    ),
)
BY_TYPE = {support.type: support for support in SUPPORT}


def capability_statement(*, base_url: str, date: str) -> dict[str, Any]:
    """The server's CapabilityStatement (R4 4.0.1)."""
    resources = [
        {
            "type": support.type,
            "documentation": support.documentation,
            "interaction": [{"code": code} for code in support.interactions],
            "searchParam": [
                {"name": name, "type": kind, "documentation": text}
                for name, kind, text in support.search
            ]
            or None,
        }
        for support in SUPPORT
    ]
    return emit(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": date,
            "publisher": "facepay",
            "kind": "instance",
            "software": {"name": "facepay", "version": __version__},
            "implementation": {"description": "facepay FHIR R4 facade", "url": base_url},
            "fhirVersion": FHIR_VERSION,
            "format": [MEDIA_TYPE, "json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": "Paging: `_count` (bounded) and the `next` / `previous` "
                    "links; unknown search parameters are refused (400).",
                    "security": {
                        "cors": False,
                        "description": "A signed terminal request (X-Facepay-* headers, "
                        "FACEPAY-ED25519-V1) or a staff Bearer token, as for /v1; a caller "
                        "sees only its own site.",
                    },
                    "resource": resources,
                }
            ],
        }
    )


def searchset(
    *,
    base_url: str,
    resources: Sequence[dict[str, Any]],
    self_link: str,
    next_link: str | None = None,
    previous_link: str | None = None,
    total: int | None = None,
) -> dict[str, Any]:
    """A searchset Bundle of `resources` with its paging links (`total` when known)."""
    links = [{"relation": "self", "url": self_link}]
    if next_link:
        links.append({"relation": "next", "url": next_link})
    if previous_link:
        links.append({"relation": "previous", "url": previous_link})
    entries = [
        {"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "search": {"mode": "match"}}
        for r in resources
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": entries or None,
    }
    if total is not None:
        bundle["total"] = total
    # Each resource was validated when it was emitted: the Bundle is validated around them
    # (validating each again would double the cost of a page), then they are put in.
    shell = emit(bundle)
    for entry, resource in zip(shell.get("entry", ()), resources, strict=True):
        entry["resource"] = resource
    return shell
