"""What every FHIR mapping shares: the code systems, ids, money, JSON in and out, errors.

facepay ids are `<kind>_<32 hex>`; a FHIR id allows only `[A-Za-z0-9-.]`, so the facade shows
`<kind>-<32 hex>` and maps it back (`fhir_id` / `facepay_id`), refusing anything else before a
store is asked. Money is CNY `Money` with at most two decimals, converted to integer fen
exactly: JSON numbers are read as `Decimal`, never as float.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from facepay.shared.errors import BadRequest, InvalidInput

FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+json"
BASE = "https://facepay.dev/fhir"
SID_RESIDENT_ID = f"{BASE}/sid/resident-id"
"""The 18-character resident ID number (shown masked: `110101********1234`)."""
SID_REGION = f"{BASE}/sid/region"
"""A region's id: the medical-insurance bureau that pays (Coverage.payor)."""
SID_SITE = f"{BASE}/sid/site"
"""A site's id (hospital or pharmacy)."""
SID_SETTLEMENT = f"{BASE}/sid/settlement"
SID_BILL_REF = f"{BASE}/sid/his-invoice"
"""The HIS's own Invoice identifier (a bill's `external_ref`) when it sent no system."""
CS_ITEM_CLASS = f"{BASE}/CodeSystem/item-class"
"""A, B, C: the national catalogue's classes (A fully covered, B partly, C self-paid)."""
CS_VISIT_TYPE = f"{BASE}/CodeSystem/visit-type"
CS_CATEGORY = f"{BASE}/CodeSystem/insured-category"
CS_NHSA_AMOUNT = f"{BASE}/CodeSystem/nhsa-amount"
"""The national settlement amounts by their interface field names (medfee_sumamt, ...)."""
CS_ORDER_KIND = f"{BASE}/CodeSystem/order-kind"
EXT_ITEM_CLASS = f"{BASE}/StructureDefinition/item-class"
EXT_HOSPITAL_TIER = f"{BASE}/StructureDefinition/hospital-tier"
EXT_POINT_OF_SALE = f"{BASE}/StructureDefinition/point-of-sale"
EXT_PRICE_CEILING = f"{BASE}/StructureDefinition/price-ceiling"
EXT_SELFPAY_RATIO = f"{BASE}/StructureDefinition/selfpay-ratio"
EXT_ORDER_KIND = f"{BASE}/StructureDefinition/order-kind"
EXT_DEPARTMENT = f"{BASE}/StructureDefinition/department"
EXT_WINDOW = f"{BASE}/StructureDefinition/pharmacy-window"
CURRENCY = "CNY"
MAX_FEN = 10**12

_FACEPAY_ID = re.compile(r"^([a-z]{2,12})_([0-9a-f]{8,40})$")
_FHIR_ID = re.compile(r"^([a-z]{2,12})-([0-9a-f]{8,40})$")
_PLAIN_ID = re.compile(r"^[A-Za-z0-9.]{1,64}$")
"""Ids without `_` (the demo's and tests' `h1`) are the same on both sides."""


def fhir_id(facepay_id: str) -> str:
    """The FHIR id of a facepay id (`bil_3f..` -> `bil-3f..`)."""
    match = _FACEPAY_ID.fullmatch(facepay_id)
    if match is not None:
        return f"{match[1]}-{match[2]}"
    if _PLAIN_ID.fullmatch(facepay_id):
        return facepay_id
    raise ValueError(f"{facepay_id!r} has no FHIR form")  # a programming error, not input


def facepay_id(value: str, *, kind: str | None = None) -> str | None:
    """The facepay id a FHIR id names (None if it names none, or one of another `kind`)."""
    match = _FHIR_ID.fullmatch(value)
    if match is not None:
        return f"{match[1]}_{match[2]}" if kind in (None, match[1]) else None
    return value if kind is None and _PLAIN_ID.fullmatch(value) else None


def money(fen: int) -> dict[str, Any]:
    """CNY Money for an amount in fen (exact: `Decimal(fen) / 100`)."""
    return {"value": Decimal(fen).scaleb(-2), "currency": CURRENCY}


def fen_of(value: object, currency: object, what: str) -> int:
    """The integer fen of a Money: CNY, at least 0, at most two decimals; anything else is
    refused, never rounded."""
    if currency not in (None, CURRENCY):
        raise InvalidInput(f"{what}: the currency is CNY", code="fhir_bad_money")
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidInput(f"{what}: a number of yuan", code="fhir_bad_money")
    try:
        fen = Decimal(value) * 100
        exact = fen == fen.to_integral_value()
    except InvalidOperation:
        exact = False
    if not exact or not 0 <= fen <= MAX_FEN:
        raise InvalidInput(
            f"{what}: yuan with at most two decimals, from 0 to {MAX_FEN // 100}",
            code="fhir_bad_money",
        )
    return int(fen)


def _no_constant(name: str) -> object:
    raise BadRequest(f"{name} is not a JSON number", code="fhir_bad_json")


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object from a request body; numbers with a fraction or exponent as `Decimal`."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest("the body is not UTF-8 JSON", code="fhir_bad_json") from None
    if not isinstance(document, dict):
        raise BadRequest("the body is not a JSON object", code="fhir_bad_json")
    return document


class ResourceInvalid(BadRequest):
    """A resource that its FHIR model refuses; `issues` name each element (at most 20)."""

    code = "fhir_invalid_resource"

    def __init__(self, message: str, issues: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.issues = issues


def parse_resource(document: Mapping[str, Any], *types: str) -> Any:
    """The R4B model of `document`, whose resourceType is one of `types` (400 otherwise)."""
    kind = document.get("resourceType")
    if kind not in types:
        raise BadRequest(
            f"resourceType: {' or '.join(types)} expected here", code="fhir_wrong_type"
        )
    model = model_of(str(kind))
    try:
        return model.model_validate(dict(document))
    except ValidationError as error:
        issues = [
            (".".join(str(part) for part in e.get("loc", ())), str(e.get("msg", "")))
            for e in error.errors()[:20]
        ]
        # The values are never echoed back: they may hold ID numbers.
        raise ResourceInvalid(f"the {kind} does not conform to FHIR R4", issues) from None
    except (TypeError, AttributeError, ValueError, KeyError, IndexError, RecursionError):
        # Some of the models' validators fail this way on values of the wrong shape (an object
        # where a string belongs): still the client's malformed resource, never a 500.
        raise ResourceInvalid(f"the {kind} does not conform to FHIR R4", []) from None


@functools.cache
def model_of(resource_type: str) -> Any:
    """The R4B model class of a resource type (looked up once: the lookup imports)."""
    return get_fhir_model_class(resource_type)


def emit(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without its None elements, once its R4B model has validated it: raises if
    facepay built something that is not valid FHIR. (The model's own serialisation would say
    the same in another spelling at twice the cost; what was validated is what is sent.)"""
    cleaned: dict[str, Any] = _without_none(resource)
    model_of(cleaned["resourceType"]).model_validate(cleaned)
    return cleaned


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


def dumps(resource: Mapping[str, Any]) -> bytes:
    """The bytes of an emitted resource (UTF-8, no ASCII escapes: Chinese names stay legible)."""
    # A Decimal of at most 15 significant digits (every amount here) prints exactly as float.
    text = json.dumps(resource, ensure_ascii=False, separators=(",", ":"), default=_number)
    return text.encode("utf-8")


def _number(value: object) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def reference_id(reference: object, kind: str) -> str | None:
    """The FHIR id in a literal reference `Kind/<id>` (or a full URL ending so), else None."""
    if not isinstance(reference, str):
        return None
    head, _, tail = reference.rstrip("/").rpartition("/")
    if not head or head.rsplit("/", 1)[-1] != kind or not tail:
        return None
    return tail


def extension_value(extensions: object, url: str, key: str) -> object:
    """The `key` value of the extension `url` in a list of extensions, or None."""
    for extension in extensions if isinstance(extensions, list) else ():
        if isinstance(extension, Mapping) and extension.get("url") == url:
            return extension.get(key)
    return None
