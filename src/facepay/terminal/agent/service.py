"""A payment end to end, online or offline, and the agent's status: what the local API calls.

Online: the local quality gate and liveness run first (a refusal is the prompt sentence, and
nothing goes to the server), then the server's identification, pre-settlement and payment, as
`facepay.terminal.kiosk` does, with one idempotency key per payment: given by the caller or made
here, stored durably before the first send, reused by every retry.

Offline: when the server cannot be reached before the payment was sent (the identification may
fail either way: it moves no money), the offline decision (`offline.decide_offline`) runs on the
same local verdict, and an approved payment is written as a signed voucher, committed and
fsynced, BEFORE the answer says paid. A payment sent to the server and not answered may have been
paid: it is never retried offline (`payment_outcome_unknown`; the same key, once the server is
back, returns the receipt if it was).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from facepay.api.images import CaptureLimits, capture_from
from facepay.api.schemas import CaptureCreate
from facepay.shared.errors import FacepayError
from facepay.terminal.agent.failpoints import Failpoints
from facepay.terminal.agent.link import CAPTURE_TIMEOUT, ServerLink, ServerOffline
from facepay.terminal.agent.metrics import AgentMetrics
from facepay.terminal.agent.offline import (
    PROVISIONAL,
    STAFF,
    WINDOW,
    Approval,
    OfflineState,
    Probe,
    Refusal,
    Taken,
    decide_offline,
)
from facepay.terminal.agent.status import read_status
from facepay.terminal.agent.store import AgentStore, NewVoucher, OutboxRow, StoreFull
from facepay.terminal.agent.sync import STALE_SECONDS, PackageKeeper, Syncer, SyncReport
from facepay.terminal.agent.vision import EdgeVision
from facepay.terminal.capture import MAX_FRAMES, challenge_of
from facepay.terminal.protocol import Voucher, peek_voucher, sign_voucher, uuid7
from facepay.vision.liveness import ChallengeBook, issue_challenge
from facepay.vision.liveness.challenge import PROMPTS

LIMITS = CaptureLimits(
    max_frames=64,
    max_image_pixels=4096 * 4096,
    max_source_pixels=64 * 1920 * 1080,
    max_kept_pixels=64 * 640 * 480,
    max_side=640,
)
"""What the local API takes in one capture (a kiosk camera's frames, scaled to 640 px)."""
OFFLINE_RETRY_SECONDS = 10.0
"""How often an offline agent tries the server again."""
log = logging.getLogger("facepay.terminal.agent")


@dataclass
class Outcome:
    """The answer to `POST /payments`: `paid`, `refused` or `unknown` (sent, not answered)."""

    status: str
    mode: str
    idempotency_key: str
    bill_id: str
    message: str
    code: str | None = None
    detail: str | None = None
    body: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The local API's response body."""
        return {
            "status": self.status,
            "mode": self.mode,
            "idempotency_key": self.idempotency_key,
            "bill_id": self.bill_id,
            "message": self.message,
            "code": self.code,
            "detail": self.detail,
            **self.body,
        }


class ServerRefused(Exception):  # noqa: N818 - reads as what happened
    """The server answered and refused (a revoked or unknown terminal, say): not a reason to
    work offline."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Agent:
    """The terminal agent's use cases over its store, its link and its edge vision."""

    def __init__(
        self,
        *,
        store: AgentStore,
        link: ServerLink,
        keeper: PackageKeeper,
        vision: EdgeVision,
        signing_key: Ed25519PrivateKey,
        terminal_id: str,
        metrics: AgentMetrics | None = None,
        failpoints: Failpoints | None = None,
    ) -> None:
        self.store = store
        self.link = link
        self.keeper = keeper
        self.vision = vision
        self.terminal_id = terminal_id
        self._key = signing_key
        self.metrics = metrics or AgentMetrics()
        self.failpoints = failpoints or Failpoints()
        self.syncer = Syncer(
            store=store, link=link, on_result=self.metrics.synced, failpoints=self.failpoints
        )
        self.book = ChallengeBook()
        self._local: set[str] = set()
        self._wake = threading.Event()
        # The local API serves requests on a thread pool: the limits are read and the voucher
        # written under one lock, so two payments at once cannot both pass a limit.
        self._offline = threading.Lock()
        self.metrics.bind(self)

    # -- clocks ----------------------------------------------------------------------------

    def server_now(self) -> datetime:
        """Now, on the server's clock."""
        return datetime.fromtimestamp(self.link.server_now(), UTC)

    # -- challenges ------------------------------------------------------------------------

    def challenge(self) -> dict[str, Any]:
        """The server's challenge when online; a local one (`issue_challenge`) offline. Either
        is kept in the local book, so that local liveness judges the capture against it. A
        server that answers with a refusal raises `ServerRefused`: never a reason to go offline."""
        try:
            response = self.link.request("POST", "/v1/liveness/challenges")
        except ServerOffline:
            pass
        else:
            if response.status_code != 201:
                refusal = _refusal_of(response)
                raise ServerRefused(response.status_code, refusal.code, refusal.detail)
            body: dict[str, Any] = response.json()
            self.book.add(challenge_of(body))
            return {**body, "mode": "online"}
        issued = self.book.add(issue_challenge(now=self.server_now()))
        self._local.add(issued.nonce)
        body = issued.to_json()
        for step in body["steps"]:
            step["prompt"] = PROMPTS[step["action"]]
        return {**body, "mode": "offline"}

    # -- payments --------------------------------------------------------------------------

    def pay(
        self, *, bill_id: str, capture: dict[str, Any], idempotency_key: str | None = None
    ) -> Outcome:
        """Pay `bill_id` with the patient's capture, online if the server is there."""
        key = idempotency_key or f"pay-{uuid7()}"
        repeat = self._repeat(key, bill_id)
        if repeat is not None:
            return repeat
        try:
            parsed = capture_from(CaptureCreate.model_validate(capture), LIMITS)
        except ValidationError as error:
            return _refused("local", key, bill_id, "bad_capture",
                            "Please try again.", str(error.errors()[0]["msg"]))  # fmt: skip
        except FacepayError as error:
            return _refused("local", key, bill_id, error.code, "Please try again.", error.message)
        local = parsed.challenge_nonce in self._local
        self._local.discard(parsed.challenge_nonce or "")
        probe = self.vision.examine(parsed, book=self.book, now=self.server_now(), embed=True)
        if not probe.liveness.passed:
            return _refused("local", key, bill_id, "liveness_local", probe.liveness.message)
        if not local:
            try:
                return self._pay_online(key, bill_id, chosen_frames(capture))
            except ServerOffline:
                pass  # nothing was paid online: pay offline, within the limits
        return self._pay_offline(key, bill_id, probe)

    def _repeat(self, key: str, bill_id: str) -> Outcome | None:
        row = self.store.voucher_by_key(key)
        attempt = self.store.attempt(key)
        if (row is not None and row.bill_id != bill_id) or (
            attempt is not None and attempt.bill_id != bill_id
        ):
            return _refused("local", key, bill_id, "idempotency_key_reused",
                            "Please try again.", "this key was used for another bill")  # fmt: skip
        if row is not None:
            return self._offline_receipt(row, replayed=True)
        if attempt is not None and attempt.state == "paid" and attempt.result is not None:
            return Outcome(
                "paid",
                "online",
                key,
                attempt.bill_id,
                "Paid.",
                body={**attempt.result, "replayed": True},
            )
        return None

    def _pay_online(  # noqa: PLR0911 - one return per step that can refuse
        self, key: str, bill_id: str, capture: dict[str, Any]
    ) -> Outcome:
        found = self._expect(
            self.link.request(
                "POST", "/v1/identifications", {"capture": capture}, timeout=CAPTURE_TIMEOUT
            ),
            201,
        )
        if isinstance(found, Refusal):
            return _refused("online", key, bill_id, found.code, found.message, found.detail)
        if found["decision"] == "no_match":
            return _refused(
                "online", key, bill_id, "no_match", WINDOW, "no enrolled patient matched"
            )
        if found["needs_second_factor"]:
            return _refused("online", key, bill_id, "second_factor_needed", STAFF,
                            "the face alone is not enough: a second factor is needed")  # fmt: skip
        presettled = self.link.request("POST", f"/v1/bills/{bill_id}/presettlement")
        if presettled.status_code == 200 and presettled.json().get("second_factor_required"):
            return _refused("online", key, bill_id, "second_factor_needed", STAFF,
                            "this amount needs a second factor")  # fmt: skip
        if presettled.status_code not in (200, 409):
            refusal = _refusal_of(presettled)
            return _refused("online", key, bill_id, refusal.code, refusal.message, refusal.detail)
        try:
            self.store.begin_attempt(key, bill_id)
        except StoreFull as full:  # nothing was sent: the key could not be kept for a retry
            return _refused("online", key, bill_id, full.code, WINDOW, full.message)
        try:
            response = self.link.request(
                "POST",
                f"/v1/bills/{bill_id}/payments",
                {"identification_id": found["identification_id"]},
                headers={"Idempotency-Key": key},
                timeout=CAPTURE_TIMEOUT,
            )
        except ServerOffline as offline:
            if not offline.sent:
                self._finish_attempt(key, "refused", {"code": "not_sent"})
                raise
            # Sent and not answered: the server may have paid it. Never pay it again offline.
            return Outcome(
                "unknown",
                "online",
                key,
                bill_id,
                "The payment could not be confirmed. Please wait a moment, then try again: "
                "it will not be charged twice.",
                code="payment_outcome_unknown",
                detail=offline.message,
            )
        receipt = self._expect(response, 201)
        if isinstance(receipt, Refusal):
            self._finish_attempt(key, "refused", {"code": receipt.code})
            return _refused("online", key, bill_id, receipt.code, receipt.message, receipt.detail)
        body = {
            "receipt": receipt,
            "person": {
                "person_id": found.get("person_id"),
                "display_name": found.get("display_name"),
            },
            "notices": self.notices(str(found.get("person_id") or "")),
            "provisional": False,
        }  # fmt: skip
        self._finish_attempt(key, "paid", body)
        return Outcome("paid", "online", key, bill_id, "Paid.", body=body)

    def _finish_attempt(self, key: str, state: str, result: dict[str, Any]) -> None:
        """Record how an online attempt ended; on a full disk the answer still goes to the
        patient (the server has the outcome; the attempt stays `sending`, so the bill is not
        paid offline until a retry with the same key settles it)."""
        try:
            self.store.finish_attempt(key, state, result)
        except StoreFull:
            log.warning("the terminal's disk is full: attempt %s not recorded as %s", key, state)

    def _expect(self, response: httpx.Response, status: int) -> dict[str, Any] | Refusal:
        if response.status_code != status:
            return _refusal_of(response)
        body: dict[str, Any] = response.json()
        return body

    def offline_state(self, person_ids: list[str] | None = None) -> OfflineState:
        """What the offline decision reads, from the store and the package in force."""
        state = self.keeper.state
        total, count, per_person = self.store.unsynced_totals()
        library = state.library
        persons = person_ids if person_ids is not None else list(library.persons) if library else []
        taken = {}
        for person in persons:
            account, deltas, bills = self.store.offline_taken(person)
            taken[person] = Taken(account, deltas, frozenset(bills))
        return OfflineState(
            now=self.server_now(),
            limits=state.limits,
            library=library,
            model_version=self.vision.model_version,
            oldest_unsynced=self.store.oldest_unsynced(),
            unsynced_fen=total,
            unsynced_count=count,
            unsynced_per_person=per_person,
            taken=taken,
            unsure_bills=frozenset(self.store.sending_bills()),
        )

    def _pay_offline(self, key: str, bill_id: str, probe: Probe) -> Outcome:
        with self._offline:
            library = self.keeper.state.library
            owner = library.person_of_bill(bill_id) if library else None
            state = self.offline_state([owner.person_id] if owner else [])
            decided = decide_offline(state=state, bill_id=bill_id, probe=probe)
            if isinstance(decided, Refusal):
                self.metrics.offline_refused(decided.code)
                return _refused(
                    "offline", key, bill_id, decided.code, decided.message, decided.detail
                )
            try:
                row = self.store.append_voucher(
                    idempotency_key=key,
                    build=lambda counter, prev: self._voucher(decided, probe, counter, prev),
                )
            except StoreFull as full:
                return _refused("offline", key, bill_id, full.code, WINDOW, full.message)
        self.failpoints.reach("voucher_written")
        self.metrics.offline_paid()
        self._wake.set()
        return self._offline_receipt(row, replayed=False)

    def _voucher(
        self, approval: Approval, probe: Probe, counter: int, prev_hash: str
    ) -> NewVoucher:
        now = self.server_now()
        settlement = approval.settlement
        voucher = Voucher(
            id=uuid7(int(now.timestamp() * 1000)),
            terminal_id=self.terminal_id,
            hospital_id=approval.limits.hospital_id,
            counter=counter,
            prev_hash=prev_hash,
            created_at=now.isoformat(),
            limits_version=approval.limits.version,
            library_version=approval.library.version,
            bill_id=approval.bill.bill_id,
            bill_total_fen=approval.bill.total_fen,
            person_id=approval.person.person_id,
            evidence={
                "method": "face",
                "template_id": approval.template_id,
                "score": approval.score,
                "runner_up_score": approval.runner_up_score,
                "liveness": {
                    "passed": True,
                    "steps": list(probe.liveness.steps),
                    "checks": dict(probe.liveness.checks),
                },
                "frames": probe.liveness.frames,
            },
            provisional=approval.provisional(),
            cash_collected_fen=settlement.psn_cash_pay,
        )
        signed, digest = sign_voucher(self._key, voucher)
        return NewVoucher(
            signed=signed,
            hash=digest,
            voucher_id=voucher.id,
            created_at=voucher.created_at,
            bill_id=voucher.bill_id,
            person_id=voucher.person_id,
            amount_fen=voucher.bill_total_fen,
            cash_fen=voucher.cash_collected_fen,
            library_version=voucher.library_version,
            account_fen=settlement.acct_pay,
            accumulators={"year": settlement.deltas.year, **settlement.deltas.amounts()},
        )

    def _offline_receipt(self, row: OutboxRow, *, replayed: bool) -> Outcome:
        library = self.keeper.state.library
        person = library.persons.get(row.person_id) if library else None
        voucher = peek_voucher(row.signed)
        body = {
            "voucher": {"id": row.voucher_id, "counter": row.counter, "status": row.status},
            "split": voucher.provisional,
            "cash_collected_fen": voucher.cash_collected_fen,
            "person": {
                "person_id": row.person_id,
                "display_name": person.display_name if person else None,
            },
            "notices": self.notices(row.person_id),
            "provisional": True,
            "replayed": replayed,
        }
        return Outcome("paid", "offline", row.idempotency_key, row.bill_id, PROVISIONAL, body=body)

    def notices(self, person_id: str) -> list[dict[str, Any]]:
        """What to tell the patient about earlier offline payments (arrears, refunds due)."""
        return [
            {
                "voucher_id": n.voucher_id,
                "kind": n.kind,
                "amount_fen": n.amount_fen,
                "message": n.message or _notice_sentence(n.kind, n.amount_fen),
                "created_at": n.created_at,
            }
            for n in self.store.notices(person_id)
        ]

    # -- background ------------------------------------------------------------------------

    def start(self) -> None:
        """Load the stored package; the background thread fetches and uploads from then on."""
        self.keeper.load()

    def tick(self, now: float) -> float:
        """One round of background work at `now` (monotonic seconds); when the next is due:
        `refresh_seconds` of the limits in force (just fetched), 10 s when offline or failing."""
        try:
            self.sync_now()
        except ServerOffline:
            return now + OFFLINE_RETRY_SECONDS
        except FacepayError as error:
            self._remember("last_error", error.message)
            return now + OFFLINE_RETRY_SECONDS
        finally:
            self._remember("mode", self.mode())
        limits = self.keeper.state.limits
        return now + (float(limits.limits.refresh_seconds) if limits else OFFLINE_RETRY_SECONDS)

    def sync_now(self) -> SyncReport:
        """Refresh the offline package and drain the outbox, now (`ServerOffline` if the server
        is gone): the background loop's round, and an operator's "sync now" once the network is
        back. The drain's lease keeps it one sender whoever calls."""
        self.keeper.refresh()
        return self.syncer.drain()

    def _remember(self, key: str, value: str) -> None:
        """Note a status value; a full disk must not stop the loop (it is retried later)."""
        try:
            self.store.set_meta(key, value)
        except StoreFull:
            log.warning("the terminal's disk is full: %s not recorded", key)

    def run(self, stop: threading.Event, clock: Callable[[], float] = time.monotonic) -> None:
        """The background loop: refresh and drain when due, soon after an offline payment
        (`wake`) while the server is not known to be gone, and within 10 s of a payment finding
        it gone; nothing else ever sends vouchers, so there is one sender. An unexpected error is
        logged and retried: the loop never dies while the agent serves payments."""
        due = 0.0
        while not stop.is_set():
            woken = self._wake.is_set()
            self._wake.clear()
            now = clock()
            if self.link.online is False:
                # A payment or a challenge found the server gone between rounds: try again
                # within the offline retry period, not at the next refresh (90 s away).
                due = min(due, now + OFFLINE_RETRY_SECONDS)
            if now >= due or (woken and self.link.online is not False and self.store.unsynced(1)):
                try:
                    due = self.tick(now)
                except Exception:
                    log.exception("the terminal agent's background round failed; retrying")
                    due = now + OFFLINE_RETRY_SECONDS
            self._wake.wait(timeout=max(0.05, min(1.0, due - clock())))

    def wake(self) -> None:
        """Ask the background loop to run now (an offline payment was written)."""
        self._wake.set()

    # -- status ----------------------------------------------------------------------------

    def outbox(self) -> dict[str, int]:
        """The outbox's depth (pending + held) and its counts."""
        counts = self.store.outbox_counts()
        return {"depth": counts["pending"] + counts["held"], **counts}

    def mode(self) -> str:
        """`online`, `offline`, or `starting` before the first request."""
        return {True: "online", False: "offline", None: "starting"}[self.link.online]

    def status(self) -> dict[str, Any]:
        """`GET /status`: the store's view plus the live mode and the package in force."""
        state = self.keeper.state
        body = read_status(self.store, now=datetime.now(UTC))
        library = state.library
        age = (self.server_now() - library.issued_at).total_seconds() if library else None
        body.update(
            mode=self.mode(),
            agent="running",
            last_error=self.link.last_error or state.error or body.get("last_error"),
        )
        body["library"] = {
            "version": library.version if library else None,
            "persons": len(library.persons) if library else 0,
            "age_seconds": round(age, 1) if age is not None else None,
            "stale": age is None or age > STALE_SECONDS,
        }
        return body


def chosen_frames(capture: dict[str, Any], max_frames: int = MAX_FRAMES) -> dict[str, Any]:
    """The capture the server gets: at most `max_frames` frames spread evenly over it, first
    and last kept (what the server keeps of a capture; the frames are sent as they came)."""
    frames = capture["frames"]
    if len(frames) <= max_frames:
        return capture
    picks = np.linspace(0, len(frames) - 1, num=max_frames).round().astype(int).tolist()
    return {**capture, "frames": [frames[i] for i in dict.fromkeys(picks)]}


def _refused(  # noqa: PLR0917 - an outcome's fields, in their order
    mode: str, key: str, bill_id: str, code: str, message: str, detail: str = ""
) -> Outcome:
    return Outcome("refused", mode, key, bill_id, message, code=code, detail=detail or None)


def _refusal_of(response: httpx.Response) -> Refusal:
    try:
        body = response.json()
    except ValueError:
        return Refusal("http_error", WINDOW, f"HTTP {response.status_code}")
    code = str(body.get("code") or "http_error")
    detail = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    message = detail if code.startswith("liveness_") else WINDOW
    return Refusal(code, message, detail)


def _notice_sentence(kind: str, amount_fen: int) -> str:
    yuan = f"{amount_fen // 100}.{amount_fen % 100:02d}"
    if kind == "arrears":
        return f"An earlier offline payment came to {yuan} yuan more: please pay it at the window."
    return f"You are owed {yuan} yuan from an earlier offline payment: ask at the window."
