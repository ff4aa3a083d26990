"""The stable error codes: what each one means, and where the source raises it.

Every refusal carries a stable code: the problem `type` is `urn:facepay:problem:<code>` and the
`code` field repeats it. The codes are string literals in the source. `scan_source` finds them
with `ast`, `MEANINGS` says what each one means to a caller, `render_markdown` writes the table of
docs/errors.md (`scripts/error-codes`), and tests/unit/test_error_catalogue.py keeps the three in
step: a new code without a meaning, or a meaning whose code is gone, fails the test.

Where `scan_source` looks for a code:

- `code = "..."` class attributes of `FacepayError` subclasses (the class's default code);
- `code="..."` keyword arguments of calls to those classes, of `super().__init__(...)` inside one,
  and a module constant passed instead of a literal (`code=DUPLICATE_FACE`);
- literal arguments of module-level helpers that pass their own `code` parameter on to such a
  class (`_fail("bad_signature", ...)` in facepay.access.signing);
- literal codes given to `problem_response(status, code, ...)`, which the middleware and the
  framework's handlers in facepay.api call directly;
- f-strings (`code=f"bill_{posted.status}"`): a template with `{}` for each hole, and
  `TEMPLATES` lists the codes each one can produce.

The HTTP status of a class comes from reading `STATUS_BY_ERROR` in facepay/api/problems.py (most
specific class first, 400 for a class it does not list, as `status_of` does). Reading, not
importing: this module stays standard library only, like the rest of `facepay.shared`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "MEANINGS",
    "RAW_PROBLEM",
    "TEMPLATES",
    "CodeUse",
    "Scan",
    "package_root",
    "render_markdown",
    "scan_source",
]

BASE_ERROR: Final = "FacepayError"
RAW_PROBLEM: Final = "problem_response"
"""The 'class' of a code that `problem_response` writes without an exception."""
_UNLISTED_STATUS: Final = 400  # what problems.status_of answers for a class it does not list

TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    # services.bills and services.refunds: the bill's status (open, paid, refunded) when the
    # request needs another one.
    "bill_{}": ("bill_open", "bill_paid", "bill_refunded", "bill_cancelled"),
    # services.support.LivenessRefused: only a decision other than `live` is refused.
    "liveness_{}": ("liveness_retry", "liveness_spoof"),
}

MEANINGS: Final[dict[str, str]] = {
    # -- authentication: staff tokens and logins (401) --
    "account_disabled": (
        "The staff account was disabled or deleted, so its tokens stop working at once; ask the "
        "hospital's admin."
    ),
    "invalid_credentials": (
        "The user name or password is wrong (the answer does not say which); check both and "
        "log in again."
    ),
    "no_credentials": (
        "The request carries neither a Bearer token nor terminal signature headers; a staff "
        "client logs in, a terminal signs every request."
    ),
    "no_token": (
        "This endpoint is for staff and no `Authorization: Bearer <token>` header was sent; "
        "log in at POST /v1/auth/login first."
    ),
    "token_bad_algorithm": (
        "The token is not signed with the algorithm this server issues (HS256); use the token "
        "from POST /v1/auth/login unchanged."
    ),
    "token_bad_claims": (
        "The token's claims are invalid (role, subject, hospital, or a lifetime longer than this "
        "server issues); log in again."
    ),
    "token_bad_signature": (
        "The token's signature does not verify: it was altered or issued with another secret; "
        "log in again."
    ),
    "token_expired": "The token has expired (they last 15 minutes by default); log in again.",
    "token_malformed": (
        "The Authorization header or the token cannot be read; send "
        "`Authorization: Bearer <token>` with the token exactly as issued."
    ),
    "token_not_yet_valid": (
        "The token's not-before time lies in the future; check the client's clock and log in again."
    ),
    "token_stale": (
        "The account's role or hospital changed after the token was issued; log in again."
    ),
    "token_wrong_audience": (
        "The token was issued for another audience, not this facepay API; log in here."
    ),
    "token_wrong_issuer": "The token was issued by another server; log in at this one.",
    "unauthorized": "The caller could not be authenticated; sign the request or log in again.",
    "unknown_staff": (
        "The token names a staff account that does not exist (any more); log in with a valid "
        "account."
    ),
    # -- authentication: terminal request signing (401) --
    "bad_signature": (
        "The Ed25519 signature does not verify: wrong key, or the method, path, query, "
        "timestamp or nonce differ from what was signed; sign exactly the request you send."
    ),
    "body_digest_mismatch": (
        "The body is not the one whose SHA-256 was signed (changed or cut on the way); hash the "
        "exact bytes you send."
    ),
    "malformed_signature_headers": (
        "A signing header is missing, repeated or breaks its grammar; send the five "
        "X-Facepay-* headers once each."
    ),
    "nonce_replayed": (
        "This terminal already used this nonce within the replay window; use a fresh nonce for "
        "every request, retries included."
    ),
    "replay_cache_full": (
        "Too many live nonces are stored for this terminal, so the server refuses rather than "
        "forget one; slow down and retry in a few minutes."
    ),
    "timestamp_out_of_window": (
        "The signed timestamp is further from the server's clock than "
        "FACEPAY_REQUEST_MAX_SKEW_SECONDS (300 s by default); synchronise the terminal's clock "
        "(NTP) and sign again."
    ),
    "unknown_terminal": (
        "No active terminal has this id (never registered, or revoked); ask the hospital's admin "
        "to register it."
    ),
    # -- authorisation (403) --
    "amount_unknown": (
        "A refund was checked without its amount, so it is refused (fail closed); this is a "
        "server defect, report it."
    ),
    "cross_hospital": "The object belongs to another hospital; act only on your own hospital's.",
    "forbidden": "The caller is authenticated but not allowed to do this.",
    "permission_denied": (
        "The caller's role or terminal kind does not allow this action (a platform operator "
        "takes part in no hospital's flows; only an `his` terminal or staff post bills)."
    ),
    "refund_limit_exceeded": (
        "The refund is above the cashier's limit (FACEPAY_CASHIER_REFUND_LIMIT_FEN); ask a "
        "hospital admin to make it."
    ),
    # -- not found (404) --
    "not_found": (
        "No such object is visible to the caller (it does not exist, or belongs to another "
        "hospital), or no such route; check the id and the path."
    ),
    # -- rate limits and request shape (400, 405, 413, 422, 429) --
    "bad_cursor": (
        "The `after` cursor is not one this server handed out for this listing; send back the "
        "`next` of the previous page unchanged, or omit it for the first page."
    ),
    "body_too_large": (
        "The request body is above the limit (8 MiB by default, FACEPAY_API_MAX_BODY_BYTES); "
        "send fewer or smaller JPEG frames."
    ),
    "duplicate_header": (
        "A header that must appear once (Idempotency-Key) appears several times; send it once."
    ),
    "http_error": (
        "The web framework refused the request before facepay saw it (status as given); fix the "
        "request line or headers."
    ),
    "internal_error": (
        "Something failed on the server's side (the server's log has the details, the client gets "
        "none); retry later and report it if it repeats."
    ),
    "method_not_allowed": "The path exists but not with this HTTP method; check the API guide.",
    "rate_limited": (
        "Too many requests from this terminal, staff member or login name; wait the "
        "Retry-After seconds, then retry."
    ),
    "validation_error": (
        "The body, path, query or a header does not match the schema (the `errors` list names "
        "each field, never echoing its value); fix those fields."
    ),
    # -- input: general (422) --
    "bad_amount": (
        "An amount is not a positive number of fen (a refund of nothing, or a negative refund "
        "limit); send whole fen above zero."
    ),
    "bad_base64": "An image field is not valid standard base64; encode the file's bytes again.",
    "bad_reach": (
        "A consent's reach is `region` (every site of the region may match the face) or `site` "
        "(only the enrolling site); leave it out for the site's default."
    ),
    "bad_site_kind": (
        "A site is a `hospital`, a `pharmacy` or a `service_centre`; only a hospital has a tier "
        "(`primary`, `secondary` or `tertiary`)."
    ),
    "bad_id": (
        "A hospital id would be `platform`, the name of the platform's own audit chain; choose "
        "another id."
    ),
    "bad_id_card": (
        "The ID card data is inconsistent (sex or birth date do not fit the ID number, or the "
        "name is empty, too long or not printable); read the card again."
    ),
    "bad_id_number": (
        "The 18-character ID number is malformed or its GB 11643 check digit is wrong; read "
        "the card again."
    ),
    "bad_key": (
        "The key is not an Ed25519 key (a public key as PEM or base64 raw, or a readable private "
        "key PEM); export the terminal's key again."
    ),
    "bad_kind": (
        "The terminal kind is not one facepay knows; register it as `kiosk`, `window` or `his`."
    ),
    "bad_line_codes": (
        "The refund names line codes that are not on the bill; send codes of the bill's lines."
    ),
    "bad_password_hash": (
        "A staff password hash is not an argon2id hash; this is a server defect, report it."
    ),
    "bad_phone": "The phone number is not 11 digits; send the mobile number without spaces.",
    "bad_principal": (
        "An internal check on the caller failed (staff without a role, or a platform operator "
        "with a hospital); this is a server defect, report it."
    ),
    "bad_public_key": (
        "The public key to register is not a 32-byte Ed25519 key; send the terminal's public "
        "key as PEM or base64 raw."
    ),
    "bad_role": (
        "The role is unknown, or does not fit the account (a platform operator belongs to no "
        "hospital, every other role to one); choose a listed role."
    ),
    "bad_service_date": (
        "The bill's service date is in the future or older than FACEPAY_BILL_MAX_AGE_DAYS (730 "
        "by default), or an inpatient charge's is outside the stay (admission to today); send "
        "the real date of the visit."
    ),
    "bad_signing_input": (
        "The terminal client was asked to sign a request whose terminal id, method, path, "
        "timestamp, nonce or digest breaks the signing grammar; fix the request before signing."
    ),
    "empty_bill": "The bill comes to 0 fen; post bills with something to pay.",
    "invalid_input": (
        "The input is malformed or unsafe; the detail names the field and the rule it breaks."
    ),
    "unknown_category": (
        "The person category is not one any loaded policy covers; use a category of the "
        "region's policies (e.g. employee_active, resident)."
    ),
    "unsafe_details": (
        "Audit details would have held an unmasked ID number, a biometric field, binary or "
        "image data, floats or over-long text, so they are refused; a server defect to report."
    ),
    "weak_password": "The password has fewer than 12 or more than 1024 characters; choose another.",
    # -- input: images and captures (422, 503) --
    "busy": (
        "Every place for a capture was taken for 30 s; nothing was read or done, retry after the "
        "Retry-After seconds."
    ),
    "capture_too_large": (
        "The capture's frames hold too many pixels in all (as sent, or once scaled to 640 px); "
        "send fewer or smaller frames."
    ),
    "challenges_full": (
        "Too many liveness challenges are open at once; retry after the Retry-After seconds."
    ),
    "image_rejected": (
        "An image cannot be decoded safely (corrupt, truncated, unsupported format or above "
        "the pixel limit); send a JPEG or PNG of normal size."
    ),
    "too_many_frames": (
        "The capture has more frames than allowed (60 by default, FACEPAY_API_MAX_FRAMES); "
        "send fewer frames."
    ),
    # -- faces, liveness and enrolment (409, 422) --
    "already_enrolled": (
        "This person already has a face template at this hospital; withdraw consent first to "
        "enrol again."
    ),
    "duplicate_face": (
        "The face matches another person already enrolled (an alert goes to a supervisor); do "
        "not enrol, check the patient's identity at the desk."
    ),
    "face_id_mismatch": (
        "The live face does not match the ID card's chip photo (1:1 below the threshold); the "
        "card may not be the patient's: check it at the desk."
    ),
    "id_card_mismatch": (
        "The ID card data does not match the person the registry holds for that number; check "
        "the card at the desk."
    ),
    "liveness_retry": (
        "The capture did not show a live face clearly enough (no challenge nonce, challenge "
        "expired, capture too short, action missed); show the patient `detail`, then take a "
        "new challenge and capture again."
    ),
    "liveness_spoof": (
        "The capture looks like a presentation attack (photo, screen, mask, face swap) or a "
        "replay (unknown or used challenge nonce, frames older than the challenge); serve the "
        "patient at the desk."
    ),
    "no_face": (
        "No usable face was found in the frames; ask the patient to face the camera and capture "
        "again."
    ),
    "no_face_on_id": (
        "No face was found on the ID card's chip photo; read the card again, or enrol at the desk."
    ),
    # -- identification and second factor (404, 409, 422) --
    "credentials_failed": (
        "The ID number and insurance card number do not identify an insured person together; "
        "check both."
    ),
    "identification_expired": (
        "The identification is older than FACEPAY_IDENTIFICATION_TTL_SECONDS (180 s by "
        "default); identify the patient again."
    ),
    "identification_used": (
        "The identification already paid a bill (it is single-use); identify the patient again "
        "for the next payment."
    ),
    "not_ambiguous": (
        "A second factor was sent for an identification that did not ask for one; pay with it "
        "directly."
    ),
    "second_factor_failed": (
        "The last four characters of the phone or ID number do not match; ask the patient again "
        "(an ambiguous identification allows 3 tries)."
    ),
    "second_factor_locked": (
        "Three wrong second factors for this identification; identify the patient again, or "
        "serve them at the desk."
    ),
    "second_factor_required": (
        "The bill is at or above the face-payment limit (FACEPAY_FACE_PAY_LIMIT_FEN, or "
        "FACEPAY_FACE_PAY_LIMIT_PHARMACY_FEN at a pharmacy), so the payment needs `second_factor`."
    ),
    "wrong_patient": (
        "The identification is of another person than the bill's patient; identify the right "
        "patient."
    ),
    # -- bills, payments and refunds (409, 422) --
    "bill_open": "The bill is not paid yet, so there is nothing to refund.",
    "bill_paid": (
        "The bill is already paid (with another idempotency key); fetch it instead of paying again."
    ),
    "bill_refunded": "The bill was refunded; it cannot be paid, pre-settled or refunded again.",
    "bill_cancelled": (
        "The bill was the registration fee of a booking cancelled before the fee was paid; "
        "there is nothing to pay or refund."
    ),
    "conflict": "The current state of the object forbids the request; read it and decide again.",
    "bad_request": "The request cannot be parsed at all; fix its form before its content.",
    "unsupported_media_type": "The body is of a media type this operation does not read.",
    "not_acceptable": "The Accept header names no media type this operation answers with.",
    "precondition_failed": "A condition the request set in a header does not hold.",
    "fhir_bad_json": "The FHIR request body is not a UTF-8 JSON object (NaN and Infinity are "
    "not numbers).",
    "fhir_wrong_type": "The resource is not of the type this FHIR interaction takes.",
    "fhir_invalid_resource": (
        "The resource does not conform to FHIR R4; the OperationOutcome names each element."
    ),
    "fhir_bad_search": (
        "A FHIR search parameter is malformed, repeated, out of range (`_count`) or missing "
        "where the search needs it."
    ),
    "fhir_unknown_parameter": (
        "The resource type has no such search parameter here; the facade refuses rather than "
        "ignores it (the CapabilityStatement lists the supported ones)."
    ),
    "fhir_bad_date": "A FHIR `date` parameter: [eq|ge|le|gt|lt]YYYY[-MM[-DD[Thh:mm:ss+zz:zz]]].",
    "fhir_bad_page": "The `_page` cursor was not made by this server; follow the Bundle's links.",
    "fhir_bad_format": "`_format` asks for something other than JSON; the facade answers JSON.",
    "fhir_unsupported_media_type": "Send FHIR bodies as application/fhir+json or application/json.",
    "fhir_not_acceptable": "The facade answers application/fhir+json; accept it (or */*).",
    "fhir_precondition_failed": (
        "If-None-Exist names something other than the pushed Invoice's identifier (the push is "
        "idempotent on the identifier already)."
    ),
    "fhir_bad_invoice": (
        "The pushed Invoice or its ChargeItems break a rule of the facade (docs/fhir.md: one "
        "identifier, status issued, visit type, item class, priceOverride, one visit day)."
    ),
    "fhir_bad_money": (
        "A FHIR Money is not CNY yuan with at most two decimals between 0 and 10^10: it is "
        "refused, never rounded."
    ),
    "fhir_unknown_patient": "The Invoice's subject names no patient id of this site.",
    "fhir_bad_claim": (
        "The preauthorization Claim names no Invoice (supportingInfo valueReference), several, "
        "or a patient other than the Invoice's."
    ),
    "fhir_claim_use": (
        "Only Claims of use = preauthorization are accepted; a bill is settled by paying it."
    ),
    "fhir_day_too_large": (
        "The day has more settlements and reversals than one PaymentReconciliation holds "
        "(FACEPAY_FHIR_RECONCILIATION_MAX_DETAILS); page through Claim searches by date."
    ),
    "fhir_bad_subscription": (
        "The Subscription is not one the facade makes: channel.type rest-hook, payload "
        "application/fhir+json or none, no channel.header or end, status requested."
    ),
    "fhir_unsupported_criteria": (
        "Subscription criteria: PaymentNotice?, Invoice?, Invoice?status=balanced, "
        "Invoice?status=cancelled or MedicationDispense?."
    ),
    "fhir_bad_endpoint": (
        "The subscription endpoint is not an http(s) URL of ASCII characters without user, "
        "password or fragment."
    ),
    "fhir_endpoint_not_allowed": (
        "The installation does not post to that host; its operator lists the hosts in "
        "FACEPAY_FHIR_SUBSCRIPTION_ALLOWED_HOSTS (loopback only by default)."
    ),
    "fhir_too_many_subscriptions": (
        "The site holds FACEPAY_FHIR_SUBSCRIPTIONS_PER_SITE live subscriptions; delete one first."
    ),
    "his_bill_differs": (
        "The hospital system pushed this Invoice identifier before with other content; a "
        "repeat must be identical, a new bill needs a new identifier."
    ),
    "duplicate_bill": (
        "A bill with this external_ref already exists at this hospital; send each bill once, or "
        "fetch the existing one."
    ),
    "idempotency_conflict": (
        "The idempotency key was already used for a different request; use a new key for a new "
        "request and the same key only to retry the same one."
    ),
    "insufficient_funds": (
        "A bounded ledger account would go below zero (e.g. a personal account or fund pool); "
        "nothing was moved."
    ),
    "not_insured": (
        "No insured person is registered with this ID number; the platform operator loads the "
        "registry."
    ),
    "policy_error": (
        "No insurance policy covers the bill (category, visit type, hospital tier or service "
        "date); check the bill against the region's policies."
    ),
    # -- the hospital system's HL7 v2 interface (answered in the ACK's ERR segment) --
    "bad_his_patient_id": (
        "The hospital system's patient id (PID-3, type MR) is empty, longer than 64 characters "
        "or holds control characters; send its medical record number."
    ),
    "his_name_mismatch": (
        "The name in PID-5 is not the name the insurance registry holds for that ID number: "
        "nothing was linked; check that the right patient was registered in the HIS."
    ),
    "hl7_duplicate": (
        "A message with this MSH-10 from this sender was stored already (a concurrent copy "
        "won); it is answered with the ACK stored with it."
    ),
    "no_such_bill": (
        "No open bill of this patient has that visit number (PV1-19, and ORC-4 when given): send "
        "the visit's charges (DFT^P03) before its orders."
    ),
    # -- pharmacy dispensing and exams (403, 409, 422, 429) --
    "bad_line_order": (
        "A bill line's order data is wrong: an unknown kind, an exam or lab line without its "
        "department or ordering doctor, or order data for a line the bill does not have."
    ),
    "bad_ordering_doctor": (
        "ordered_by is not the staff id of an active doctor of this hospital; send the ordering "
        "doctor's staff id."
    ),
    "duplicate_order": "The bill has a dispensing order for this window already.",
    "duplicate_request": "The bill line has a service request already.",
    "unknown_order_line": (
        "The request names a line that is not on this dispensing order, or names a line twice."
    ),
    "order_done": "Everything on this dispensing order was handed over or returned already.",
    "line_returned": "The line was returned (and refunded); it cannot be handed over or returned.",
    "line_handed_over": (
        "Some of the line was handed over, so it cannot be returned: only lines not dispensed "
        "at all are refunded."
    ),
    "bad_handed_quantity": (
        "A handed-over quantity is 0 or more than is left of the line; send what was handed over."
    ),
    "too_many_streams": (
        "This hospital holds its limit of pharmacy window event streams on this server; close "
        "one or retry after Retry-After seconds."
    ),
    "request_checked_in": "The patient has checked in for this exam already.",
    "request_not_checked_in": "The patient has not checked in for this exam yet.",
    "request_done": "The exam was marked done already.",
    "request_not_done": "The department has not marked the exam done yet; record the result after.",
    "request_refunded": "The exam was refunded since it was paid; it is not performed.",
    "result_recorded": "A result was recorded for this exam already.",
    "result_not_ready": "The result of this exam has not come back yet.",
    "not_the_ordering_doctor": "Only the doctor who ordered the exam reads its result.",
    "identification_required": (
        "This step needs an identification of the patient (or their proxy) from this terminal: "
        "send identification_id (results at a kiosk, a deposit at a terminal, cancelling a "
        "booking; only the HIS cancels without one)."
    ),
    "bad_report": (
        "The report is wrong: an empty or over-long summary, control characters, an unknown "
        "conclusion, or performed_at in the future."
    ),
    "bad_image_ref": (
        "image_ref is neither a DICOM Study Instance UID nor an http(s), dicomweb or wado URL."
    ),
    "embedded_image": (
        "The report carries what looks like image data (a data: URL or a long base64 run); send "
        "a reference to the images, never the images."
    ),
    # -- appointments (403, 409, 422) --
    "bad_policy": (
        "A booking-policy value is out of range: limits 1 to 50 (per day no more than per week), "
        "seconds and minutes 0 to 86400, the release window's minimum no more than its maximum."
    ),
    "bad_schedule": (
        "The session cannot be opened as sent: a custom period needs start and end times, the "
        "end must follow the start and not be past, the fee must stay below the face-payment "
        "limit, and a site without a registered tier must give hospital_tier (one with a tier "
        "must not give another)."
    ),
    "duplicate_schedule": (
        "This doctor already has a session of this department starting at that time on that "
        "day; change the existing one's bookings instead of opening it twice."
    ),
    "booking_identity": (
        "A booking needs exactly one proof of who books: an identification_id (face or card at "
        "this site) or, from the HIS only, an id_number."
    ),
    "his_channel_only": (
        "Only a terminal of kind `his` may book by ID number (the hospital system verified the "
        "person); kiosks, windows and staff book with an identification."
    ),
    "session_full": (
        "Every slot of the session is taken (cancelled slots come back only after a random "
        "delay, and never once the session has begun); choose another session."
    ),
    "session_started": "The session has started: it can no longer be booked.",
    "already_booked": "The person already holds a booking of this session.",
    "booking_limit_day": (
        "The person already holds as many bookings in this department on that day as the "
        "site's policy allows (default 1)."
    ),
    "booking_limit_week": (
        "The person already holds as many bookings at this site in that week (Monday to "
        "Sunday) as the site's policy allows (default 3)."
    ),
    "appointment_cancelled": "The booking was cancelled; it cannot be cancelled again or used.",
    "appointment_checked_in": (
        "The patient has checked in already (with another identification); the booking can no "
        "longer be cancelled or checked in again."
    ),
    "check_in_not_open": (
        "Check-in for this session has not opened yet (it opens the policy's "
        "check_in_early_minutes before the start)."
    ),
    "session_ended": "The session is over: the booking can no longer be checked in.",
    "fee_unpaid": (
        "The booking's registration fee is unpaid and this caller cannot take payments; pay "
        "the bill at a cashier or kiosk (POST /v1/bills/{id}/payments), then check in."
    ),
    # -- inpatient stays (409, 422) --
    "already_admitted": (
        "The patient has an open stay already, at this or another site of the region; discharge "
        "it first."
    ),
    "bad_admission_date": (
        "An admission is dated today or, when recorded late, up to 7 days back."
    ),
    "attending_not_a_doctor": (
        "The attending doctor must be the staff id of an active doctor of this site."
    ),
    "bad_deposit_source": "A deposit is paid in cash or by bank card: source cash or bank.",
    "bad_diagnosis": "The admitting diagnosis needs an ICD-10 code such as J18.900 and a text.",
    "bad_hospital_tier": (
        "The hospital tier is 1, 2 or 3, and the site's own tier when it has one on record."
    ),
    "bed_occupied": "The bed holds another patient's open stay; choose another bed.",
    "bedside_checked_in": (
        "The patient was checked in at the bed today already (one check-in a stay a day)."
    ),
    "charge_reference_conflict": (
        "This charge reference was posted to the stay with other lines; send a correction under "
        "a new reference, and the same reference only to retry the same lines."
    ),
    "not_covered_inpatient": (
        "The patient's insurance policy does not cover inpatient stays for their category."
    ),
    "stay_discharged": (
        "The stay is discharged: it takes no more deposits, charges, check-ins or discharge; "
        "reverse the discharge settlement first to correct it."
    ),
    "stay_has_no_charges": "The stay has no charges yet: there is nothing to settle.",
    "stay_not_discharged": "The stay has no discharge settlement to reverse.",
    # -- administration (409, 422) --
    "already_registered": (
        "A person with this ID number is already in the registry; register each person once."
    ),
    "duplicate_hospital": "A hospital with this id exists already; register it once.",
    "duplicate_template": (
        "Inside the server: the gallery already holds a template with this id; a defect to report."
    ),
    "duplicate_username": "This user name is taken; choose another one.",
    # -- storage and availability (503) --
    "storage_busy": (
        "The database could not answer in time (lock wait, deadlock, lost race, no free "
        "connection); nothing was stored, retry with the same idempotency key after Retry-After."
    ),
    "storage_unavailable": (
        "The database or the disk is full, down or unreachable; nothing was stored, retry with "
        "the same idempotency key after Retry-After."
    ),
    "unavailable": "The server cannot do it now; nothing was done, retry after Retry-After.",
    # -- backup, restore and key rotation (CLI) --
    "backup_corrupt": (
        "Backup or restore: the file is not a usable facepay backup (damaged, a folder, or rows "
        "missing from its manifest); use another backup."
    ),
    "backup_exists": "Backup: the target file exists already; give a new file name.",
    "backup_folder": "Backup: the folder to write the backup in does not exist; create it first.",
    "backup_mismatch": (
        "Restore: the backup's tables or columns are not those of its database revision; the "
        "backup is damaged or altered, use another one."
    ),
    "backup_missing": "Restore: there is no backup file at that path; check the path.",
    "backup_too_new": (
        "Restore: the backup was made by a newer facepay (a later database revision); upgrade "
        "facepay first."
    ),
    "missing_template_key": (
        "Restore or start-up: the template key file is missing; copy the backup's key (kept apart "
        "from the backups) into place with mode 0600."
    ),
    "rotation_unfinished": (
        "Key rotation: templates are still being sealed under the old key (a server has not "
        "picked up the new one); restart it, then rotate again."
    ),
    "target_not_empty": (
        "Restore: the target database already holds data; restore into an empty database, or "
        "pass --force to replace everything in it."
    ),
    # -- inside the server: gallery, audit, keys and settings (start-up, CLI, upkeep) --
    "bad_audit_entry": (
        "Inside the server: an audit entry is malformed (empty actor or action, bad details); "
        "a defect to report."
    ),
    "bad_checkpoint": (
        "Inside the server: an audit checkpoint is malformed or its signature does not verify; "
        "the audit log may have been altered."
    ),
    "bad_configuration": (
        "Start-up or CLI: a setting, the data folder or the key file is wrong; the message says "
        "what to fix."
    ),
    "bad_embedding": (
        "Inside the server: an embedding has the wrong shape, type or norm for the gallery; a "
        "defect to report."
    ),
    "bad_change": "Inside the server: a gallery snapshot change is neither an add nor a remove.",
    "bad_k": "Inside the server: a gallery search asked for a number of results below 1.",
    "bad_position": (
        "Inside the server: a gallery snapshot was given a journal position that is not an "
        "integer of 0 or more."
    ),
    "bad_scope": "Inside the server: a template's scope (hospital) is empty or malformed.",
    "bad_setting": (
        "Start-up: a setting has a value facepay cannot use (e.g. FACEPAY_DATABASE_URL, "
        "FACEPAY_GALLERY_BACKEND); the message names it."
    ),
    "already_initialised": (
        "CLI: `facepay admin init` found a platform operator already; nothing was changed, log in "
        "as that operator instead."
    ),
    "database_unreachable": (
        "Start-up or CLI: the database cannot be reached or refuses the user; check "
        "FACEPAY_DATABASE_URL and that the server runs."
    ),
    "not_initialised": (
        "Start-up: the data folder, its database or the platform operator is missing; run "
        "`facepay admin init` first."
    ),
    "database_too_new": (
        "Start-up or CLI: the database is at a migration revision a newer facepay made; run that "
        "version, or restore a backup made by this one."
    ),
    "migration_pending": (
        "Start-up: migrations on start are off and the database is behind this facepay; run "
        "`facepay admin migrate` first."
    ),
    "file_permission_denied": (
        "CLI: the operating system refused to read or write a file of the data folder; run "
        "facepay as the user that owns it."
    ),
    "bad_template_id": "Inside the server: a gallery template id is empty or malformed.",
    "bad_checkpoint_key": (
        "Audit commands: audit-checkpoint.key in the data folder is not a file of 32 bytes "
        "(the Ed25519 key that signs audit checkpoints); restore it from the backup."
    ),
    "bad_template_key": (
        "Start-up: the template key file is not a regular file or does not hold 32 bytes "
        "(AES-256); restore it from the backup."
    ),
    "facepay_error": "The base of every facepay error; not raised by itself.",
    "gallery_corrupt": (
        "Start-up: the sealed gallery file is damaged or altered; it is rebuilt from the "
        "database and the rebuild is audited."
    ),
    "gallery_missing": ("Start-up: there is no gallery file yet; it is built from the database."),
    "snapshot_missing": (
        "Start-up: there is no gallery snapshot (base and log) yet; the gallery is built from "
        "the database and a base written."
    ),
    "snapshot_position": (
        "Inside the server: a change was recorded in the gallery snapshot at a journal position "
        "before the last one recorded; nothing was written."
    ),
    "gallery_outdated": (
        "Start-up: the gallery file is of an older format; it is rebuilt from the database."
    ),
    "insecure_checkpoint_key": (
        "Audit commands: audit-checkpoint.key can be read by other users; run chmod 600 on it."
    ),
    "insecure_template_key": (
        "Start-up: template.key can be read by other users; run chmod 600 on it."
    ),
    "model_version_mismatch": (
        "Start-up: the gallery file holds embeddings of another face model version; it is "
        "rebuilt from the database."
    ),
    "template_tampered": (
        "Inside the server: a sealed template or the gallery file fails authentication (damaged "
        "or altered); the row is quarantined (the patient enrols again), the file rebuilt."
    ),
    "unknown_policy": (
        "CLI: `facepay settle --policy` names neither a policy file nor a shipped policy; give a "
        "file's path or a shipped name such as employee-2026."
    ),
    "unknown_template": "Inside the server: the gallery holds no template with this id.",
    "weak_secret": (
        "Start-up: the staff-token secret (FACEPAY_JWT_SECRET) is shorter than 32 bytes; set a "
        "long random secret."
    ),
    "wrong_template_key": (
        "Start-up or CLI: the template key file is not the key of this database; restore the "
        "right key file or point FACEPAY_TEMPLATE_KEY_FILE at it."
    ),
    # -- emergency desk and records (400, 403, 404, 409, 422) --
    "bad_emergency": (
        "An emergency record's field is out of range (visit type, sex M/F/U, estimated age 0 to "
        "130, notes up to 500 printable characters) or a charge has no lines; correct it."
    ),
    "bad_emergency_reason": (
        "An emergency identification needs a reason code (unconscious, confused, no_documents, "
        "minor_alone, other); `other` also needs a note."
    ),
    "emergency_already_merged": (
        "The emergency record was merged already; its charges are the open or paid bill named "
        "in the message (merging twice is refused, nothing changed)."
    ),
    "emergency_identification_required": (
        "The record's patient is unknown: identify them first (card, face, or an emergency "
        "identification) and send its identification_id with the merge."
    ),
    "emergency_person_mismatch": (
        "The identification is of another person than the one the record was opened for; "
        "check who the patient is."
    ),
    "emergency_record_empty": (
        "Nothing was charged to the emergency record, so there is no bill to merge; charge the "
        "treatment first (or leave the record)."
    ),
    "emergency_record_full": (
        "The emergency record holds 500 lines (or a bill's maximum amount); open another "
        "record for further charges."
    ),
    "emergency_record_inconsistent": (
        "Inside the server: an emergency record's charges do not add up to its total; nothing "
        "was merged; report it."
    ),
    "emergency_record_merged": (
        "The emergency record is merged into the person's bill and takes no more charges; "
        "charge the person's visit instead."
    ),
    "hospital_tier_required": (
        "The site has no tier on record: give the admission, or the merge of an emergency "
        "record, a hospital_tier (1, 2 or 3)."
    ),
    "not_identified": (
        "The identification found nobody (no match or ambiguous); it cannot prove whom an "
        "emergency record is for."
    ),
    # -- presence at a step of a visit, guardians and proxies --
    "not_the_patient": (
        "The person identified is neither the patient this step is for nor a proxy registered to "
        "act for them; the patient (or their registered proxy) must come in person."
    ),
    "proxy_expired": (
        "The proxy's grant for this patient has expired or was revoked; register it again at a "
        "desk."
    ),
    "proxy_act_not_granted": (
        "The proxy's grant does not cover this act (paying, collecting or checking in); register a "
        "grant that does."
    ),
    "staff_confirmation_required": (
        "An ID number and insurance card alone are not enough for this step at a terminal: a "
        "member of staff confirms who the patient is, or the patient uses their face."
    ),
    "patient_in_person": (
        "This step proves the patient is there (the daily bedside check-in): a proxy cannot do "
        "it for them; identify the patient."
    ),
    "proxy_not_identified": "The proxy's identification found nobody; identify the proxy again.",
    "proxy_already_granted": (
        "This proxy already holds a live grant for the patient; revoke it before registering a "
        "new one."
    ),
    "self_proxy": "A person cannot be registered as their own proxy.",
    "bad_relation": "The relation is not one of parent, guardian, spouse, child, relative, carer.",
    "bad_basis": "The basis is not one of patient_consent, parent_of_minor, court_order.",
    "bad_acts": "The acts are not a non-empty subset of pay, collect, check_in.",
    "bad_period": "The grant would end before it begins.",
    "bad_evidence": "The evidence reference is empty, too long or not printable.",
    "patient_is_minor": (
        "A patient under 18 cannot consent to a proxy: register the parent (parent_of_minor) or "
        "the guardian's court order."
    ),
    "patient_consent_missing": (
        "A grant on the patient's consent needs the patient's own identification at the desk."
    ),
    "patient_not_minor": "The patient is an adult: a parent's grant does not apply.",
    "grant_too_long": (
        "The grant lasts longer than its basis allows (a year on consent, the 18th birthday for a "
        "parent, three years for a court order)."
    ),
    "evidence_missing": (
        "A parent's or a court's grant names its evidence (household register or court order "
        "number)."
    ),
    "bad_person_ids": "A 1:1 check names 1 to 5 persons to compare the face with.",
    "cancel_the_booking": (
        "The bill is a booking's registration fee: cancel the booking, which refunds the fee if "
        "it is cancelled in time and frees the slot."
    ),
    "duplicate_line_code": (
        "Two lines of the bill have the same code; a refund, a pick-up or an exam names its line "
        "by code, so give each line its own (add the quantities of one item into one line)."
    ),
    "bad_year": "The year is before 2000 or after next year.",
    # The offline protocol (facepay.terminal.protocol) between terminal and server.
    "offline_document_malformed": (
        "Offline sync: a voucher or signed document is not the protocol's shape (a field missing, "
        "extra or of the wrong type, not base64, too large); nothing was stored."
    ),
    "offline_signature_bad": (
        "Offline sync: the document's Ed25519 signature does not verify with the key of the "
        "terminal (a voucher) or the server (limits) that should have signed it."
    ),
    "offline_document_kind": "Offline sync: the signed document is another kind than expected.",
    "bad_offline_limits": (
        "Offline limits: a limit is missing or out of its range (amounts in whole fen, counts and "
        "seconds in the documented bounds)."
    ),
    "bad_sealing_key": "Offline sync: the terminal's sealing key is not a raw X25519 public key.",
    "offline_seal_bad": (
        "Terminal: the offline library does not open with this terminal's sealing key (altered, "
        "or sealed to another terminal or version); the agent fetches it again."
    ),
    # Offline payment, the server side (facepay.services.offline_*).
    "offline_limit_above_face_limit": (
        "per_payment_fen reaches the site's face-payment limit: offline there is no second "
        "factor, so an offline payment must stay below it."
    ),
    "voucher_exists": (
        "Another request decided this voucher (or its counter) at the same moment; send it "
        "again to read its result."
    ),
    "voucher_not_reviewable": (
        "Only a quarantined voucher that nobody reviewed yet can be posted or rejected."
    ),
    "bad_review": "A review decision is post or reject, with a note of at most 300 characters.",
    # What offline payment and discharges leave to settle at the window (services.balances).
    "arrears_exceeded": (
        "The repayment is more than the patient's arrears repayable at the window (read "
        "GET /v1/patients/{id}/balances; a merged emergency record's arrears are paid with its "
        "bill); nothing was taken."
    ),
    "refund_due_exceeded": (
        "The payout is more than the refund due to the patient (read "
        "GET /v1/patients/{id}/balances); nothing was paid."
    ),
    "bad_method": "A repayment or payout is made in cash or by bank.",
    "no_offline_signing_key": (
        "Inside the server: this process was built without an offline signing key, so it "
        "issues no offline packages."
    ),
    "bad_offline_signing_key": (
        "Start-up or first package: offline-signing.key is not a file of 32 bytes (the Ed25519 "
        "key that signs offline limits); restore it from the backup."
    ),
    "insecure_offline_signing_key": (
        "offline-signing.key is readable by other users; run chmod 600 on it."
    ),
    # -- the terminal agent (`facepay terminal`, its local API; docs/terminal.md) --
    "offline_package_bad": (
        "The offline package is not this terminal's, or its library is not the one the signed "
        "limits name, or it is malformed: it is refused and the last good one stays in force."
    ),
    "terminal_agent_running": (
        "Another terminal agent runs on this data folder: one agent per folder."
    ),
    "terminal_data_missing": "The terminal agent's data folder, or its store, is not there.",
    "terminal_data_open": (
        "The terminal agent's data folder or store can be read by other users: chmod 700 the "
        "folder, 600 the file."
    ),
    "terminal_data_other": "The terminal agent's data folder belongs to another terminal.",
    "terminal_data_unreadable": "The terminal agent's store file is not a store of this version.",
    "terminal_key_bad": (
        "The terminal's key file is missing, readable by others or not a key of the right kind."
    ),
    "terminal_listen_bad": "The terminal agent's local API listens on a loopback HOST:PORT only.",
    "terminal_sealing_refused": "The server refused the terminal's sealing key.",
    "terminal_storage_full": (
        "The terminal's disk is full: nothing was recorded and the payment was not taken."
    ),
    # -- the national medical-insurance platform (settlement_platform=nhsa; docs/nhsa.md) --
    "nhsa_unavailable": (
        "The national insurance platform did not answer; whatever the message did there was "
        "reversed (2601), so nothing was paid on either side: retry after Retry-After with the "
        "same idempotency key."
    ),
    "nhsa_unconfirmed": (
        "The national insurance platform did not answer and its reversal did not get through "
        "either, so nothing was paid in facepay: run `facepay nhsa recover`, then retry with the "
        "same key (the platform's side is checked before anything is sent again)."
    ),
    "nhsa_bad_answer": (
        "The national insurance platform answered success with an output facepay cannot read; "
        "a settlement is reversed, nothing is paid: retry later, and report it if it persists."
    ),
    "nhsa_refused": (
        "The national insurance platform refused the message (its infcode and text are in "
        "the detail, e.g. the person is not insured there); nothing was applied on either side."
    ),
    "nhsa_in_progress": (
        "Another request is settling this payment with the national platform right now; retry "
        "in a moment with the same idempotency key (it will find that settlement)."
    ),
    "nhsa_unbookable_split": (
        "The national platform's split does not add up, or pays from a fund facepay's ledger "
        "has no account for (civil-servant subsidy, enterprise supplement, large-expense fund, "
        "hospital part); it was cancelled there and nothing was paid."
    ),
    "nhsa_site_not_registered": (
        "This site has no national institution code (fixmedins_code) yet: the operator runs "
        "`facepay nhsa register-site` before its bills can settle on the national platform."
    ),
    "nhsa_bad_institution": (
        "CLI: the institution code must be 12 letters and digits, the area 6 digits, the name "
        "1 to 200 characters, the site an existing one and the code not another site's."
    ),
    "nhsa_not_configured": (
        "Start-up or CLI: FACEPAY_NHSA_URL is not set, so the national platform's client "
        "cannot be built."
    ),
    "nhsa_bad_amount": (
        "An amount is not a whole number of fen, or a quantity has more than 4 decimals: the "
        "national interface carries yuan with two decimals and quantities with four."
    ),
    "nhsa_bad_message": (
        "A national-interface message is not JSON or misses a field (the detail names it); "
        "the simulator answers it with infcode -1."
    ),
    "nhsa_unsupported": (
        "A transaction number facepay's NHSA client and simulator do not speak, or a 3202 "
        "answer without inline rows (the real platform's result file needs 9102)."
    ),
    "nhsa_bad_people_file": (
        "CLI: `facepay nhsa simulate --people` takes a JSON list of "
        "{certno, name, category, balance_fen}."
    ),
    "bad_his_day": (
        "CLI: `facepay reconcile --his` takes the HIS's day as a FHIR R4 PaymentReconciliation: "
        "each detail with the HIS's invoice identifier, type payment or adjustment, and a CNY "
        "amount; the message names the detail that is not."
    ),
    "bad_date": "CLI: a day is written YYYY-MM-DD (`facepay reconcile --date 2026-12-01`).",
    "stay_changed": (
        "Charges were added to the stay while the national platform settled it; that "
        "settlement was cancelled there, so discharge again."
    ),
    "refund_at_the_cashier": (
        "Bills settled by the national platform are refunded at the cashier (POST "
        "/v1/bills/{id}/refunds), which cancels them there first; pharmacy returns and booking "
        "cancels cannot refund them yet."
    ),
}


@dataclass(frozen=True)
class CodeUse:
    """One code: the exception classes that carry it, their HTTP statuses, the files."""

    code: str
    classes: tuple[str, ...]
    """Exception class names; `RAW_PROBLEM` for an answer written without an exception."""
    statuses: tuple[int, ...]
    """HTTP statuses; empty when the framework chooses it (`http_error`)."""
    files: tuple[str, ...]
    """Where it appears, relative to the folder that holds the package (`facepay/...`)."""


@dataclass(frozen=True)
class Scan:
    """What `scan_source` found."""

    codes: dict[str, CodeUse]
    """Every code, templates expanded through `TEMPLATES`."""
    templates: dict[str, tuple[str, ...]]
    """f-string templates (`bill_{}`) and the files they appear in."""
    unresolved: tuple[str, ...]
    """`file:line` of code arguments that are neither a literal, a constant, an f-string nor a
    parameter passed on: the catalogue cannot see those codes."""
    error_classes: dict[str, str]
    """Every `FacepayError` subclass found (and the base), by name: the module defining it."""


def package_root() -> Path:
    """The `facepay` package folder this module belongs to."""
    return Path(__file__).resolve().parent.parent


@dataclass
class _Module:
    name: str
    path: str
    tree: ast.Module
    constants: dict[str, str] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # local -> (module, name)
    helpers: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (class, index)


@dataclass
class _Found:
    classes: set[str] = field(default_factory=set)
    statuses: set[int] = field(default_factory=set)
    files: set[str] = field(default_factory=set)


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def _class_code(node: ast.ClassDef) -> str | None:
    for item in node.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(item, ast.Assign) and len(item.targets) == 1:
            target, value = item.targets[0], item.value
        elif isinstance(item, ast.AnnAssign):
            target, value = item.target, item.value
        if (
            isinstance(target, ast.Name)
            and target.id == "code"
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    return None


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "super"
    )


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _argument(call: ast.Call, *, name: str, index: int) -> ast.expr | None:
    """The argument `name`, given by keyword or as positional argument `index`."""
    passed = _keyword(call, name)
    if passed is not None:
        return passed
    if index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[:index]):
        return call.args[index]
    return None


def _template(node: ast.JoinedStr) -> str:
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(value.value)
        else:
            parts.append("{}")
    return "".join(parts)


class _Scanner:
    """Two passes over the parsed package: declarations first, then every use of a code."""

    def __init__(self, root: Path) -> None:
        self._modules: dict[str, _Module] = {}
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root.parent)
            dotted = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            self._modules[dotted] = _Module(dotted, relative.as_posix(), tree)
        self._bases: dict[str, list[str]] = {}
        self._codes: dict[str, str] = {}
        self._declared_in: dict[str, str] = {}
        self.defined_in: dict[str, str] = {}
        self._status_table: list[tuple[str, int]] = []
        self.errors: set[str] = {BASE_ERROR}
        self.found: dict[str, _Found] = {}
        self.templates: dict[str, set[str]] = {}
        self.unresolved: list[str] = []

    # -- pass 1: classes, constants, imports, helpers, the status table --

    def declare(self) -> None:
        """Collect what the uses refer to."""
        for module in self._modules.values():
            for node in ast.walk(module.tree):
                if isinstance(node, ast.ClassDef):
                    self._bases[node.name] = _base_names(node)
                    self._declared_in[node.name] = module.path
                    self.defined_in[node.name] = module.name
                    code = _class_code(node)
                    if code is not None:
                        self._codes[node.name] = code
            for statement in module.tree.body:
                self._declare_statement(module, statement)
        self.errors = {name for name in self._bases if self._is_error(name)} | {BASE_ERROR}
        for module in self._modules.values():
            for statement in module.tree.body:
                if isinstance(statement, ast.FunctionDef):
                    self._declare_helper(module, statement)

    def _declare_statement(self, module: _Module, statement: ast.stmt) -> None:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            value = statement.value
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    module.constants[target.id] = value.value
                if target.id == "STATUS_BY_ERROR" and isinstance(value, ast.Tuple):
                    self._status_table = list(_status_pairs(value))
        elif isinstance(statement, ast.ImportFrom) and statement.module:
            for alias in statement.names:
                module.imports[alias.asname or alias.name] = (statement.module, alias.name)

    def _is_error(self, name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == BASE_ERROR:
            return True
        if name in seen:
            return False
        return any(self._is_error(base, seen | {name}) for base in self._bases.get(name, []))

    def _declare_helper(self, module: _Module, function: ast.FunctionDef) -> None:
        params = [arg.arg for arg in (*function.args.posonlyargs, *function.args.args)]
        if "code" not in params:
            return
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or _callee(node) not in self.errors:
                continue
            passed = _keyword(node, "code")
            if isinstance(passed, ast.Name) and passed.id == "code":
                module.helpers[function.name] = (str(_callee(node)), params.index("code"))
                return

    # -- statuses --

    def _ancestors(self, name: str) -> Iterator[str]:
        queue, seen = [name], set()
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.add(current)
            yield current
            queue.extend(self._bases.get(current, []))

    def status_of(self, class_name: str) -> int:
        """The status problems.STATUS_BY_ERROR gives this class."""
        lineage = set(self._ancestors(class_name))
        for kind, status in self._status_table:
            if kind in lineage:
                return status
        return _UNLISTED_STATUS

    # -- pass 2: every place a code is given --

    def collect(self) -> None:
        """Record every code: class defaults, then every call that passes one."""
        for name in sorted(self.errors):
            if name in self._codes:
                self._record(self._codes[name], name, self.status_of(name), self._declared_in[name])
        for module in self._modules.values():
            self._visit(module, module.tree, enclosing_class=None, function=None)

    def _visit(
        self,
        module: _Module,
        node: ast.AST,
        *,
        enclosing_class: str | None,
        function: ast.FunctionDef | ast.AsyncFunctionDef | None,
    ) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                self._visit(module, child, enclosing_class=child.name, function=None)
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                self._visit(module, child, enclosing_class=enclosing_class, function=child)
                continue
            if isinstance(child, ast.Call):
                self._call(module, child, enclosing_class=enclosing_class, function=function)
            self._visit(module, child, enclosing_class=enclosing_class, function=function)

    def _call(
        self,
        module: _Module,
        call: ast.Call,
        *,
        enclosing_class: str | None,
        function: ast.FunctionDef | ast.AsyncFunctionDef | None,
    ) -> None:
        callee = _callee(call)
        if callee == RAW_PROBLEM:
            self._raw_problem(module, call, function)
            return
        if callee in module.helpers:
            error, index = module.helpers[callee]
            passed = _argument(call, name="code", index=index)
        elif callee in self.errors:
            error, passed = callee, _keyword(call, "code")
        elif _is_super_init(call) and enclosing_class in self.errors:
            assert enclosing_class is not None
            error, passed = enclosing_class, _keyword(call, "code")
        else:
            return
        if passed is None:
            return
        status = self.status_of(error)
        for code, _ in self._resolve(module, passed, function, call.lineno):
            self._record(code, error, status, module.path)

    def _raw_problem(
        self,
        module: _Module,
        call: ast.Call,
        function: ast.FunctionDef | ast.AsyncFunctionDef | None,
    ) -> None:
        status_node = _argument(call, name="status", index=0)
        status = (
            status_node.value
            if isinstance(status_node, ast.Constant) and isinstance(status_node.value, int)
            else None
        )
        passed = _argument(call, name="code", index=1)
        if passed is None or isinstance(passed, ast.Attribute):  # `exc.code`: a class's code
            return
        for code, hint in self._resolve(module, passed, function, call.lineno):
            self._record(code, RAW_PROBLEM, status if status is not None else hint, module.path)

    def _resolve(
        self,
        module: _Module,
        node: ast.expr,
        function: ast.FunctionDef | ast.AsyncFunctionDef | None,
        line: int,
    ) -> list[tuple[str, int | None]]:
        """The codes an expression can be, with a status when a dict key names one."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [(node.value, None)]
        if isinstance(node, ast.JoinedStr):
            return [(_template(node), None)]
        if isinstance(node, ast.IfExp):
            return self._resolve(module, node.body, function, line) + self._resolve(
                module, node.orelse, function, line
            )
        if isinstance(node, ast.Call) and _is_dict_get(node):
            return _dict_get_codes(node)
        if isinstance(node, ast.Name):
            found = self._resolve_name(module, node.id, function, line)
            if found is not None:
                return found
        self.unresolved.append(f"{module.path}:{line}")
        return []

    def _resolve_name(
        self,
        module: _Module,
        name: str,
        function: ast.FunctionDef | ast.AsyncFunctionDef | None,
        line: int,
    ) -> list[tuple[str, int | None]] | None:
        if function is not None:
            params = {a.arg for a in (*function.args.posonlyargs, *function.args.args)}
            params |= {a.arg for a in function.args.kwonlyargs}
            if name in params:
                # Passed on by a constructor or a helper: their callers are scanned instead.
                forwarded = function.name == "__init__" or function.name in module.helpers
                return [] if forwarded else None
            for statement in ast.walk(function):
                if (
                    isinstance(statement, ast.Assign)
                    and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)
                    and statement.targets[0].id == name
                ):
                    return self._resolve(module, statement.value, function, line)
        if name in module.constants:
            return [(module.constants[name], None)]
        if name in module.imports:
            source, original = module.imports[name]
            other = self._modules.get(source)
            if other is not None and original in other.constants:
                return [(other.constants[original], None)]
        return None

    def _record(self, code: str, error: str, status: int | None, path: str) -> None:
        if "{}" in code:
            self.templates.setdefault(code, set()).add(path)
            expansions = TEMPLATES.get(code, ())
        else:
            expansions = (code,)
        for concrete in expansions:
            found = self.found.setdefault(concrete, _Found())
            found.classes.add(error)
            if status is not None:
                found.statuses.add(status)
            found.files.add(path)


def _status_pairs(table: ast.Tuple) -> Iterator[tuple[str, int]]:
    for pair in table.elts:
        if (
            isinstance(pair, ast.Tuple)
            and len(pair.elts) == 2
            and isinstance(pair.elts[0], ast.Name)
            and isinstance(pair.elts[1], ast.Constant)
            and isinstance(pair.elts[1].value, int)
        ):
            yield pair.elts[0].id, pair.elts[1].value


def _is_dict_get(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute) and func.attr == "get" and isinstance(func.value, ast.Dict)
    )


def _dict_get_codes(call: ast.Call) -> list[tuple[str, int | None]]:
    """`{404: "not_found", ...}.get(status, "http_error")`: each value with its key's status."""
    assert isinstance(call.func, ast.Attribute)
    assert isinstance(call.func.value, ast.Dict)
    table = call.func.value
    codes: list[tuple[str, int | None]] = []
    for key, value in zip(table.keys, table.values, strict=True):
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            status = key.value if isinstance(key, ast.Constant) else None
            codes.append((value.value, status if isinstance(status, int) else None))
    if len(call.args) > 1:
        default = call.args[1]
        if isinstance(default, ast.Constant) and isinstance(default.value, str):
            codes.append((default.value, None))
    return codes


def scan_source(root: Path | None = None) -> Scan:
    """Find every error code in the package at `root` (default: this installation's)."""
    scanner = _Scanner(root or package_root())
    scanner.declare()
    scanner.collect()
    codes = {
        code: CodeUse(
            code=code,
            classes=tuple(sorted(found.classes)),
            statuses=tuple(sorted(found.statuses)),
            files=tuple(sorted(found.files)),
        )
        for code, found in sorted(scanner.found.items())
    }
    return Scan(
        codes=codes,
        templates={t: tuple(sorted(files)) for t, files in sorted(scanner.templates.items())},
        unresolved=tuple(sorted(set(scanner.unresolved))),
        error_classes={
            name: scanner.defined_in[name]
            for name in sorted(scanner.errors)
            if name in scanner.defined_in
        },
    )


_HEADER = """\
# Error codes

<!-- Generated by scripts/error-codes from src/facepay/shared/error_catalogue.py: do not edit by
hand. Run `.venv/bin/python scripts/error-codes` after adding or changing a code. -->

Every refusal is an `application/problem+json` body whose `type` is
`urn:facepay:problem:<code>` and whose `code` field holds the same code. Branch on the code,
never on the English `detail`, which may change. The status is the HTTP status the API answers
with; codes marked *Start-up*, *CLI* or *Inside the server* are not meant to reach a client (if
one ever did, it would carry the status shown). A 503 always carries `Retry-After`; so does 429.

{count} codes.

| code | HTTP status | meaning |
|---|---|---|
"""


def render_markdown(scan: Scan) -> str:
    """The text of docs/errors.md: one row per code, alphabetical."""
    rows = []
    for code, use in scan.codes.items():
        status = ", ".join(str(s) for s in use.statuses) or "as the framework chose"
        meaning = MEANINGS.get(code, "(no meaning written yet)").replace("|", "\\|")
        rows.append(f"| `{code}` | {status} | {meaning} |\n")
    return _HEADER.format(count=len(scan.codes)) + "".join(rows)
