"""`NhsaClient`: sends the national messages over HTTP (httpx) and never loses one.

Each message is stored (`MessageLog.reserve`, state `sent`) and committed BEFORE it is sent.
Then one of:

- an answer with infcode 0: `answered`, the answer kept;
- an answer with another infcode: `failed` (the platform applied nothing): `PlatformRefused`;
- no answer (timeout, connection dropped, garbage back): `lost`. A query (9001, 1101, 2206,
  2303, 3201, 3202) is sent again, up to `attempts` times, each with a new msgid. A message that
  changes the platform's state is never simply sent again: it is reversed with 2601 by its
  msgid (itself retried), marked `reversed`, and `PlatformUnavailable` says nothing stands.
  If even the reversal gets no answer, `PlatformUnconfirmed`: the message stays `lost` and
  `recover` reverses it later (`facepay nhsa recover`).

Sign-in (9001) happens once per operator and local day; its sign_no is read back from the log.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from facepay.adapters.nhsa.messages import (
    CANCEL_INFNOS,
    QUERY_INFNOS,
    REVERSIBLE_INFNOS,
    Answer,
    Request,
    dump,
    parse_answer,
    time_text,
)
from facepay.adapters.nhsa.payloads import SignInOutput
from facepay.adapters.nhsa.store import Institution, LoggedMessage, MessageLog
from facepay.adapters.nhsa.wire import decode, encode
from facepay.insurance.platform import Operator
from facepay.shared.clock import Clock
from facepay.shared.errors import Conflict, InvalidInput, Unavailable

SEQUENCES = 10_000


class PlatformRefused(Conflict):
    """The platform answered with an error (infcode other than 0): nothing was applied."""

    code = "nhsa_refused"


class PlatformUnavailable(Unavailable):
    """The platform did not answer; whatever the message did was reversed: retry later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="nhsa_unavailable", retry_after=30)


class PlatformUnconfirmed(Unavailable):
    """The platform did not answer and the reversal did not get through either: the message is
    kept `lost` until `recover` reverses it; the payment is not made."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="nhsa_unconfirmed", retry_after=60)


@dataclass(frozen=True)
class Sent:
    """A message that was answered with infcode 0."""

    msgid: str
    answer: Answer


class PlatformBadAnswer(Unavailable):
    """The platform answered infcode 0 with an output facepay cannot read."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="nhsa_bad_answer", retry_after=30)


class PlatformNoAnswer(PlatformUnavailable):
    """No answer to a message the caller reverses its own way (`reverse_if_lost=False`)."""

    def __init__(self, message: str, *, msgid: str) -> None:
        super().__init__(message)
        self.msgid = msgid


class _Lost(Exception):  # noqa: N818 - internal signal
    """No usable answer came back."""


OPTER_TYPES: dict[str, Literal["1", "2", "3"]] = {"self_service": "2", "operator": "1"}


class NhsaClient:
    """The platform's client for one installation (many sites, each with its own code)."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        log: MessageLog,
        clock: Clock,
        path: str = "/",
        infver: str = "V1.0",
        recer_sys_code: str = "YBXT",
        dev_no: str = "",
        attempts: int = 3,
        utc_offset_minutes: int = 480,
        sequence: Callable[[], int] | None = None,
    ) -> None:
        self.http = http
        self._sequence = sequence or (lambda: secrets.randbelow(SEQUENCES))
        self.log = log
        self._clock = clock
        self._path = path
        self._infver = infver
        self._recer = recer_sys_code
        self._dev_no = dev_no
        self._attempts = max(1, attempts)
        self._offset = timedelta(minutes=utc_offset_minutes)

    def now(self) -> datetime:
        """The clock's time (UTC), as the log records it."""
        return self._clock.now()

    def local_now(self) -> datetime:
        """The platform's local time (naive), as its fields write it."""
        return self.local(self._clock.now())

    def local(self, moment: datetime) -> datetime:
        """An aware moment in the platform's local time (naive)."""
        return (moment.astimezone(UTC) + self._offset).replace(tzinfo=None)

    # --- the one way out -------------------------------------------------------------------

    def send(
        self,
        site: Institution,
        operator: Operator,
        infno: str,
        payload: dict[str, Any],
        *,
        ref: str | None = None,
        insuplc: str = "",
        reverse_if_lost: bool = True,
    ) -> Sent:
        """Send one message with the rules of the module docstring; the answer, or an error."""
        sign_no = "" if infno == "9001" else self.sign_in(site, operator)
        tries = self._attempts if infno in QUERY_INFNOS else 1
        for attempt in range(tries):
            msgid, body = self._reserve(
                site, operator, infno, payload=payload, ref=ref, sign_no=sign_no, insuplc=insuplc
            )
            try:
                answer = self._post(body)
            except _Lost:
                self._finish(msgid, "lost", None)
                if infno in QUERY_INFNOS:
                    if attempt + 1 < tries:
                        continue
                    raise PlatformUnavailable(
                        f"the insurance platform did not answer {infno} after {tries} tries"
                    ) from None
                if not reverse_if_lost or infno in CANCEL_INFNOS:
                    raise PlatformNoAnswer(f"no answer to {infno} {msgid}", msgid=msgid) from None
                if infno not in REVERSIBLE_INFNOS:
                    raise PlatformUnconfirmed(f"no answer to {infno} {msgid}") from None
                if self.reverse(site, operator, msgid=msgid, infno=infno, body=body):
                    raise PlatformUnavailable(
                        f"the insurance platform did not answer {infno}; message {msgid} "
                        "was reversed (2601): nothing stands, retry later"
                    ) from None
                raise PlatformUnconfirmed(
                    f"the insurance platform did not answer {infno} {msgid} nor its reversal; "
                    "it is kept for `facepay nhsa recover`"
                ) from None
            if answer.ok:
                self._finish(msgid, "answered", answer)
                return Sent(msgid, answer)
            self._finish(msgid, "failed", answer)
            raise PlatformRefused(
                f"the insurance platform refused {infno}: {answer.err_msg or answer.infcode}"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def reverse(
        self, site: Institution, operator: Operator, *, msgid: str, infno: str, body: bytes | str
    ) -> bool:
        """2601 for the message `msgid`, tried `attempts` times; True once it stands reversed."""
        original = decode(body.encode() if isinstance(body, str) else body)
        payload = {"data": {"psn_no": psn_no_of(original), "omsgid": msgid, "oinfno": infno}}
        sign_no = self.sign_in(site, operator)
        for _ in range(self._attempts):
            rid, rbody = self._reserve(
                site, operator, "2601", payload=payload, ref=msgid, sign_no=sign_no, insuplc=""
            )
            try:
                answer = self._post(rbody)
            except _Lost:
                self._finish(rid, "lost", None)
                continue
            self._finish(rid, "answered" if answer.ok else "failed", answer)
            if answer.ok:
                self.log.finish(msgid, "reversed", answer=None, at=self._clock.now())
                return True
            return False
        return False

    def sign_in(self, site: Institution, operator: Operator) -> str:
        """Today's sign_no of this operator at this site (9001 the first time in the day)."""
        opter = operator.id[:30]
        today = self.local_now().replace(hour=0, minute=0, second=0, microsecond=0)
        since = (today - self._offset).replace(tzinfo=self._clock.now().tzinfo)
        for done in self.log.find(
            site.hospital_id, infno="9001", opter=opter, since=since, states=("answered",)
        ):
            if done.answer:
                output = json.loads(done.answer).get("output", {})
                return str(SignInOutput.model_validate(output["signinoutb"]).sign_no)
        payload = {"signIn": {"opter_no": opter[:20], "mac": "", "ip": "127.0.0.1"}}
        sent = self.send(site, operator, "9001", payload)
        return str(SignInOutput.model_validate(sent.answer.output["signinoutb"]).sign_no)

    # --- plumbing --------------------------------------------------------------------------

    def _reserve(
        self,
        site: Institution,
        operator: Operator,
        infno: str,
        *,
        payload: dict[str, Any],
        ref: str | None,
        sign_no: str,
        insuplc: str,
    ) -> tuple[str, bytes]:
        now = self._clock.now()
        local = self.local_now()
        start = self._sequence()
        for step in range(SEQUENCES):
            msgid = f"{site.fixmedins_code}{local:%Y%m%d%H%M%S}{(start + step) % SEQUENCES:04d}"
            request = Request(
                infno=infno,
                msgid=msgid,
                mdtrtarea_admvs=site.mdtrtarea_admvs,
                insuplc_admdvs=insuplc,
                recer_sys_code=self._recer,
                dev_no=self._dev_no,
                infver=self._infver,
                opter_type=OPTER_TYPES[operator.kind],
                opter=operator.id[:30],
                opter_name=operator.name[:50],
                inf_time=time_text(local),
                fixmedins_code=site.fixmedins_code,
                fixmedins_name=site.fixmedins_name,
                sign_no=sign_no,
                input=payload,
            )
            body = encode(dump(request))
            row = LoggedMessage(
                msgid=msgid,
                hospital_id=site.hospital_id,
                infno=infno,
                ref=ref,
                opter=operator.id[:30],
                body=body.decode(),
                state="sent",
                created_at=now,
            )
            if self.log.reserve(row):
                return msgid, body
        raise PlatformUnavailable("no free message sequence this second; retry")

    def _post(self, body: bytes) -> Answer:
        try:
            response = self.http.post(
                self._path, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError:
            raise _Lost from None
        try:
            return parse_answer(decode(response.content))
        except InvalidInput:
            # A proxy's error page, half a body: whether the platform applied it is unknown.
            raise _Lost from None

    def _finish(self, msgid: str, state: Any, answer: Answer | None) -> None:
        text = encode(dump(answer)).decode() if answer is not None else None
        self.log.finish(msgid, state, answer=text, at=self._clock.now())

    def recover(self, *, older_than: timedelta, limit: int = 100) -> list[tuple[str, bool]]:
        """Reverse every changing message left `sent` or `lost` for longer than `older_than`
        (a crash between sending and recording, or a reversal that got no answer): (msgid,
        reversed) for each one tried. Queries left so are just marked lost; lost cancels are
        not in `lost()` (the settlement they cancel is what a refund retries)."""
        done = []
        for row in self.log.lost(before=self._clock.now() - older_than, limit=limit):
            if row.infno not in REVERSIBLE_INFNOS:
                self.log.finish(row.msgid, "lost", answer=None, at=self._clock.now())
                continue
            site = self.log.institution(row.hospital_id)
            if site is None:
                continue
            operator = Operator("operator", row.opter, "facepay recover")
            done.append(
                (
                    row.msgid,
                    self.reverse(site, operator, msgid=row.msgid, infno=row.infno, body=row.body),
                )
            )
        return done


def psn_no_of(message: dict[str, Any]) -> str:
    """The person a stored request is about (for its 2601)."""
    payload = message.get("input", {})
    if not isinstance(payload, dict):
        return ""
    for key in ("data", "mdtrtinfo", "dscginfo"):
        node = payload.get(key)
        if isinstance(node, dict) and node.get("psn_no"):
            return str(node["psn_no"])
    lines = payload.get("feedetail")
    if isinstance(lines, list) and lines and isinstance(lines[0], dict):
        return str(lines[0].get("psn_no", ""))
    return ""
