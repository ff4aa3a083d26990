"""The schema as SQLAlchemy Core tables; Alembic migrations in `migrations/` create it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import text as text_clause

# Stable constraint names, so that migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)

KEY = String(200)
ID = String(120)

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("owner", String(80), nullable=False),
    Column("side", String(6), nullable=False),
    Column("flags", Integer, nullable=False),
    Column("debits_posted", BigInteger, nullable=False, default=0),
    Column("credits_posted", BigInteger, nullable=False, default=0),
    Column("debits_pending", BigInteger, nullable=False, default=0),
    Column("credits_pending", BigInteger, nullable=False, default=0),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0"
        " AND credits_pending >= 0",
        name="totals_not_negative",
    ),
    # The ledger checks the flags; the database refuses a bug that slips past it.
    CheckConstraint(
        "(flags & 1) = 0 OR debits_posted + debits_pending <= credits_posted",
        name="debits_within_credits",
    ),
    CheckConstraint(
        "(flags & 2) = 0 OR credits_posted + credits_pending <= debits_posted",
        name="credits_within_debits",
    ),
    UniqueConstraint("kind", "owner"),
)

posting_records = Table(
    "posting_records",
    metadata,
    Column("key", KEY, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("request_key", KEY, ForeignKey("posting_records.key"), nullable=False),
    Column("batch_index", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("code", String(80), nullable=False),
    Column("debit_account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("credit_account_id", ID, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Unique: a hold is resolved, and a transfer reversed, at most once - even under races.
    Column("pending_id", String(40), ForeignKey("transfers.id"), unique=True),
    Column("expires_at", DateTime(timezone=True)),
    Column("reverses_id", String(40), ForeignKey("transfers.id"), unique=True),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    UniqueConstraint("request_key", "batch_index"),
    Index("ix_transfers_open_holds", "kind", "expires_at"),
)

settlements = Table(
    "settlements",
    metadata,
    Column("id", String(40), primary_key=True),
    # Whose books the money went to (migration 0006); NULL only for unattributable old rows.
    Column("hospital_id", ID, index=True),
    Column("idempotency_key", KEY, nullable=False, unique=True),
    Column("fingerprint", String(64), nullable=False),
    Column("person_id", ID, nullable=False, index=True),
    Column("year", Integer, nullable=False),
    Column("policy_id", String(120), nullable=False),
    Column("visit_type", String(16), nullable=False),
    Column("service_date", Date, nullable=False),
    Column("medfee_sumamt", BigInteger, nullable=False),
    Column("fund_pay_sumamt", BigInteger, nullable=False),
    Column("hifp_pay", BigInteger, nullable=False),
    Column("hifmi_pay", BigInteger, nullable=False),
    Column("maf_pay", BigInteger, nullable=False),
    Column("psn_part_amt", BigInteger, nullable=False),
    Column("acct_pay", BigInteger, nullable=False),
    Column("psn_cash_pay", BigInteger, nullable=False),
    Column("document", Text, nullable=False),  # the whole settlement as JSON, explanation included
    Column("posting_key", KEY, ForeignKey("posting_records.key")),
    Column("status", String(16), nullable=False),
    Column("reversal_key", KEY, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reversed_at", DateTime(timezone=True)),
    # The bill and coverage it was computed from, as JSON (migration 0019; NULL before).
    Column("inputs", Text),
    CheckConstraint("medfee_sumamt = fund_pay_sumamt + psn_part_amt", name="sum_identity"),
    CheckConstraint("psn_part_amt = acct_pay + psn_cash_pay", name="person_identity"),
    # The FHIR facade pages a site's settlements by either time (migration 0023).
    Index("ix_settlements_hospital_created", "hospital_id", "created_at", "id"),
    Index("ix_settlements_hospital_reversed", "hospital_id", "reversed_at", "id"),
)

ACCUMULATOR_FIELDS = (
    "outpatient_deductible_used",
    "outpatient_eligible",
    "outpatient_fund_paid",
    "inpatient_admissions",
    "inpatient_eligible",
    "inpatient_fund_paid",
    "burden",
    "critical_illness_paid",
    "assistance_paid",
)

accumulators = Table(
    "accumulators",
    metadata,
    Column("person_id", ID, primary_key=True),
    Column("year", Integer, primary_key=True),
    *(Column(name, BigInteger, nullable=False, default=0) for name in ACCUMULATOR_FIELDS),
)

# --- Tenants, identity, bills, supervision (migration 0003) ---------------------------------

regions = Table(
    "regions",
    metadata,
    # The insurance bureau running the platform (migration 0011); its sites are `hospitals`.
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

hospitals = Table(
    "hospitals",
    metadata,
    # A site of the region: a hospital, a designated retail pharmacy or a service centre.
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A site made without saying so is a hospital of the installation's one region.
    Column(
        "region_id",
        ID,
        ForeignKey("regions.id"),
        nullable=False,
        index=True,
        server_default="rgn-default",
    ),
    Column("kind", String(20), nullable=False, server_default="hospital"),
    Column("tier", String(20)),
    CheckConstraint("kind IN ('hospital', 'pharmacy', 'service_centre')", name="known_site_kind"),
    CheckConstraint(
        "tier IS NULL OR tier IN ('primary', 'secondary', 'tertiary')", name="known_tier"
    ),
)

terminals = Table(
    "terminals",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False, index=True),
    Column("name", String(80), nullable=False),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Migration 0008: the kind was a `kind:` prefix of the name before.
    Column("kind", String(16), nullable=False),
    # Migration 0021: the X25519 key its offline library is sealed to (None: no library).
    Column("sealing_key", LargeBinary(32)),
    Column("sealing_key_at", DateTime(timezone=True)),
    # Migration 0014 adds the ward, exam-room and lab/imaging kinds.
    CheckConstraint(
        "kind IN ('kiosk', 'window', 'his', 'ward', 'exam_room', 'lis_pacs')", name="known_kind"
    ),
)

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", ID, primary_key=True),
    # NULL for the platform's operators (migration 0004), who belong to no hospital.
    Column("hospital_id", ID, ForeignKey("hospitals.id"), index=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "(role = 'platform_operator') = (hospital_id IS NULL)", name="platform_has_no_hospital"
    ),
)

seen_nonces = Table(
    "seen_nonces",
    metadata,
    Column("terminal_id", ID, primary_key=True),
    Column("nonce", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

insured_persons = Table(
    "insured_persons",
    metadata,
    Column("id", ID, primary_key=True),
    Column("id_number", String(18), nullable=False, unique=True),
    Column("name", String(80), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("category", String(40), nullable=False),
    Column("insurance_card_number", String(40), nullable=False),
    Column("phone", String(20)),
    Column("medical_assistance", Boolean, nullable=False),
)

face_templates = Table(
    "face_templates",
    metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False, index=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("model_version", String(80), nullable=False, index=True),
    Column("sealed", LargeBinary, nullable=False),  # AES-GCM: nonce || ciphertext || tag
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Set when the sealed bytes failed authentication (migration 0007): never matched.
    Column("quarantined_at", DateTime(timezone=True)),
    Column("quarantine_reason", String(200)),
    # Where it may match (migration 0011): `region:<id>` or `site:<hospital id>`.
    Column("scope", String(130), nullable=False),
    UniqueConstraint("person_id", "hospital_id", "model_version"),
)

installation = Table(
    "installation",
    metadata,
    # Facts about this installation, e.g. the id of the key its templates are sealed with.
    Column("name", String(80), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

biometric_consents = Table(
    "biometric_consents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("scope", String(200), nullable=False),
    Column("given_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True)),
    Column("withdrawn_by", String(200)),
    # The reach the person consented to (migration 0011): the whole region or this site.
    Column("reach", String(10), nullable=False),
    Index("ix_biometric_consents_person_hospital", "person_id", "hospital_id"),
    CheckConstraint("reach IN ('region', 'site')", name="known_reach"),
)

erasures = Table(
    "erasures",
    metadata,
    Column("id", ID, primary_key=True),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(200), nullable=False),
    Column("templates_deleted", Integer, nullable=False),
    Column("reason", String(200), nullable=False),
)

identifications = Table(
    "identifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("method", String(20), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("person_id", ID, ForeignKey("insured_persons.id")),
    Column("contenders", Text, nullable=False),  # JSON list of person ids
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("used_for", ID),
    Column("failed_attempts", Integer, nullable=False),
)

bills = Table(
    "bills",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False, index=True),
    Column("external_ref", String(100), nullable=False),
    Column("point_of_sale", String(20), nullable=False),
    Column("document", Text, nullable=False),  # the insurance Bill as interchange JSON
    Column("total", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("settlement_id", String(40), ForeignKey("settlements.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("paid_at", DateTime(timezone=True)),
    # Hospital-side order data of the lines (migration 0015): JSON [{code, kind, department,
    # window, ordered_by}], NULL for bills posted without it.
    Column("line_orders", Text),
    UniqueConstraint("hospital_id", "external_ref"),
    Index("ix_bills_hospital_created", "hospital_id", "created_at", "id"),  # FHIR pages (0023)
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("subject", ID, nullable=False),
    Column("details", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    # One hash chain per hospital plus the platform's (migration 0005); seq counts per chain.
    Column("chain", ID, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Index("ix_audit_log_chain_subject", "chain", "subject"),
)

# --- Shared by every worker process (migration 0011) -----------------------------------------

template_changes = Table(
    "template_changes",
    metadata,
    # Every template added, deleted or quarantined, for each worker's gallery to follow.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("template_id", ID, nullable=False),
    Column("op", String(10), nullable=False),
    Column("scope", String(130), nullable=False),
    Column("model_version", String(80), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    CheckConstraint("op IN ('add', 'remove')", name="known_op"),
)

liveness_challenges = Table(
    "liveness_challenges",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("steps", Text, nullable=False),  # JSON: [[action, start, end], ...]
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("redeemed_at", DateTime(timezone=True)),
)

rate_buckets = Table(
    "rate_buckets",
    metadata,
    # Token buckets of the request limits; `updated_at` in Unix seconds (NTP-synced workers).
    Column("key", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False, index=True),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    # Signed heads of every audit chain at one moment, chained to each other (migration 0012).
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("heads", Text, nullable=False),  # canonical JSON [{"chain", "seq", "hash"}]
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("key_id", String(80), nullable=False),
    Column("signature", String(120), nullable=False),  # base64 Ed25519
)

account_deltas = Table(
    "account_deltas",
    metadata,
    # What postings added to unbounded accounts since the last roll-up (migration 0013): a
    # payment inserts here instead of updating the shared fund-pool, receivable, revenue and
    # clearing rows, so payments never queue on them. Exact totals: the row plus its deltas.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    CheckConstraint("debits_posted >= 0 AND credits_posted >= 0", name="posted_not_negative"),
)

# --- Emergency (migration 0016) ---------------------------------------------------------------

emergency_identifications = Table(
    "emergency_identifications",
    metadata,
    # A region-wide face search at a site's emergency desk: proof of identity for one merge.
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("reason_code", String(20), nullable=False),
    Column("reason_note", String(200)),
    Column("mode", String(20), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("person_id", ID, ForeignKey("insured_persons.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("used_for", ID),
    CheckConstraint(
        "reason_code IN ('unconscious', 'confused', 'no_documents', 'minor_alone', 'other')",
        name="known_reason",
    ),
    CheckConstraint("mode IN ('cooperative', 'assisted')", name="known_mode"),
)

emergency_counters = Table(
    "emergency_counters",
    metadata,
    # The last ER-<day>-<n> number given at a site on a day (locked while the next is taken).
    Column("hospital_id", ID, ForeignKey("hospitals.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

emergency_records = Table(
    "emergency_records",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("number", String(20), nullable=False),
    Column("visit_type", String(16), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("estimated_age", Integer),
    Column("notes", String(500), nullable=False),
    Column("person_id", ID, ForeignKey("insured_persons.id"), index=True),
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("opened_by", String(200), nullable=False),
    Column("charged_fen", BigInteger, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("merged_at", DateTime(timezone=True)),
    Column("merged_by", String(200)),
    Column("bill_id", ID, ForeignKey("bills.id"), unique=True),
    UniqueConstraint("hospital_id", "number"),
    Index("ix_emergency_records_hospital_status", "hospital_id", "status", "opened_at"),
    CheckConstraint("status IN ('open', 'merged', 'settled')", name="known_status"),
    CheckConstraint("charged_fen >= 0 AND line_count >= 0", name="counts_not_negative"),
    CheckConstraint("(status = 'open') = (bill_id IS NULL)", name="bill_once_merged"),
)

emergency_charges = Table(
    "emergency_charges",
    metadata,
    Column("id", ID, primary_key=True),
    Column("record_id", ID, ForeignKey("emergency_records.id"), nullable=False, index=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("idempotency_key", KEY, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("lines", Text, nullable=False),  # JSON: the bill lines, as in the interchange format
    Column("total", BigInteger, nullable=False),
    Column("posting_key", KEY, ForeignKey("posting_records.key"), nullable=False),
    Column("charged_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    UniqueConstraint("hospital_id", "idempotency_key"),
    CheckConstraint("total > 0", name="total_positive"),
)

# --- Inpatient stays (migration 0018) ----------------------------------------------------------

OPEN_STAY = "status = 'admitted'"
inpatient_stays = Table(
    "inpatient_stays",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False, index=True),
    Column("ward", String(40), nullable=False),
    Column("bed", String(40), nullable=False),
    Column("diagnosis_code", String(20), nullable=False),
    Column("diagnosis_text", String(200), nullable=False),
    Column("attending_doctor_id", ID, ForeignKey("staff_users.id"), nullable=False),
    Column("hospital_tier", Integer, nullable=False),
    Column("admitted_on", Date, nullable=False),
    Column("admitted_at", DateTime(timezone=True), nullable=False),
    Column("admitted_by", String(200), nullable=False),
    Column("identification_id", ID, nullable=False),
    Column("status", String(16), nullable=False),
    Column("discharged_at", DateTime(timezone=True)),
    Column("low_deposit_alerted", Boolean, nullable=False),
    CheckConstraint("status IN ('admitted', 'discharged')", name="known_status"),
    # The race-proof rules: one open stay per person in the whole region, and per bed.
    Index(
        "uq_inpatient_stays_open_person",
        "person_id",
        unique=True,
        sqlite_where=text(OPEN_STAY),
        postgresql_where=text(OPEN_STAY),
    ),
    Index(
        "uq_inpatient_stays_open_bed",
        "hospital_id",
        "ward",
        "bed",
        unique=True,
        sqlite_where=text(OPEN_STAY),
        postgresql_where=text(OPEN_STAY),
    ),
)

inpatient_deposits = Table(
    "inpatient_deposits",
    metadata,
    Column("id", ID, primary_key=True),
    Column("stay_id", ID, ForeignKey("inpatient_stays.id"), nullable=False, index=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("source", String(8), nullable=False),
    Column("idempotency_key", KEY, nullable=False, unique=True),
    Column("hold_id", String(40), ForeignKey("transfers.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("identification_id", ID),
    Column("present_person_id", ID),
    Column("applied", BigInteger, nullable=False),
    # Released by a discharge since reversed: handed back, no longer held (migration 0020).
    Column("returned", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("amount > 0 AND applied >= 0 AND applied <= amount", name="amounts"),
    CheckConstraint("returned >= 0 AND applied + returned <= amount", name="returned_within"),
    CheckConstraint("source IN ('cash', 'bank')", name="known_source"),
)

inpatient_charges = Table(
    "inpatient_charges",
    metadata,
    Column("id", ID, primary_key=True),
    Column("stay_id", ID, ForeignKey("inpatient_stays.id"), nullable=False),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("reference", String(64), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("service_date", Date, nullable=False),
    Column("code", String(40), nullable=False),
    Column("name", String(120), nullable=False),
    Column("item_class", String(1), nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("quantity", String(24), nullable=False),  # the Decimal as text: exact on both
    Column("amount", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    UniqueConstraint("stay_id", "reference", "line_no"),
)

inpatient_bedside = Table(
    "inpatient_bedside",
    metadata,
    Column("id", ID, primary_key=True),
    Column("stay_id", ID, ForeignKey("inpatient_stays.id"), nullable=False),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("day", Date, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("identification_id", ID, nullable=False),
    Column("present_person_id", ID, nullable=False),
    Column("method", String(20), nullable=False),
    Column("proxy_grant_id", ID),
    UniqueConstraint("stay_id", "day"),
)

inpatient_discharges = Table(
    "inpatient_discharges",
    metadata,
    Column("id", ID, primary_key=True),
    Column("stay_id", ID, ForeignKey("inpatient_stays.id"), nullable=False, index=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("idempotency_key", KEY, nullable=False, unique=True),
    Column("settlement_id", String(40), ForeignKey("settlements.id"), nullable=False),
    Column("cash_share", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False),
    Column("released", BigInteger, nullable=False),
    Column("arrears", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reversal_key", KEY, unique=True),
    Column("reversed_at", DateTime(timezone=True)),
    CheckConstraint("applied + arrears = cash_share", name="cash_share_met"),
    CheckConstraint("status IN ('settled', 'reversed')", name="known_status"),
)
# Migration 0014: guardians and carers who may act for a patient (facepay.hospital.proxies).
proxy_grants = Table(
    "proxy_grants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("patient_id", ID, ForeignKey("insured_persons.id"), nullable=False, index=True),
    Column("proxy_id", ID, ForeignKey("insured_persons.id"), nullable=False, index=True),
    Column("relation", String(20), nullable=False),
    Column("basis", String(20), nullable=False),
    Column("acts", String(60), nullable=False),  # sorted, comma-separated
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=False),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False, index=True),
    Column("created_by", String(200), nullable=False),
    Column("evidence_ref", String(100)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(200)),
    CheckConstraint("patient_id <> proxy_id", name="not_own_proxy"),
    CheckConstraint("valid_until > valid_from", name="period_forward"),
    CheckConstraint(
        "basis IN ('patient_consent', 'parent_of_minor', 'court_order')", name="known_basis"
    ),
    # One unrevoked grant per pair: two desks registering the same carer at once make one
    # (an expired grant is closed, revoked_by 'expired', before a new one is stored).
    Index(
        "uq_proxy_grants_live_pair",
        "patient_id",
        "proxy_id",
        unique=True,
        sqlite_where=text_clause("revoked_at IS NULL"),
        postgresql_where=text_clause("revoked_at IS NULL"),
    ),
)

# --- Pharmacy dispensing and exams (migration 0015) -------------------------------------------

dispensing_orders = Table(
    "dispensing_orders",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("bill_id", ID, ForeignKey("bills.id"), nullable=False),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False),
    Column("window", String(60), nullable=False),
    Column("status", String(16), nullable=False),
    # JSON [{code, name, quantity, amount, handed, returned}]
    Column("lines", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("bill_id", "window"),
    Index("ix_dispensing_orders_window", "hospital_id", "window", "status", "created_at"),
    CheckConstraint("status IN ('queued', 'partial', 'done')", name="known_status"),
)

dispensing_events = Table(
    "dispensing_events",
    metadata,
    # What a pharmacy window's event stream sends; each stream polls max(seq) of its window.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("window", String(60), nullable=False),
    Column("order_id", ID, ForeignKey("dispensing_orders.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_dispensing_events_window", "hospital_id", "window", "seq"),
    CheckConstraint("kind IN ('created', 'collected', 'returned')", name="known_kind"),
)

service_requests = Table(
    "service_requests",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("bill_id", ID, ForeignKey("bills.id"), nullable=False),
    Column("line_code", String(40), nullable=False),
    Column("name", String(120), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("department", String(60), nullable=False),
    Column("ordered_by", ID, nullable=False),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("checked_in_at", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
    Column("result", Text),  # JSON {summary, conclusion, image_ref, performed_at, ...}
    Column("ready_at", DateTime(timezone=True)),
    UniqueConstraint("bill_id", "line_code"),
    Index("ix_service_requests_worklist", "hospital_id", "department", "status", "created_at"),
    Index("ix_service_requests_person", "hospital_id", "person_id", "created_at"),
    CheckConstraint(
        "status IN ('requested', 'checked_in', 'done', 'reported')", name="known_status"
    ),
)

# --- Appointments bound to the person (migration 0017) ---------------------------------------

appointment_policies = Table(
    "appointment_policies",
    metadata,
    # A site's booking rules; a site without a row uses the settings' defaults.
    Column("hospital_id", ID, ForeignKey("hospitals.id"), primary_key=True),
    Column("per_department_day", Integer, nullable=False),
    Column("per_week", Integer, nullable=False),
    Column("release_min_seconds", Integer, nullable=False),
    Column("release_max_seconds", Integer, nullable=False),
    Column("cancel_cutoff_minutes", Integer, nullable=False),
    Column("check_in_early_minutes", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

appointment_schedules = Table(
    "appointment_schedules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("department", String(40), nullable=False),
    Column("doctor", String(40), nullable=False),
    Column("doctor_name", String(120), nullable=False),
    Column("session_date", Date, nullable=False),
    Column("period", String(10), nullable=False),
    Column("start_time", String(5), nullable=False),  # local HH:MM
    Column("end_time", String(5), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("fee_code", String(40), nullable=False),
    Column("fee_name", String(120), nullable=False),
    Column("fee_item_class", String(1), nullable=False),
    Column("fee_fen", BigInteger, nullable=False),
    Column("hospital_tier", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("capacity >= 1", name="capacity_positive"),
    CheckConstraint("fee_fen >= 0", name="fee_not_negative"),
    UniqueConstraint("hospital_id", "department", "doctor", "session_date", "start_time"),
    Index("ix_appointment_schedules_day", "hospital_id", "session_date", "department"),
)

appointment_holders = Table(
    "appointment_holders",
    metadata,
    # One row per person who ever booked at a site: locked by every booking of that person, so
    # that two bookings at once cannot both pass the person's limits.
    Column("hospital_id", ID, ForeignKey("hospitals.id"), primary_key=True),
    Column("person_id", ID, ForeignKey("insured_persons.id"), primary_key=True),
)

appointments = Table(
    "appointments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("schedule_id", ID, ForeignKey("appointment_schedules.id"), nullable=False, index=True),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("status", String(12), nullable=False),
    Column("idempotency_key", KEY, nullable=False),
    Column("booked_at", DateTime(timezone=True), nullable=False),
    Column("booked_by", String(200), nullable=False),
    Column("bill_id", ID, ForeignKey("bills.id")),
    Column("proxy_grant_id", ID),
    Column("checked_in_at", DateTime(timezone=True)),
    Column("check_in_identification", ID),
    Column("cancelled_at", DateTime(timezone=True)),
    Column("cancel_key", KEY),
    Column("release_at", DateTime(timezone=True)),
    Column("refunded", Boolean, nullable=False),
    CheckConstraint("status IN ('booked', 'checked_in', 'cancelled')", name="known_status"),
    CheckConstraint("channel IN ('kiosk', 'window', 'desk', 'his')", name="known_channel"),
    CheckConstraint("slot >= 1", name="slot_positive"),
    UniqueConstraint("hospital_id", "idempotency_key"),
    UniqueConstraint("hospital_id", "cancel_key", name="uq_appointments_cancel_key"),
    Index("ix_appointments_person", "hospital_id", "person_id"),
    # The database's own guard against two live bookings of one slot.
    Index(
        "uq_appointments_live_slot",
        "schedule_id",
        "slot",
        unique=True,
        sqlite_where=text_clause("status <> 'cancelled'"),
        postgresql_where=text_clause("status <> 'cancelled'"),
    ),
)

# --- Offline payment (migration 0021) --------------------------------------------------------

offline_limits = Table(
    "offline_limits",
    metadata,
    # A site's offline limits (OfflineLimits as JSON); a site without a row uses the defaults.
    Column("hospital_id", ID, ForeignKey("hospitals.id"), primary_key=True),
    Column("limits", Text, nullable=False),
    Column("version", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

offline_issues = Table(
    "offline_issues",
    metadata,
    # One offline package issued to a terminal: what a voucher is checked against.
    Column("terminal_id", ID, ForeignKey("terminals.id"), primary_key=True),
    Column("library_version", String(64), primary_key=True),
    Column("limits_version", String(64), primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("limits", Text, nullable=False),
    Column("templates", Text, nullable=False),  # JSON {template id: person id}
    Column("library_sha256", String(64), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("last_issued_at", DateTime(timezone=True), nullable=False),
)

offline_sync_state = Table(
    "offline_sync_state",
    metadata,
    # How far a terminal's voucher chain is posted; locked while one of its vouchers is decided.
    Column("terminal_id", ID, ForeignKey("terminals.id"), primary_key=True),
    Column("last_counter", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

LIVE_VOUCHER = "status <> 'quarantined'"
offline_vouchers = Table(
    "offline_vouchers",
    metadata,
    Column("id", String(36), primary_key=True),  # the terminal's UUIDv7
    Column("terminal_id", ID, ForeignKey("terminals.id"), nullable=False),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("counter", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("reason", String(40)),
    Column("person_id", ID, nullable=False),
    Column("bill_id", ID, nullable=False),
    Column("cash_collected_fen", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("settlement_id", String(40), ForeignKey("settlements.id")),
    Column("difference_kind", String(12), nullable=False),
    Column("difference_fen", BigInteger, nullable=False),
    Column("message", String(300), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Column("review", String(8)),
    Column("reviewed_by", String(200)),
    Column("review_note", String(300)),
    CheckConstraint("status IN ('posted', 'held', 'quarantined')", name="known_status"),
    CheckConstraint(
        "difference_kind IN ('none', 'arrears', 'refund_due')", name="known_difference"
    ),
    CheckConstraint("review IS NULL OR review IN ('post', 'reject')", name="known_review"),
    CheckConstraint("counter >= 1 AND difference_fen >= 0", name="amounts_valid"),
    Index("ix_offline_vouchers_site", "hospital_id", "received_at", "id"),
    # A patient's balances list the vouchers that made them.
    Index("ix_offline_vouchers_person", "hospital_id", "person_id", "received_at"),
    # The database's own guard: one voucher of a terminal's chain per counter.
    Index(
        "uq_offline_vouchers_live_counter",
        "terminal_id",
        "counter",
        unique=True,
        sqlite_where=text_clause(LIVE_VOUCHER),
        postgresql_where=text_clause(LIVE_VOUCHER),
    ),
)

hl7_messages = Table(
    "hl7_messages",
    metadata,
    # One inbound HL7 v2 message of a site, stored in the transaction that applied it.
    Column("id", String(40), primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("sending_application", String(180), nullable=False),
    Column("sending_facility", String(180), nullable=False),
    Column("control_id", String(199), nullable=False),
    Column("message_type", String(20), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("status", String(8), nullable=False),
    Column("ack_code", String(2), nullable=False),
    Column("ack", Text, nullable=False),
    Column("error", String(300)),
    # Patient data: kept for hl7_raw_retention_days, then set to NULL (facepay his prune).
    Column("raw", Text),
    CheckConstraint("status IN ('applied', 'error', 'rejected')", name="known_status"),
    CheckConstraint("ack_code IN ('AA', 'AE', 'AR')", name="known_ack"),
    # MSH-10 is unique per sender: a repeat is answered with the ACK stored here.
    UniqueConstraint(
        "hospital_id",
        "sending_application",
        "sending_facility",
        "control_id",
        name="uq_hl7_messages_key",
    ),
    Index("ix_hl7_messages_received", "received_at"),
)

his_patients = Table(
    "his_patients",
    metadata,
    # A hospital system's patient id (PID-3, type MR) linked to an insured person, per site.
    Column("hospital_id", ID, ForeignKey("hospitals.id"), primary_key=True),
    Column("his_patient_id", String(64), primary_key=True),
    Column("person_id", ID, ForeignKey("insured_persons.id"), nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_his_patients_person", "hospital_id", "person_id"),
)

hl7_cursors = Table(
    "hl7_cursors",
    metadata,
    # How far a hospital system's MLLP endpoint acknowledged the site's events (his_events).
    Column("hospital_id", ID, ForeignKey("hospitals.id"), primary_key=True),
    Column("endpoint", String(300), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The national insurance platform's client (facepay.adapters.nhsa.store, migration 0025).
nhsa_institutions = Table(
    "nhsa_institutions",
    metadata,
    Column("hospital_id", ID, ForeignKey("hospitals.id"), primary_key=True),
    Column("fixmedins_code", String(30), nullable=False, unique=True),
    Column("fixmedins_name", String(200), nullable=False),
    Column("mdtrtarea_admvs", String(6), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

NHSA_CLAIMED = (
    "infno IN ('2207', '2304') AND ref IS NOT NULL AND state IN ('sent', 'answered', 'lost')"
)
nhsa_messages = Table(
    "nhsa_messages",
    metadata,
    Column("msgid", String(30), primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("infno", String(4), nullable=False),
    Column("ref", KEY),
    Column("opter", String(30), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("answer", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    CheckConstraint(
        "state IN ('sent', 'answered', 'failed', 'lost', 'reversed', 'cancelled')",
        name="known_state",
    ),
    Index("ix_nhsa_messages_site", "hospital_id", "infno", "ref"),
    Index("ix_nhsa_messages_state", "state", "created_at"),
    # One live settlement message per (site, payment key): a retried payment never settles twice.
    Index(
        "uq_nhsa_messages_claim",
        "hospital_id",
        "infno",
        "ref",
        unique=True,
        sqlite_where=text(NHSA_CLAIMED),
        postgresql_where=text(NHSA_CLAIMED),
    ),
)

# A hospital system's FHIR rest-hook subscriptions (migration 0023): the cursor is the site's
# audit-chain position delivered up to; the lease lets one server process deliver at a time.
fhir_subscriptions = Table(
    "fhir_subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("hospital_id", ID, ForeignKey("hospitals.id"), nullable=False),
    Column("criteria", String(60), nullable=False),
    Column("endpoint", String(500), nullable=False),
    Column("payload", Boolean, nullable=False),
    Column("reason", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", String(300)),
    Column("lease_owner", String(80)),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_by", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_fhir_subscriptions_hospital", "hospital_id", "created_at"),
    Index("ix_fhir_subscriptions_due", "status", "next_attempt_at"),
)
