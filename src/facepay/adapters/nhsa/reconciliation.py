"""The platform's side of a day, for the nightly reconciliation (`facepay reconcile`).

`fetch_day` asks 3202 for the day's detail (the simulator inlines the result file's rows;
the real platform returns a file to fetch with 9102, not supported here) and, when facepay's
own totals are given, 3201 for the platform's verdict on them. Amounts are integer fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from facepay.adapters.nhsa.client import NhsaClient
from facepay.adapters.nhsa.payloads import StatementRow
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.store import Institution
from facepay.adapters.nhsa.wire import to_fen, to_yuan
from facepay.insurance.platform import Operator
from facepay.services.reconciliation import PlatformAnswer
from facepay.shared.errors import InvalidInput
from facepay.supervision.reconciliation import Entry


@dataclass(frozen=True)
class DayTotals:
    """Totals of one site's day (fen): standing settlements count 1, cancels -1."""

    medfee_sumamt: int = 0
    fund_pay_sumamt: int = 0
    acct_pay: int = 0
    psn_cash_pay: int = 0
    settlements: int = 0


@dataclass(frozen=True)
class DetailRow:
    """One settlement (`cancel` False) or cancel (True, negative amounts) on the platform."""

    setl_id: str
    mdtrt_id: str
    psn_no: str
    msgid: str
    setl_time: str
    cancel: bool
    medfee_sumamt: int
    fund_pay_sumamt: int
    acct_pay: int
    psn_cash_pay: int

    def entry(self) -> tuple[str, str, dict[str, int]]:
        """(key, "payment" | "refund", fen by field): the row as one side's entry of the
        nightly comparison, keyed by the platform's settlement id (a cancel is the refund of
        the settlement it cancels, its amounts positive)."""
        amounts = {
            "medfee_sumamt": abs(self.medfee_sumamt),
            "fund_pay_sumamt": abs(self.fund_pay_sumamt),
            "acct_pay": abs(self.acct_pay),
            "psn_cash_pay": abs(self.psn_cash_pay),
        }
        return self.setl_id, "refund" if self.cancel else "payment", amounts


@dataclass(frozen=True)
class PlatformDay:
    """What the platform holds for one site and day; `agreed` is its 3201 verdict on the
    totals facepay sent (None when none were sent)."""

    day: date
    totals: DayTotals
    rows: tuple[DetailRow, ...]
    agreed: bool | None
    verdict: str | None


RECONCILER = Operator("operator", "facepay-reconcile", "facepay reconciliation")


def fetch_day(
    client: NhsaClient,
    site: Institution,
    day: date,
    *,
    ours: DayTotals | None = None,
    setl_optins: str | None = None,
) -> PlatformDay:
    """3202 (and 3201 if `ours` is given) for one site's day."""
    optins = setl_optins or site.mdtrtarea_admvs
    mine = ours or DayTotals()
    period = {"stmt_begndate": day.isoformat(), "stmt_enddate": day.isoformat()}
    detail = {
        "setl_optins": optins,
        **period,
        "medfee_sumamt": to_yuan(mine.medfee_sumamt),
        "fund_pay_sumamt": to_yuan(mine.fund_pay_sumamt),
        "cash_payamt": to_yuan(mine.psn_cash_pay),
        "fixmedins_setl_cnt": mine.settlements,
    }
    sent = client.send(site, RECONCILER, "3202", {"data": detail})
    raw = sent.answer.output.get("detail")
    if not isinstance(raw, list):
        raise InvalidInput(
            "3202 answered without inline rows (a real platform's result file needs 9102)",
            code="nhsa_unsupported",
        )
    rows = tuple(_row(StatementRow.model_validate(r)) for r in raw)
    totals = DayTotals(
        medfee_sumamt=sum(r.medfee_sumamt for r in rows),
        fund_pay_sumamt=sum(r.fund_pay_sumamt for r in rows),
        acct_pay=sum(r.acct_pay for r in rows),
        psn_cash_pay=sum(r.psn_cash_pay for r in rows),
        settlements=sum(-1 if r.cancel else 1 for r in rows),
    )
    agreed, verdict = None, None
    if ours is not None:
        data = {
            "clr_type": "11",
            "setl_optins": optins,
            **period,
            "medfee_sumamt": to_yuan(ours.medfee_sumamt),
            "fund_pay_sumamt": to_yuan(ours.fund_pay_sumamt),
            "acct_pay": to_yuan(ours.acct_pay),
            "fixmedins_setl_cnt": ours.settlements,
        }
        info = client.send(site, RECONCILER, "3201", {"data": data}).answer.output["stmtinfo"]
        agreed, verdict = str(info["stmt_rslt"]) == "0", str(info.get("stmt_rslt_dscr") or "")
    return PlatformDay(day, totals, rows, agreed, verdict)


def _row(row: StatementRow) -> DetailRow:
    return DetailRow(
        setl_id=row.setl_id,
        mdtrt_id=row.mdtrt_id,
        psn_no=row.psn_no,
        msgid=row.msgid,
        setl_time=row.setl_time,
        cancel=row.refd_setl_flag == "1",
        medfee_sumamt=to_fen(row.medfee_sumamt),
        fund_pay_sumamt=to_fen(row.fund_pay_sumamt),
        acct_pay=to_fen(row.acct_pay),
        psn_cash_pay=to_fen(row.psn_cash_pay),
    )


class NhsaStatement:
    """The national platform as the nightly reconciliation's other side (a
    `services.reconciliation.PlatformStatement`): facepay's settlements keyed by the setl_id
    the platform answered, and the platform's own 3202 rows of the day."""

    def __init__(self, platform: NhsaPlatform) -> None:
        self._platform = platform

    def key_of(self, hospital_id: str, idempotency_key: str) -> str | None:
        """The platform's setl_id of the payment made under the key (None: never sent)."""
        return self._platform.settlement_of(hospital_id, idempotency_key)

    def day(
        self, hospital_id: str, day: date, *, totals: dict[str, int], count: int
    ) -> PlatformAnswer:
        """The platform's settlements and cancels of the site's day (3202) and its verdict on
        facepay's net totals (3201), in one exchange."""
        site = self._platform.site(hospital_id)
        ours = DayTotals(
            medfee_sumamt=totals.get("medfee_sumamt", 0),
            fund_pay_sumamt=totals.get("fund_pay_sumamt", 0),
            acct_pay=totals.get("acct_pay", 0),
            psn_cash_pay=totals.get("psn_cash_pay", 0),
            settlements=count,
        )
        answer = fetch_day(self._platform.client, site, day, ours=ours)
        entries = []
        for row in answer.rows:
            key, kind, amounts = row.entry()
            entries.append(Entry(key, "refund" if kind == "refund" else "payment", amounts))
        refused = None if answer.agreed else (answer.verdict or "the platform's totals differ")
        return PlatformAnswer(entries, refused)
