"""The one settings class. Every field can be set from the environment with the prefix FACEPAY_."""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRETS = ("changethis", "changeme", "change-me", "secret", "password", "example")


class Settings(BaseSettings):
    """facepay's configuration; frozen, secrets masked in repr. Built in bootstrap only."""

    # hide_input_in_errors: a rejected secret or database URL must not be echoed into logs.
    model_config = SettingsConfigDict(
        env_prefix="FACEPAY_",
        frozen=True,
        extra="ignore",
        hide_input_in_errors=True,
        use_attribute_docstrings=True,  # the field docstrings below are what .env.example says
    )

    data_dir: Path = Path("facepay-data")
    """Data folder (0700): the SQLite file, the sealed gallery file and, by default, the key."""
    database_url: SecretStr | None = None
    """SQLAlchemy URL; None means the embedded SQLite file `<data_dir>/facepay.sqlite`."""
    database_pool_size: int = 10
    """Connections kept per process (PostgreSQL; SQLite serialises writers anyway)."""
    database_lock_timeout_ms: int | None = 5_000
    """How long a payment waits for a locked account before failing with `storage_busy`."""
    database_migrate_on_start: bool = True
    """Apply pending Alembic migrations when the engine is built."""

    template_key_file: Path | None = None
    """AES-256 key sealing templates; None: `<data_dir>/template.key`, made on first run."""
    offline_signing_key_file: Path | None = None
    """Ed25519 key signing the offline limits terminals trust; None:
    `<data_dir>/offline-signing.key`, made on first use. Give every server the same file."""
    offline_library_max_persons: int = Field(default=2_000, ge=0, le=50_000)
    """Most persons one terminal's offline face library holds (the site's open bills, today's
    bookings and admissions, most recent first); 0 sends no library at all."""

    # Face engine
    detect_max_side: int = 640
    """Frames are scaled so that their longer side is at most this many pixels before detection."""
    detect_second_pass_scale: float = 1.5
    """Enlargement of the second HOG pass that finds faces of ~50-80 px (1 disables it)."""
    detect_fast_path_min_face: int = 134
    """Skip the upsampled HOG pass when a face this wide (detection pixels) is already found."""
    embed_backend: Literal["numpy", "dlib"] = "numpy"
    """Who runs the dlib ResNet: NumPy (same outputs, ~5× faster here) or dlib itself."""
    face_engine_detectors: int | None = Field(default=None, ge=1, le=64)
    """HOG detectors per process, i.e. threads that can detect at once (None: one per core).
    On 2 cores a pool of 2 gave 2.1-2.3 identifications/s where 1 (a lock) gave 1.4."""

    # Decisions (cosine similarity of L2-normalised dlib embeddings). Calibrated on the sample
    # set (facepay.vision.evaluation docstring): every impostor there scores <= 0.920, every
    # genuine pair >= 0.944; 0.93 gave FMR 0 over 2,492 impostor comparisons (FMR <= 1.2e-3 at
    # 95 % confidence, rule of three). Scores in [threshold, threshold + band) or a runner-up
    # within `identify_margin` make a 1:N result ambiguous (ask for a second factor).
    verify_threshold: float = 0.93
    """1:1 verification (and the enrolment duplicate screen): same person at or above this."""
    identify_threshold: float = 0.93
    """1:N identification: the best candidate must score at least this."""
    identify_margin: float = 0.02
    """A runner-up within this of the best candidate makes the result ambiguous."""
    identify_ambiguity_band: float = 0.01
    """A best score below `identify_threshold` + this is ambiguous (ask for a second factor)."""
    duplicate_review_threshold: float = Field(default=0.90, ge=-1.0, le=1.0)
    """Enrolment's 1:N duplicate screen: a face at or above `verify_threshold` against another
    person is refused (`duplicate_face`); one in [this, verify_threshold) is enrolled but raised as
    a `possible_duplicate_face` alert for a supervisor to adjudicate. Genuine pairs of re-captured
    faces can fall below 0.93 (synthetic kiosk captures of one person scored 0.904-0.97), and
    lookalikes reach 0.92, so this grey zone goes to a person rather than to a rule."""

    # Patient flows (facepay.services)
    identification_ttl_seconds: int = Field(default=180, gt=0, le=3_600)
    """How long an identification may be used for one payment."""
    face_pay_limit_fen: int = Field(default=5_000_000, ge=0)
    """Face payments of this many fen or more at a hospital need a second factor (50,000 yuan)."""
    bill_max_age_days: int = Field(default=730, gt=0, le=3_650)
    """How old a bill's service date may be when the hospital posts it (two years)."""
    face_pay_limit_pharmacy_fen: int = Field(default=500_000, ge=0)
    """The same limit at a pharmacy (5,000 yuan), INSURANCE.md §5."""

    # Pharmacy windows and exams (facepay.services.dispensing, facepay.api.routes.orders)
    pharmacy_default_window: str = Field(default="1", min_length=1, max_length=60)
    """The pharmacy window of a paid drug line whose bill names none."""
    pharmacy_stream_poll_ms: int = Field(default=500, ge=50, le=10_000)
    """How often a window's event stream looks in the database for orders paid on any worker."""
    pharmacy_stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    """A comment line on an idle event stream this often, so proxies keep it open."""
    pharmacy_streams_per_site: int = Field(default=16, ge=1, le=1_000)
    """Concurrent window event streams one site may hold open in one worker process."""
    pharmacy_stream_max_seconds: float = Field(default=3_600.0, gt=0, le=86_400)
    """A stream ends after this long; the window reconnects with Last-Event-ID and misses
    nothing."""
    # Appointments (facepay.services.appointments): every site's defaults; a site's admin may
    # set its own policy (PUT /v1/appointment-policy).
    hospital_utc_offset_minutes: int = Field(default=480, ge=-720, le=840)
    """How far the hospitals' local time is ahead of UTC (China: 480); session times are local."""
    appointment_per_department_day: int = Field(default=1, ge=1, le=50)
    """Bookings one person may hold in one department on one day."""
    appointment_per_week: int = Field(default=3, ge=1, le=50)
    """Bookings one person may hold across a site in one week (Monday to Sunday)."""
    appointment_release_min_seconds: int = Field(default=300, ge=0, le=86_400)
    """A cancelled slot returns to the pool no sooner than this after the cancel."""
    appointment_release_max_seconds: int = Field(default=1_800, ge=0, le=86_400)
    """... and no later than this (a random moment in between, so scalpers cannot time it)."""
    appointment_cancel_cutoff_minutes: int = Field(default=0, ge=0, le=86_400)
    """A cancel at least this long before the session starts refunds the registration fee."""
    appointment_check_in_early_minutes: int = Field(default=120, ge=0, le=86_400)
    """How long before a session starts its patients may check in."""
    # Inpatient stays (facepay.services.inpatient)
    inpatient_low_deposit_fen: int = Field(default=100_000, ge=0, le=10**10)
    """A stay's deposit is low when what is left of it after the charges so far is below this
    many fen (1,000 yuan): the stay read says so and one `low_deposit` alert is raised."""
    inpatient_low_deposit_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    """Or below this percentage of the charges so far, when that is more (0: the fixed amount
    only)."""

    # Liveness (presentation-attack detection); see README "Liveness".
    liveness_identity_threshold: float = 0.92
    """Cosine between a capture's first and last face below which it is a face swap."""
    liveness_challenge_ttl_seconds: float = 30.0
    """How long an issued liveness challenge may be answered."""
    liveness_pad_model: Path | None = None
    """Optional ONNX passive PAD model (needs onnxruntime, not a dependency)."""

    # Gallery
    gallery_backend: str = "faiss"
    """`faiss` (default: exact, then HNSW), `faiss-ivf` (region-sized: exact, then IVF-SQ8 with
    exact re-ranking; about 0.8 KB a template) or `memory`."""
    gallery_hnsw_above: int = 20_000
    """Galleries larger than this use HNSW; smaller ones exact inner-product search."""
    gallery_hnsw_m: int = 32
    """HNSW graph degree (links per node)."""
    gallery_hnsw_ef_construction: int = 160
    """Graph quality: at 100k, efSearch 16 reaches recall@1 0.999 with 160, 0.949 with 80."""
    gallery_hnsw_ef_search: int = 256
    """At 1M (bench/gallery.py) recall@1 0.997 against exact search, 0.985 with 128."""
    gallery_ivf_above: int = Field(default=100_000, ge=0)
    """`faiss-ivf`: galleries larger than this search an IVF-SQ8 index; smaller ones exactly."""
    gallery_ivf_nprobe: int = Field(default=16, gt=0)
    """`faiss-ivf`: IVF lists probed a search (about 2 sqrt(n) lists), see docs/gallery.md."""
    gallery_ivf_rerank: int = Field(default=32, gt=0)
    """`faiss-ivf`: SQ8 candidates re-scored on the exact float32 embedding each search."""

    # Security: staff tokens, terminal request signatures, refund limits (facepay.api)
    environment: Literal["dev", "test", "production"] = "dev"
    """Only `dev` may run without FACEPAY_JWT_SECRET (then a random per-process key is used)."""
    jwt_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(48)))
    """HS256 key for staff JWTs: at least 32 bytes, never a placeholder; required outside dev."""
    staff_token_ttl_seconds: int = Field(default=900, gt=0, le=86_400)
    """Lifetime of a staff JWT issued by `POST /v1/auth/login`."""
    token_leeway_seconds: int = Field(default=30, ge=0, le=300)
    """Clock skew tolerated on a staff token's exp / nbf / iat."""
    request_max_skew_seconds: int = Field(default=300, gt=0, le=3_600)
    """Terminal signatures: farthest a request timestamp may be from server time, either way.
    Nonces are remembered until timestamp + this, so there is no separate nonce TTL to get wrong."""
    cashier_refund_limit_fen: int = Field(default=50_000, ge=0)
    """Largest refund a cashier may make (500 yuan); a hospital admin may refund any amount."""

    # Settlement platform (facepay.insurance.platform, docs/nhsa.md)
    settlement_platform: Literal["local", "nhsa"] = "local"
    """Who computes the insurance split of a bill paid at the cashier or kiosk: `local`
    (facepay's engine, in the payment's transaction) or `nhsa` (the national platform:
    2201 -> 2204 -> 2206 -> 2207 over HTTP; each site registered with
    `facepay nhsa register-site`)."""
    nhsa_url: str | None = None
    """Base URL of the national platform's interface (required with settlement_platform=nhsa)."""
    nhsa_path: str = Field(default="/", min_length=1, max_length=200)
    """Path every message is POSTed to under `nhsa_url` (one URL for every transaction)."""
    nhsa_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    """How long the client waits for an answer before it counts as lost (then a query is asked
    again and a change is reversed with 2601)."""
    nhsa_attempts: int = Field(default=3, ge=1, le=10)
    """Tries of a query, and of a reversal, before the client gives up."""
    nhsa_infver: str = Field(default="V1.0", min_length=1, max_length=6)
    """`infver`: the interface version the insurer announced."""
    nhsa_recer_sys_code: str = Field(default="YBXT", min_length=1, max_length=10)
    """`recer_sys_code`: the receiving system (YBXT for ordinary insurance business)."""
    nhsa_med_type: str = Field(default="11", pattern=r"^[0-9]{2,6}$")
    """`med_type` of an outpatient bill (11 general outpatient)."""

    maintenance_interval_seconds: float = Field(default=60.0, gt=0, le=3_600)
    """How often the server forgets expired request nonces and liveness challenges and voids
    expired ledger holds (facepay.services.upkeep)."""

    gallery_snapshot: bool = True
    """Keep the gallery in `<data>/gallery.snapshot` (a sealed base and an append-only log of
    changes, written by one process per data folder) and restart from it; off: the whole
    `gallery.sealed` file is written again after every enrolment and erasure."""

    gallery_follow_interval_ms: int = Field(default=200, ge=10, le=60_000)
    """How often each server process applies the template journal to its gallery (enrolments
    and erasures made by other processes); an enrolment elsewhere is identifiable here within
    about this long plus the time to open its row."""

    # The FHIR R4 facade (/fhir/R4, facepay.api.routes.fhir; docs/fhir.md)
    fhir_max_body_bytes: int = Field(default=1024 * 1024, gt=0, le=8 * 1024 * 1024)
    """Largest FHIR request body (an Invoice of 200 ChargeItems is about 150 KB); bigger is a
    413 OperationOutcome. At most `api_max_body_bytes`, which the whole API enforces first."""
    fhir_default_count: int = Field(default=20, ge=1, le=500)
    """Entries of a searchset page when the client sends no `_count`."""
    fhir_max_count: int = Field(default=100, ge=1, le=500)
    """Largest `_count` a search accepts (a larger one is a 400)."""
    fhir_reconciliation_max_details: int = Field(default=20_000, ge=1, le=200_000)
    """Most settlements plus reversals one PaymentReconciliation (a site's day) holds; a
    busier day is a 422 telling the client to page through Claim searches instead."""

    fhir_subscription_allowed_hosts: str = Field(
        default="127.0.0.1,::1,localhost", max_length=4_000, pattern=r"^[A-Za-z0-9.:\-,\[\] ]*$"
    )
    """Hosts a rest-hook Subscription may post to, comma-separated: exact names or IP literals
    (`his.example-hospital.local,10.1.2.3`). Loopback only by default: the server posts
    wherever a subscription says, so the list keeps a caller from aiming it at anything else."""
    fhir_subscriptions_per_site: int = Field(default=20, ge=1, le=1_000)
    """Live (not `off`) subscriptions one site may hold."""
    fhir_subscription_interval_seconds: float = Field(default=1.0, gt=0, le=3_600)
    """How often each server process runs a delivery round (facepay.services.his_notifications)."""
    fhir_subscription_round_size: int = Field(default=50, ge=1, le=1_000)
    """Subscriptions one round leases and serves."""
    fhir_subscription_batch: int = Field(default=20, ge=1, le=500)
    """Events one subscription is sent in one round (the rest follow in the next rounds)."""
    fhir_subscription_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """How long a receiver has to answer one notification."""
    fhir_subscription_lease_seconds: float = Field(default=300.0, gt=0, le=86_400)
    """How long a process holds a subscription while it delivers; make it longer than
    `fhir_subscription_batch` x `fhir_subscription_timeout_seconds`, so that a slow receiver
    never has two processes posting to it at once."""
    fhir_subscription_backoff_seconds: float = Field(default=2.0, gt=0, le=3_600)
    """The wait after a first failed delivery; it doubles with each failure in a row."""
    fhir_subscription_backoff_max_seconds: float = Field(default=600.0, gt=0, le=86_400)
    """The longest wait between two attempts."""
    fhir_subscription_max_failures: int = Field(default=10, ge=1, le=1_000)
    """Failures in a row after which a subscription turns `error` and is no longer tried."""

    # HTTP API limits (facepay.api): a clear 413 / 422 / 429 for each
    api_max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Largest request body; a capture of 32 JPEG frames of 640x480 is about 2-4 MB in base64.
    With the capture limits below it keeps any one request under 64 MB of server memory
    (tests/e2e/test_server_memory.py): the body is held a few times over while it is parsed."""
    api_max_frames: int = Field(default=60, gt=0, le=600)
    """Most frames in one capture."""
    api_max_image_pixels: int = Field(default=4_000_000, gt=0)
    """Per image, checked from the header before decoding (2000x2000; cameras send 640x480)."""
    api_max_capture_source_pixels: int = Field(default=24_000_000, gt=0)
    """All frames of a capture as sent, from their headers: bounds the work of decoding them
    (78 frames of 640x480; the issue's 60 frames of 2000x2000 declare 240 million)."""
    api_max_concurrent_captures: int | None = Field(default=None, ge=1, le=256)
    """Capture requests handled at once per process (None: one more than the face engine's
    detectors); the rest wait before their body is read, up to 30 s, then get 503."""
    api_max_capture_kept_pixels: int = Field(default=9_830_400, gt=0)
    """All frames of a capture once scaled to `detect_max_side`: bounds the memory they hold
    while liveness runs (32 frames of 640x480, 28 MiB; 3 s of a 10 fps kiosk camera)."""
    api_rate_terminal_per_second: float = Field(default=5.0, gt=0)
    """Requests per second each terminal may make on average (token bucket; 429 beyond)."""
    api_rate_terminal_burst: int = Field(default=30, gt=0)
    """Requests a terminal may make at once before its rate applies."""
    api_rate_staff_per_second: float = Field(default=5.0, gt=0)
    """Requests per second each staff member may make on average (token bucket; 429 beyond)."""
    api_rate_staff_burst: int = Field(default=30, gt=0)
    """Requests a staff member may make at once before their rate applies."""
    api_rate_login_per_minute: float = Field(default=10.0, gt=0)
    """Login attempts per user name (argon2id also costs ~50 ms of CPU each)."""

    # HL7 v2 over MLLP (`facepay his listen`, facepay.adapters.hl7v2)
    hl7_max_message_bytes: int = Field(default=1_048_576, ge=1_024, le=64 * 1_048_576)
    """Largest HL7 v2 message (one MLLP frame); a longer one is answered AR and skipped, and a
    connection never buffers more than this."""
    hl7_max_connections: int = Field(default=32, ge=1, le=1_024)
    """MLLP connections served at once by one listener; one more is closed at once."""
    hl7_idle_timeout_seconds: float = Field(default=120.0, gt=0, le=86_400)
    """An MLLP connection silent this long is closed (an unterminated frame is dropped)."""
    hl7_raw_retention_days: int = Field(default=30, ge=1, le=3_650)
    """Days the raw text of an inbound HL7 message (patient data) is kept for tracing; after
    that only its key, type, status and ACK stay (`facepay his prune`, and the listener hourly)."""
    hl7_ack_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """How long a notification waits for the hospital system's ACK before it is sent again."""
    hl7_notify_max_backoff_seconds: float = Field(default=300.0, gt=0, le=3_600)
    """Longest wait between two attempts to deliver a notification (doubling from 1 s)."""

    @model_validator(mode="after")
    def _refuse_weak_jwt_secret(self) -> Self:
        """Refuse a missing secret outside dev and a short or placeholder secret anywhere."""
        if "jwt_secret" not in self.model_fields_set:
            if self.environment != "dev":
                raise ValueError("FACEPAY_JWT_SECRET must be set outside the dev environment")
            return self
        secret = self.jwt_secret.get_secret_value()
        weak = any(word in secret.lower() for word in _PLACEHOLDER_SECRETS)
        if len(secret.encode("utf-8")) < 32 or weak or len(set(secret)) < 10:
            raise ValueError(
                "FACEPAY_JWT_SECRET must be >= 32 random bytes, e.g. "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
            )
        return self

    @model_validator(mode="after")
    def _nhsa_needs_an_address(self) -> Self:
        """The national platform is reached at `nhsa_url`, an http(s) URL."""
        if self.settlement_platform == "nhsa":
            url = self.nhsa_url or ""
            if not url.startswith(("http://", "https://")):
                raise ValueError("FACEPAY_NHSA_URL must be the platform's http(s) URL")
        return self

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded database lives."""
        return self.data_dir / "facepay.sqlite"

    def subscription_hosts(self) -> tuple[str, ...]:
        """`fhir_subscription_allowed_hosts` as a tuple of host names and IP literals."""
        hosts = (h.strip() for h in self.fhir_subscription_allowed_hosts.split(","))
        return tuple(h for h in hosts if h)

    def resolved_database_url(self) -> str:
        """The database URL in force: the configured one, else the embedded SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.sqlite_path}"

    def resolved_detectors(self) -> int:
        """HOG detectors of the face engine: as set, else one per core."""
        return self.face_engine_detectors or max(1, os.cpu_count() or 1)

    def resolved_concurrent_captures(self) -> int:
        """Capture requests admitted at once: as set, else one per detector plus one."""
        return self.api_max_concurrent_captures or self.resolved_detectors() + 1

    def resolved_template_key_file(self) -> Path:
        """The key file in force."""
        return self.template_key_file or self.data_dir / "template.key"

    def resolved_offline_signing_key_file(self) -> Path:
        """The offline signing key file in force."""
        return self.offline_signing_key_file or self.data_dir / "offline-signing.key"
