"""Accounts: a kind, an owner, a normal side, balance flags, and four running totals."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Flag, StrEnum

from facepay.shared.errors import InsufficientFunds, InvalidInput

MAX_OWNER = 80


class Side(StrEnum):
    """The side on which an account's balance is read (its normal balance)."""

    DEBIT = "debit"
    CREDIT = "credit"


class AccountFlags(Flag):
    """TigerBeetle's balance constraints; pending amounts count against them."""

    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class AccountKind(StrEnum):
    """What an account stands for; the owner says whose (a fund code, a person, a terminal)."""

    FUND_POOL = "fund_pool"  # owner: hifp | hifmi | maf | acct (personal-account allocation)
    HOSPITAL_RECEIVABLE = "hospital_receivable"  # owner: <hospital id>/<fund that owes it>
    HOSPITAL_REVENUE = "hospital_revenue"  # owner: hospital id
    PERSONAL_ACCOUNT = "personal_account"  # owner: person id (个人账户)
    PATIENT_WALLET = "patient_wallet"  # owner: person id (deposits, pre-authorisation)
    CASH_CLEARING = "cash_clearing"  # owner: cash | bank
    ARREARS = "arrears"  # owner: person id; what a patient still owes
    TERMINAL_SUSPENSE = "terminal_suspense"  # owner: terminal id; provisional offline payments
    EMERGENCY_ARREARS = "emergency_arrears"  # owner: <hospital id>/<emergency record id>
    HOSPITAL_UNSETTLED = "hospital_unsettled"  # owner: hospital id; treated, not settled yet
    REFUND_DUE = "refund_due"  # owner: person id; what the site owes a patient back (offline)


_BOUNDED = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
KIND_RULES: dict[AccountKind, tuple[Side, AccountFlags]] = {
    # Pools and clearing face the outside world, like TigerBeetle's operator accounts: unbounded.
    AccountKind.FUND_POOL: (Side.CREDIT, AccountFlags.NONE),
    AccountKind.HOSPITAL_RECEIVABLE: (Side.CREDIT, AccountFlags.NONE),
    AccountKind.HOSPITAL_REVENUE: (Side.CREDIT, AccountFlags.NONE),
    AccountKind.PERSONAL_ACCOUNT: (Side.CREDIT, _BOUNDED),
    AccountKind.PATIENT_WALLET: (Side.CREDIT, _BOUNDED),
    AccountKind.CASH_CLEARING: (Side.DEBIT, AccountFlags.NONE),
    # A patient can repay no more than they owe.
    AccountKind.ARREARS: (Side.DEBIT, AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    AccountKind.TERMINAL_SUSPENSE: (Side.DEBIT, AccountFlags.NONE),
    # What an emergency record owes (charged before anyone paid), bounded like a person's arrears;
    # its other side is the site's unsettled treatment, which settlement later clears.
    AccountKind.EMERGENCY_ARREARS: (Side.DEBIT, AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
    AccountKind.HOSPITAL_UNSETTLED: (Side.CREDIT, AccountFlags.NONE),
    # What an offline payment collected beyond the authoritative split: paying it back can never
    # pay out more than is due.
    AccountKind.REFUND_DUE: (Side.CREDIT, _BOUNDED),
}


def account_id(kind: AccountKind, owner: str) -> str:
    """The stable id of the account of `kind` held by `owner`, e.g. `personal_account:pat_1`."""
    return f"{kind.value}:{owner}"


HOSPITAL_FUNDS = ("hifp", "hifmi", "maf")
"""The funds that pay hospitals: pooled fund, critical-illness insurance, medical assistance."""


def hospital_chart(hospital_id: str) -> list[tuple[AccountKind, str]]:
    """The (kind, owner) of a hospital's own accounts: its revenue (what patients paid, from
    their personal accounts and in cash) and, per fund, what that fund owes it."""
    return [(AccountKind.HOSPITAL_REVENUE, hospital_id)] + [
        (AccountKind.HOSPITAL_RECEIVABLE, f"{hospital_id}/{fund}") for fund in HOSPITAL_FUNDS
    ]


def hospital_revenue(hospital_id: str) -> str:
    """The id of a hospital's revenue account."""
    return account_id(AccountKind.HOSPITAL_REVENUE, hospital_id)


def hospital_receivable(hospital_id: str, fund: str) -> str:
    """The id of the account of what `fund` owes a hospital."""
    return account_id(AccountKind.HOSPITAL_RECEIVABLE, f"{hospital_id}/{fund}")


@dataclass
class Account:
    """An account and its totals in fen. Only the ledger changes the totals."""

    id: str
    kind: AccountKind
    owner: str
    side: Side
    flags: AccountFlags
    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @classmethod
    def open(cls, kind: AccountKind, owner: str) -> Account:
        """A new, empty account with the side and flags its kind prescribes."""
        if not owner or len(owner) > MAX_OWNER or not owner.isprintable():
            raise InvalidInput(f"an account owner is 1 to {MAX_OWNER} printable characters")
        side, flags = KIND_RULES[kind]
        return cls(id=account_id(kind, owner), kind=kind, owner=owner, side=side, flags=flags)

    @property
    def balance(self) -> int:
        """Posted balance read on the normal side."""
        net = self.credits_posted - self.debits_posted
        return net if self.side is Side.CREDIT else -net

    @property
    def available(self) -> int:
        """What a bounded account can still pay: posted credits minus posted and pending debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def check(self) -> None:
        """Raise InsufficientFunds when a flag's bound is broken (pending amounts included)."""
        if (
            AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS in self.flags
            and self.debits_posted + self.debits_pending > self.credits_posted
        ):
            raise InsufficientFunds(f"account {self.id} would exceed its credits")
        if (
            AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS in self.flags
            and self.credits_posted + self.credits_pending > self.debits_posted
        ):
            raise InsufficientFunds(f"account {self.id} would exceed its debits")
