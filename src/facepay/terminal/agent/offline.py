"""The offline decision: may this terminal take this payment without the server, and how much.

Pure: everything it reads is passed in (`OfflineState`, the probe, the bill id), nothing is
written. The checks run cheapest first and the first that fails is the answer, each with a
stable code and one plain sentence for the patient:

1. signed limits present and verified, offline enabled for the site;
2. the library present, no older than `max_library_age_seconds`, of the local face model;
3. the oldest voucher not uploaded yet younger than `max_upload_age_seconds`;
4. fewer unsynced offline payments than `per_terminal_consecutive`;
5. the bill in the library, not paid offline here already, no online attempt of unknown outcome;
6. its total at most `per_payment_fen` and below the face-pay limit (offline has no second
   factor), and the unsynced total plus it at most `cumulative_fen`;
7. local liveness passed (the same `facepay.vision` code the server runs);
8. 1:N against the library: one candidate per person, the threshold and margin of the signed
   limits, a clear match on the bill's own patient (ambiguous is a refusal: no second factor);
9. that patient not on the deny list, fewer unsynced payments than `per_patient_consecutive`;
10. the provisional split: `insurance.settlement.settle` with the library's policy, the
    account's available balance less what this terminal took offline since the library, and
    the library's accumulators plus this terminal's offline deltas.

The split is provisional: the server settles again with the true accumulators when the voucher
arrives, and records any difference as arrears or a refund due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from facepay.identity.matching import DecisionPolicy, Scored, decide
from facepay.insurance.model import Accumulators, Coverage, Settlement
from facepay.insurance.settlement import settle
from facepay.shared.errors import FacepayError
from facepay.terminal.agent.package import Library, LibraryBill, LibraryPerson, SignedLimits
from facepay.terminal.protocol import SCORE_SCALE, score_units

WINDOW = "Please pay at the window."
STAFF = "Please pay by card with a member of staff."
PROVISIONAL = (
    "Paid offline: the insurance share is provisional until the hospital's system confirms it, "
    "and any difference will be shown at your next visit."
)
PROVISIONAL_FIELDS = (
    "policy_id",
    "medfee_sumamt",
    "fund_pay_sumamt",
    "hifp_pay",
    "hifmi_pay",
    "maf_pay",
    "acct_pay",
    "psn_cash_pay",
)


@dataclass(frozen=True)
class Liveness:
    """The local liveness verdict on the capture (never trusted by the server: re-checked)."""

    passed: bool
    message: str
    steps: tuple[str, ...] = ()
    checks: Mapping[str, int] = field(default_factory=dict)
    """Each check's score in millionths."""
    frames: int = 0


@dataclass(frozen=True)
class Probe:
    """What the local vision made of the capture: its unit embedding and the liveness verdict."""

    embedding: NDArray[np.float32] | None
    liveness: Liveness


@dataclass(frozen=True)
class Taken:
    """What this terminal paid offline for one person since the library was issued."""

    account_fen: int = 0
    deltas: Sequence[Mapping[str, int]] = ()
    bills: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OfflineState:
    """What the terminal knows when the server is not there."""

    now: datetime
    """On the server's clock (the link's offset applied)."""
    limits: SignedLimits | None
    library: Library | None
    model_version: str
    oldest_unsynced: datetime | None = None
    unsynced_fen: int = 0
    unsynced_count: int = 0
    unsynced_per_person: Mapping[str, int] = field(default_factory=dict)
    taken: Mapping[str, Taken] = field(default_factory=dict)
    unsure_bills: frozenset[str] = frozenset()
    """Bills with an online attempt sent but not answered: they may be paid already."""


@dataclass(frozen=True)
class Refusal:
    """Offline payment refused: a stable code, and what the patient is told."""

    code: str
    message: str
    detail: str = ""


@dataclass(frozen=True)
class Approval:
    """Offline payment allowed: who, the evidence, the bill and the provisional split."""

    person: LibraryPerson
    bill: LibraryBill
    template_id: str
    score: int
    runner_up_score: int | None
    settlement: Settlement
    limits: SignedLimits
    library: Library

    def provisional(self) -> dict[str, int | str]:
        """The settlement's national fields, as the voucher carries them."""
        return {name: getattr(self.settlement, name) for name in PROVISIONAL_FIELDS}


def _refuse(code: str, message: str, detail: str = "") -> Refusal:
    return Refusal(code, message, detail)


def _terminal_checks(  # noqa: PLR0911 - one return per check, in order
    state: OfflineState,
) -> Refusal | tuple[SignedLimits, Library]:
    limits, library = state.limits, state.library
    if limits is None:
        return _refuse("offline_no_limits", WINDOW, "no verified offline limits")
    rules = limits.limits
    if not rules.enabled:
        return _refuse("offline_disabled", WINDOW, "offline payment is off for this site")
    if library is None:
        return _refuse("offline_no_library", WINDOW, "no offline face library")
    age = (state.now - library.issued_at).total_seconds()
    if age > rules.max_library_age_seconds:
        return _refuse(
            "offline_library_stale",
            WINDOW,
            f"the face library is {age:.0f} s old (limit {rules.max_library_age_seconds} s)",
        )
    if limits.model_version != state.model_version:
        return _refuse(
            "offline_model_mismatch",
            WINDOW,
            f"the library is for face model {limits.model_version}, not {state.model_version}",
        )
    if state.oldest_unsynced is not None:
        waiting = (state.now - state.oldest_unsynced).total_seconds()
        if waiting > rules.max_upload_age_seconds:
            return _refuse(
                "offline_upload_overdue",
                WINDOW,
                f"an offline payment has waited {waiting:.0f} s for upload "
                f"(limit {rules.max_upload_age_seconds} s)",
            )
    if state.unsynced_count + 1 > rules.per_terminal_consecutive:
        return _refuse(
            "offline_terminal_limit",
            STAFF,
            f"{state.unsynced_count} offline payments wait for upload "
            f"(limit {rules.per_terminal_consecutive})",
        )
    return limits, library


def _bill_checks(  # noqa: PLR0911 - one return per check, in order
    state: OfflineState, limits: SignedLimits, library: Library, bill_id: str
) -> Refusal | tuple[LibraryPerson, LibraryBill]:
    person = library.person_of_bill(bill_id)
    if person is None:
        return _refuse("offline_bill_unknown", WINDOW, f"bill {bill_id} is not in the library")
    bill = person.bills[bill_id]
    taken = state.taken.get(person.person_id, Taken())
    if bill_id in taken.bills:
        return _refuse("offline_bill_paid", WINDOW, f"bill {bill_id} was paid offline here")
    if bill_id in state.unsure_bills:
        return _refuse(
            "offline_payment_unsure",
            STAFF,
            f"an online payment of bill {bill_id} was sent and not answered: it may be paid",
        )
    rules = limits.limits
    if bill.total_fen > rules.per_payment_fen:
        return _refuse(
            "offline_over_per_payment",
            STAFF,
            f"{bill.total_fen} fen is over the offline limit of {rules.per_payment_fen} fen",
        )
    if bill.total_fen >= limits.face_pay_limit_fen:
        return _refuse(
            "offline_second_factor",
            STAFF,
            f"{bill.total_fen} fen needs a second factor, which offline payment cannot ask",
        )
    if state.unsynced_fen + bill.total_fen > rules.cumulative_fen:
        return _refuse(
            "offline_over_cumulative",
            STAFF,
            f"{state.unsynced_fen} fen wait for upload already "
            f"(limit {rules.cumulative_fen} fen in all)",
        )
    return person, bill


def match(
    library: Library, embedding: NDArray[np.float32], limits: SignedLimits
) -> tuple[str, list[Scored], list[str]]:
    """1:N over the library (cosine of unit vectors), one candidate per person: the decision,
    the candidates best first and the person of each."""
    if library.matrix.shape[0] == 0 or library.matrix.shape[1] != embedding.shape[0]:
        return "no_match", [], []
    scores = library.matrix.astype(np.float64) @ embedding.astype(np.float64)
    best: dict[str, Scored] = {}
    for row, score in enumerate(scores.tolist()):
        person = library.owners[row]
        if person not in best or score > best[person].score:
            best[person] = Scored(library.template_ids[row], score)
    policy = DecisionPolicy(
        threshold=limits.match_threshold / SCORE_SCALE, margin=limits.margin / SCORE_SCALE, band=0.0
    )
    result = decide(best.values(), policy=policy)
    owner = {scored.template_id: person for person, scored in best.items()}
    ranked = list(result.candidates)
    return result.decision, ranked, [owner[c.template_id] for c in ranked]


def _split(
    approval_person: LibraryPerson, bill: LibraryBill, library: Library, taken: Taken
) -> Settlement:
    base = approval_person.accumulators
    accumulators = base
    for delta in taken.deltas:
        if delta.get("year") == base.year:
            accumulators = accumulators.plus(Accumulators(**delta))
    coverage = Coverage(
        category=approval_person.category,
        personal_account_balance=max(0, approval_person.account_available_fen - taken.account_fen),
        medical_assistance=approval_person.medical_assistance,
    )
    policy = library.policies.pick(
        service_date=bill.bill.service_date, category=approval_person.category
    )
    return settle(bill=bill.bill, coverage=coverage, accumulators=accumulators, policy=policy)


def decide_offline(  # noqa: PLR0911 - one return per check, in order
    *, state: OfflineState, bill_id: str, probe: Probe
) -> Approval | Refusal:
    """The offline decision for one payment (see the module docstring for the order)."""
    checked = _terminal_checks(state)
    if isinstance(checked, Refusal):
        return checked
    limits, library = checked
    found = _bill_checks(state, limits, library, bill_id)
    if isinstance(found, Refusal):
        return found
    person, bill = found
    if not probe.liveness.passed:
        return _refuse("offline_liveness", probe.liveness.message, "local liveness refused")
    if probe.embedding is None:
        return _refuse("offline_no_face", "No face was found: face the camera.")
    decision, ranked, persons = match(library, probe.embedding, limits)
    if decision != "match" or persons[0] != person.person_id:
        why = "ambiguous" if decision == "ambiguous" else "no clear match with the bill's patient"
        return _refuse("offline_no_match", WINDOW, why)
    if person.person_id in limits.deny:
        return _refuse("offline_denied", WINDOW, "this patient may not pay offline")
    waiting = state.unsynced_per_person.get(person.person_id, 0)
    if waiting + 1 > limits.limits.per_patient_consecutive:
        return _refuse(
            "offline_patient_limit",
            WINDOW,
            f"{waiting} offline payments of this patient wait for upload "
            f"(limit {limits.limits.per_patient_consecutive})",
        )
    try:
        settlement = _split(person, bill, library, state.taken.get(person.person_id, Taken()))
    except FacepayError as error:
        return _refuse("offline_settlement_failed", WINDOW, error.message)
    if settlement.medfee_sumamt != bill.total_fen:
        return _refuse(
            "offline_settlement_failed",
            WINDOW,
            f"the bill's lines come to {settlement.medfee_sumamt} fen, its total is "
            f"{bill.total_fen} fen",
        )
    runner_up = score_units(ranked[1].score) if len(ranked) > 1 else None
    return Approval(
        person=person,
        bill=bill,
        template_id=ranked[0].template_id,
        score=score_units(ranked[0].score),
        runner_up_score=runner_up,
        settlement=settlement,
        limits=limits,
        library=library,
    )
