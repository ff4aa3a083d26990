"""In-memory repositories of identity, bills, tenants and alerts (fakes for service tests)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal, TypeVar

from facepay.hospital.bills import PostedBill
from facepay.hospital.tenants import DEFAULT_REGION, Hospital, Region, StaffUser, TerminalRecord
from facepay.identity.records import (
    ConsentRecord,
    ErasureRecord,
    IdentificationRecord,
    InsuredPerson,
    TemplateRecord,
)
from facepay.services.repositories import PageKey, RecordQuery, TemplateChange
from facepay.shared.errors import Conflict
from facepay.supervision.alerts import Alert
from facepay.supervision.audit import GENESIS, PLATFORM_CHAIN, AuditEntry, AuditHead
from facepay.supervision.audit_checkpoint import Checkpoint
from facepay.vision.liveness.challenge import Challenge


class InMemoryPersonRepository:
    """The registry in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, InsuredPerson] = {}

    def add(self, person: InsuredPerson) -> None:
        """Store; the ID number is unique."""
        if person.id in self.rows or self.by_id_number(person.id_number) is not None:
            raise Conflict("this ID number is registered already", code="already_registered")
        self.rows[person.id] = person

    def get(self, person_id: str) -> InsuredPerson | None:
        """By id."""
        return self.rows.get(person_id)

    def by_id_number(self, id_number: str) -> InsuredPerson | None:
        """By ID number."""
        return next((p for p in self.rows.values() if p.id_number == id_number), None)

    def get_many(self, person_ids: Sequence[str]) -> dict[str, InsuredPerson]:
        """Those that exist."""
        return {i: self.rows[i] for i in person_ids if i in self.rows}


class InMemoryTemplateRepository:
    """Sealed templates in a dict, with the change journal in a list."""

    def __init__(self) -> None:
        self.rows: dict[str, TemplateRecord] = {}
        self.journal: list[TemplateChange] = []

    def add(self, record: TemplateRecord) -> None:
        """Store."""
        if record.id in self.rows:
            raise Conflict("duplicate template id")
        self.rows[record.id] = record
        if record.usable:
            self._journal("add", record)

    def get_many(self, template_ids: Sequence[str]) -> dict[str, TemplateRecord]:
        """Those that exist."""
        return {i: self.rows[i] for i in template_ids if i in self.rows}

    def of_person(self, person_id: str) -> list[TemplateRecord]:
        """A person's templates at every site."""
        return sorted(
            (r for r in self.rows.values() if r.person_id == person_id), key=lambda r: r.id
        )

    def delete(self, template_ids: Sequence[str]) -> int:
        """Delete; returns how many."""
        gone = [r for i in template_ids if (r := self.rows.pop(i, None)) is not None]
        for record in gone:
            if record.usable:
                self._journal("remove", record)
        return len(gone)

    def scopes(self, model_version: str) -> dict[str, str]:
        """Usable ids of one model and their scopes."""
        return {
            i: r.scope
            for i, r in self.rows.items()
            if r.model_version == model_version and r.usable
        }

    def quarantine(self, template_id: str, *, at: datetime, reason: str) -> None:
        """Mark quarantined."""
        record = self.rows[template_id]
        self.rows[template_id] = replace(record, quarantined_at=at, quarantine_reason=reason)
        if record.usable:
            self._journal("remove", record)

    def iterate(self, model_version: str) -> Iterator[TemplateRecord]:
        """Templates of one model."""
        return iter([r for r in self.rows.values() if r.model_version == model_version])

    def changes_after(self, seq: int, *, limit: int) -> list[TemplateChange]:
        """Journal entries above `seq`."""
        return [c for c in self.journal if c.seq > seq][:limit]

    def last_change(self) -> int:
        """The highest sequence number."""
        return self.journal[-1].seq if self.journal else 0

    def _journal(self, op: Literal["add", "remove"], record: TemplateRecord) -> None:
        seq = self.last_change() + 1
        at = datetime.now(UTC)
        self.journal.append(
            TemplateChange(seq, record.id, op, record.scope, record.model_version, at)
        )


class InMemoryConsentRepository:
    """Consents and erasures in dicts."""

    def __init__(self) -> None:
        self.rows: dict[str, ConsentRecord] = {}
        self.erased: list[ErasureRecord] = []

    def add(self, record: ConsentRecord) -> None:
        """Store."""
        self.rows[record.id] = record

    def active(self, person_id: str, hospital_id: str) -> list[ConsentRecord]:
        """Not withdrawn."""
        return [
            r
            for r in self.rows.values()
            if (r.person_id, r.hospital_id) == (person_id, hospital_id) and r.withdrawn_at is None
        ]

    def active_of_person(self, person_id: str) -> list[ConsentRecord]:
        """Not withdrawn, at any site."""
        return [
            r for r in self.rows.values() if r.person_id == person_id and r.withdrawn_at is None
        ]

    def withdraw(self, consent_id: str, *, at: datetime, by: str) -> None:
        """Mark withdrawn."""
        self.rows[consent_id] = replace(self.rows[consent_id], withdrawn_at=at, withdrawn_by=by)

    def add_erasure(self, record: ErasureRecord) -> None:
        """Record an erasure."""
        self.erased.append(record)

    def erasures(self, person_id: str, hospital_id: str) -> list[ErasureRecord]:
        """A person's erasures at a hospital."""
        return [e for e in self.erased if (e.person_id, e.hospital_id) == (person_id, hospital_id)]


class InMemoryIdentificationRepository:
    """Identifications in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, IdentificationRecord] = {}

    def add(self, record: IdentificationRecord) -> None:
        """Store."""
        self.rows[record.id] = record

    def get(self, identification_id: str, hospital_id: str) -> IdentificationRecord | None:
        """Within the hospital only."""
        found = self.rows.get(identification_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def save(self, record: IdentificationRecord) -> None:
        """Overwrite."""
        self.rows[record.id] = record


class InMemoryBillRepository:
    """Bills in a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, PostedBill] = {}

    def add(self, bill: PostedBill) -> None:
        """Store; (hospital, external ref) is unique."""
        if self.by_external_ref(bill.hospital_id, bill.external_ref) is not None:
            raise Conflict("this bill was posted already", code="duplicate_bill")
        self.rows[bill.id] = bill

    def get(self, bill_id: str, hospital_id: str) -> PostedBill | None:
        """Within the hospital only."""
        found = self.rows.get(bill_id)
        return found if found is not None and found.hospital_id == hospital_id else None

    def by_external_ref(self, hospital_id: str, external_ref: str) -> PostedBill | None:
        """By the hospital's reference."""
        return next(
            (
                b
                for b in self.rows.values()
                if (b.hospital_id, b.external_ref) == (hospital_id, external_ref)
            ),
            None,
        )

    def has_person(self, hospital_id: str, person_id: str) -> bool:
        """Whether the hospital posted any bill for this person."""
        return any(
            (b.hospital_id, b.person_id) == (hospital_id, person_id) for b in self.rows.values()
        )

    def search(self, query: RecordQuery) -> list[PostedBill]:
        """The site's bills matching `query`, in (created_at, id) order."""
        keyed: list[tuple[PageKey, object]] = [
            ((b.created_at, b.id), b)
            for b in self.rows.values()
            if b.hospital_id == query.hospital_id
            and query.admits((b.created_at, b.id), person_id=b.person_id, status=b.status)
        ]
        return [b for b in query.page(keyed) if isinstance(b, PostedBill)]

    def save(self, bill: PostedBill) -> None:
        """Overwrite."""
        self.rows[bill.id] = bill


class InMemoryAlertRepository:
    """Alerts in a list."""

    def __init__(self) -> None:
        self.rows: list[Alert] = []

    def add(self, alert: Alert) -> None:
        """Store."""
        self.rows.append(alert)

    def of_hospital(self, hospital_id: str, *, kind: str | None = None) -> list[Alert]:
        """A hospital's alerts."""
        return [a for a in self.rows if a.hospital_id == hospital_id and kind in (None, a.kind)]


_Row = TypeVar("_Row", TerminalRecord, StaffUser)


def _page(rows: Iterable[_Row], after: PageKey | None, limit: int) -> list[_Row]:
    ordered = sorted(rows, key=lambda row: (row.created_at, row.id))
    return [row for row in ordered if after is None or (row.created_at, row.id) > after][:limit]


class InMemoryTenantRepository:
    """Hospitals, terminals, staff and nonces in dicts."""

    def __init__(self) -> None:
        self.hospitals: dict[str, Hospital] = {}
        self.terminals: dict[str, TerminalRecord] = {}
        self.staff: dict[str, StaffUser] = {}
        self.nonces: dict[tuple[str, str], datetime] = {}
        self.facts: dict[str, str] = {}
        epoch = datetime(2026, 1, 1, tzinfo=UTC)
        self.regions: dict[str, Region] = {
            DEFAULT_REGION: Region(DEFAULT_REGION, "Default region", epoch)
        }

    def add_hospital(self, hospital: Hospital) -> None:
        """Store."""
        if hospital.id in self.hospitals:
            raise Conflict("hospital exists", code="duplicate_hospital")
        self.hospitals[hospital.id] = hospital

    def hospital(self, hospital_id: str) -> Hospital | None:
        """By id."""
        return self.hospitals.get(hospital_id)

    def region(self, region_id: str) -> Region | None:
        """By id."""
        return self.regions.get(region_id)

    def sites(self, region_id: str) -> list[Hospital]:
        """The region's sites, by id."""
        found = [h for h in self.hospitals.values() if h.region_id == region_id]
        return sorted(found, key=lambda h: h.id)

    def set_region_name(self, region_id: str, name: str) -> None:
        """Rename."""
        self.regions[region_id] = replace(self.regions[region_id], name=name)

    def add_terminal(self, terminal: TerminalRecord) -> None:
        """Store."""
        self.terminals[terminal.id] = terminal

    def terminal(self, terminal_id: str) -> TerminalRecord | None:
        """By id."""
        return self.terminals.get(terminal_id)

    def terminals_of(
        self, hospital_id: str, *, after: PageKey | None, limit: int
    ) -> list[TerminalRecord]:
        """A hospital's terminals in (created_at, id) order, after `after`."""
        mine = (t for t in self.terminals.values() if t.hospital_id == hospital_id)
        return _page(mine, after, limit)

    def set_terminal_active(self, terminal_id: str, active: bool) -> None:
        """Revoke or enable."""
        self.terminals[terminal_id] = replace(self.terminals[terminal_id], active=active)

    def add_staff(self, user: StaffUser) -> None:
        """Store; user names are unique."""
        if self.staff_by_username(user.username) is not None:
            raise Conflict("user name taken", code="duplicate_username")
        self.staff[user.id] = user

    def staff_by_username(self, username: str) -> StaffUser | None:
        """By user name."""
        return next((u for u in self.staff.values() if u.username == username), None)

    def staff_by_id(self, staff_id: str) -> StaffUser | None:
        """By staff id."""
        return self.staff.get(staff_id)

    def staff_of(self, hospital_id: str, *, after: PageKey | None, limit: int) -> list[StaffUser]:
        """A hospital's staff in (created_at, id) order, after `after`."""
        return _page((u for u in self.staff.values() if u.hospital_id == hospital_id), after, limit)

    def set_password_hash(self, staff_id: str, password_hash: str) -> None:
        """Replace the hash."""
        self.staff[staff_id] = replace(self.staff[staff_id], password_hash=password_hash)

    def platform_operator_names(self) -> list[str]:
        """User names of the platform operators."""
        return sorted(u.username for u in self.staff.values() if u.role == "platform_operator")

    def installation_value(self, name: str) -> str | None:
        """A recorded fact."""
        return self.facts.get(name)

    def set_installation_value(self, name: str, value: str, *, at: datetime) -> None:
        """Record a fact."""
        self.facts[name] = value

    def remember_nonce(
        self, *, terminal_id: str, nonce: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Check and insert."""
        known = self.nonces.get((terminal_id, nonce))
        if known is not None and known > now:
            return False
        self.nonces[(terminal_id, nonce)] = expires_at
        return True

    def purge_nonces(self, *, now: datetime) -> int:
        """Drop expired nonces."""
        expired = [key for key, until in self.nonces.items() if until <= now]
        for key in expired:
            del self.nonces[key]
        return len(expired)


class InMemoryAuditEntries:
    """An `AuditStore` in lists without a lock of its own: the unit of work's lock serialises
    writers, and its snapshot (a deep copy) must be able to copy the store."""

    def __init__(self) -> None:
        self.chains_: dict[str, list[AuditEntry]] = {}
        self.entries: list[AuditEntry] = []
        """Every entry of every chain in the order appended (for tests to read)."""
        self.checkpoints_: list[Checkpoint] = []

    def append(self, entry: AuditEntry) -> None:
        """Store `entry` if it extends its chain, else raise Conflict."""
        entries = self.chains_.setdefault(entry.chain, [])
        last = entries[-1] if entries else None
        head = (last.seq, last.hash) if last else (GENESIS.seq, GENESIS.hash)
        if (entry.seq, entry.prev_hash) != (head[0] + 1, head[1]):
            raise Conflict(f"audit entry {entry.seq} does not extend the chain at {head[0]}")
        entries.append(entry)
        self.entries.append(entry)

    def last(self, chain: str = PLATFORM_CHAIN) -> AuditEntry | None:
        """The newest entry of `chain`."""
        entries = self.chains_.get(chain)
        return entries[-1] if entries else None

    def iterate(self, *, chain: str = PLATFORM_CHAIN, from_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries of `chain` from `from_seq` on."""
        return iter(self.chains_.get(chain, [])[max(from_seq, 1) - 1 :])

    def chains(self) -> list[str]:
        """The chains holding entries."""
        return sorted(name for name, entries in self.chains_.items() if entries)

    def by_subject(self, chain: str, subject: str) -> list[AuditEntry]:
        """The entries of `chain` about `subject`."""
        return [e for e in self.chains_.get(chain, []) if e.subject == subject]

    def between(
        self, chain: str, since: datetime, until: datetime, actions: Collection[str]
    ) -> list[AuditEntry]:
        """The entries of `chain` in [since, until) with one of `actions`."""
        entries = self.chains_.get(chain, [])
        return [e for e in entries if since <= e.at < until and e.action in actions]

    def heads(self) -> dict[str, AuditHead]:
        """The head of every chain holding entries."""
        return {c: AuditHead(es[-1].seq, es[-1].hash) for c, es in self.chains_.items() if es}

    def entry(self, chain: str, seq: int) -> AuditEntry | None:
        """Entry `seq` of `chain`."""
        entries = self.chains_.get(chain, [])
        return entries[seq - 1] if 1 <= seq <= len(entries) else None

    def checkpoints(self) -> Iterator[Checkpoint]:
        """The checkpoints in seq order."""
        return iter(list(self.checkpoints_))

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint."""
        return self.checkpoints_[-1] if self.checkpoints_ else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Append `checkpoint` if it follows the last one, else Conflict."""
        last = self.last_checkpoint()
        expected = (last.seq + 1, last.hash) if last else (1, GENESIS.hash)
        if (checkpoint.seq, checkpoint.prev_hash) != expected:
            raise Conflict(f"checkpoint {checkpoint.seq} does not follow {expected[0] - 1}")
        self.checkpoints_.append(checkpoint)


class InMemorySharedState:
    """Challenges and rate buckets in dicts (one process: what the database does for many)."""

    def __init__(self) -> None:
        self.challenges: dict[str, tuple[Challenge, bool]] = {}
        self.buckets: dict[str, tuple[float, float]] = {}

    def relax_durability(self) -> None:
        """Nothing to relax in memory."""

    def add_challenge(self, challenge: Challenge) -> None:
        """Store."""
        self.challenges[challenge.nonce] = (challenge, False)

    def challenge(self, nonce: str) -> tuple[Challenge, bool] | None:
        """By nonce."""
        return self.challenges.get(nonce)

    def redeem_challenge(self, nonce: str, *, at: datetime) -> Challenge | None:
        """Mark redeemed once."""
        found = self.challenges.get(nonce)
        if found is None or found[1]:
            return None
        self.challenges[nonce] = (found[0], True)
        return found[0]

    def purge_challenges(self, *, now: datetime) -> int:
        """Forget expired ones."""
        stale = [n for n, (c, _) in self.challenges.items() if c.expires_at < now]
        for nonce in stale:
            del self.challenges[nonce]
        return len(stale)

    def count_challenges(self) -> int:
        """How many."""
        return len(self.challenges)

    def bucket(self, key: str) -> tuple[float, float] | None:
        """(tokens, updated_at)."""
        return self.buckets.get(key)

    def put_bucket(self, key: str, *, tokens: float, updated_at: float, new: bool) -> None:
        """Store."""
        self.buckets[key] = (tokens, updated_at)

    def purge_buckets(self, *, before: float) -> int:
        """Forget old ones."""
        old = [k for k, (_, at) in self.buckets.items() if at < before]
        for key in old:
            del self.buckets[key]
        return len(old)
