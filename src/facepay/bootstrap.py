"""Composition root: the only place that reads settings and builds models, engines and indexes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from facepay.access.context import Access, RequestLimits
from facepay.access.passwords import PasswordHashing
from facepay.access.rbac import policy_with_cashier_limit
from facepay.access.signing import RequestVerifier
from facepay.access.tokens import StaffTokens
from facepay.adapters.crypto import TemplateKeyring
from facepay.adapters.data_dir import create_private_file, prepare_data_dir
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.security_ports import (
    SqlAlchemyNonceStore,
    SqlAlchemyStaffAccounts,
    SqlAlchemyTerminalKeys,
)
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.fhir.notify import FhirRestHook
from facepay.adapters.interchange import shipped_policies
from facepay.adapters.nhsa.client import NhsaClient
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.store import SqlAlchemyMessageLog
from facepay.adapters.offline_key import load_or_create_offline_signing_key
from facepay.config import Settings
from facepay.gallery.faiss_gallery import FaissGallery
from facepay.gallery.memory import InMemoryGallery
from facepay.gallery.ports import Gallery, Sealer
from facepay.gallery.snapshot import GallerySnapshot
from facepay.insurance.platform import LocalPlatform, SettlementPlatform
from facepay.services.admin import TEMPLATE_KEY_ID
from facepay.services.backup import SNAPSHOT
from facepay.services.context import Services, Storage, StorageServices
from facepay.services.face_cache import CachingFaceEngine
from facepay.services.gallery_sync import load_gallery
from facepay.services.ports import UnitOfWork
from facepay.services.shared_state import SharedTokenBuckets, StoredChallengeBook
from facepay.services.template_integrity import require_template_key
from facepay.shared.clock import Clock, SystemClock
from facepay.shared.errors import ConfigurationError, InvalidInput, Unavailable
from facepay.vision.dlib_engine import MODEL_VERSION, DlibFaceEngine
from facepay.vision.engine import FaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy
from facepay.vision.liveness.checks.model import OnnxPadModel
from facepay.vision.liveness.policy import default_checks
from facepay.vision.types import Embedding, Face, RGBImage


def load_settings(data_dir: Path | None = None) -> Settings:
    """Read settings from the environment (prefix FACEPAY_), `data_dir` (`--data`) first.

    A value the settings refuse is a ConfigurationError naming the variable and what it needs.
    """
    try:
        return Settings(data_dir=data_dir) if data_dir is not None else Settings()
    except ValidationError as error:
        raise ConfigurationError(settings_problem(error), code="bad_setting") from None


def settings_problem(error: ValidationError) -> str:
    """One line for a refused setting: `FACEPAY_NAME: what is wrong` (values are never shown)."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        field = ".".join(str(part) for part in item["loc"])
        problems.append(f"FACEPAY_{field.upper()}: {message}" if field else message)
    return "; ".join(problems)


def build_face_engine(settings: Settings) -> DlibFaceEngine:
    """Load the dlib models once (about 2 s), with one HOG detector per core by default."""
    return DlibFaceEngine(
        detect_max_side=settings.detect_max_side,
        second_pass_scale=settings.detect_second_pass_scale,
        fast_path_min_face=settings.detect_fast_path_min_face,
        embed_backend=settings.embed_backend,
        detectors=settings.resolved_detectors(),
    )


def build_template_sealer(settings: Settings, *, create: bool = True) -> TemplateKeyring:
    """The AES-256-GCM template keyring: the key file (made 0600 on first run unless not
    `create`) and, while a key rotation runs, the key being retired next to it."""
    data_dir(settings)
    return TemplateKeyring(settings.resolved_template_key_file(), create=create)


def data_dir(settings: Settings) -> Path:
    """The data folder, created 0700; one open to other users is refused outside dev."""
    return prepare_data_dir(settings.data_dir, strict=settings.environment != "dev")


def build_gallery(settings: Settings, *, dim: int, model_version: str) -> Gallery:
    """An empty gallery of the configured backend (`faiss`, `faiss-ivf` or `memory`) for one
    face model."""
    if settings.gallery_backend == "memory":
        return InMemoryGallery(dim=dim, model_version=model_version)
    if settings.gallery_backend == "faiss-ivf":
        from facepay.gallery.faiss_ivf import FaissIvfGallery  # noqa: PLC0415 - only when chosen

        return FaissIvfGallery(
            dim=dim,
            model_version=model_version,
            ivf_above=settings.gallery_ivf_above,
            nprobe=settings.gallery_ivf_nprobe,
            rerank=settings.gallery_ivf_rerank,
        )
    if settings.gallery_backend == "faiss":
        return FaissGallery(
            dim=dim,
            model_version=model_version,
            hnsw_above=settings.gallery_hnsw_above,
            hnsw_m=settings.gallery_hnsw_m,
            ef_construction=settings.gallery_hnsw_ef_construction,
            ef_search=settings.gallery_hnsw_ef_search,
        )
    raise InvalidInput(
        f"unknown gallery backend {settings.gallery_backend!r}; use 'faiss', 'faiss-ivf' or "
        "'memory'",
        code="bad_setting",
    )


def build_engine(
    settings: Settings, *, check_schema: Callable[[Connection], None] | None = None
) -> Engine:
    """The database engine (embedded SQLite file unless a URL is set), migrated if so configured;
    `check_schema` looks at the database on the first connection, before any migration."""
    url = settings.resolved_database_url()
    if settings.database_url is None:
        data_dir(settings)
        create_private_file(settings.sqlite_path)  # before SQLite opens it, so it is 0600
    require_database_url(settings)
    engine = database_engine(url, pool_size=settings.database_pool_size)
    try:
        with engine.connect() as connection:
            if check_schema is not None:
                check_schema(connection)
        if settings.database_migrate_on_start:
            upgrade(engine)
    except SQLAlchemyError as error:
        engine.dispose()
        raise ConfigurationError(
            f"cannot use the database {masked_url(url)}: {database_error_line(error)}; check "
            "FACEPAY_DATABASE_URL and that the server runs and accepts this user",
            code="database_unreachable",
        ) from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def require_database_url(settings: Settings) -> None:
    """ConfigurationError unless the database URL parses and names a driver facepay ships."""
    try:
        driver: str | None = make_url(settings.resolved_database_url()).drivername
    except ArgumentError:
        driver = None
    # The drivers facepay ships: pysqlite (the standard library) and psycopg 3.
    if driver not in ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"):
        raise ConfigurationError(
            "FACEPAY_DATABASE_URL is not a database URL facepay can use: give "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE, or leave it unset for the "
            "SQLite file in the data folder",
            code="bad_setting",
        )


def require_schema(connection: Connection, settings: Settings, *, hint: str) -> None:
    """Look at the database's migration revision before anything writes to it: no facepay schema
    is "not initialised" (and none is created, so a mistyped database stays as it was); a
    revision this facepay does not know came from a newer one; with migrations on start turned
    off, a pending one must be applied with `facepay admin migrate`."""
    from facepay.adapters.db.snapshot import (  # noqa: PLC0415 - Alembic's script directory
        current_revision,
        head_revision,
        is_known_revision,
    )

    url = settings.resolved_database_url()
    revision = current_revision(connection)
    if revision is None:
        raise ConfigurationError(
            f"not initialised: the database {masked_url(url)} has no facepay schema; {hint}",
            code="not_initialised",
        )
    if not is_known_revision(revision):
        raise ConfigurationError(
            f"the database {masked_url(url)} is at revision {revision}, which a newer facepay "
            "made: run that version, or restore a backup made by this one",
            code="database_too_new",
        )
    if not settings.database_migrate_on_start and revision != head_revision():
        raise ConfigurationError(
            f"the database {masked_url(url)} is at revision {revision}, this facepay needs "
            f"{head_revision()}: run `facepay admin migrate` first",
            code="migration_pending",
        )


def masked_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


def database_error_line(error: SQLAlchemyError) -> str:
    """The first line of what the database driver said (to print after a database's URL)."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


def build_unit_of_work(settings: Settings, engine: Engine) -> Callable[[], SqlAlchemyUnitOfWork]:
    """A factory of units of work on `engine` (one per use-case call)."""
    timeout = settings.database_lock_timeout_ms
    return lambda: SqlAlchemyUnitOfWork(engine, lock_timeout_ms=timeout)


def build_storage(
    settings: Settings, *, check_schema: Callable[[Connection], None] | None = None
) -> StorageServices:
    """Storage, policies and clock without face models or gallery (admin and audit commands)."""
    engine = build_engine(settings, check_schema=check_schema)
    return StorageServices(
        settings=settings,
        policies=shipped_policies(),
        uow=build_unit_of_work(settings, engine),
        clock=SystemClock(),
    )


def close_storage(storage: Storage) -> None:
    """Give back the database connections of `storage` (a command that ran in a process that
    goes on, such as a test's, must not leave them to the garbage collector)."""
    probe = storage.uow()
    if isinstance(probe, SqlAlchemyUnitOfWork):
        probe.engine.dispose()


def open_installation(settings: Settings) -> StorageServices:
    """The storage of an installation `facepay admin init` made; anything else is refused
    without creating a file: a missing or mistyped folder, a folder without the database, a
    database without a platform operator. Every command but `admin init` starts here."""
    require_database_url(settings)
    folder = settings.data_dir
    hint = f"run `facepay admin init --data {folder}` first"
    if settings.database_url is not None:
        url = masked_url(settings.resolved_database_url())
        hint += f" (with the same FACEPAY_DATABASE_URL, {url})"
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"the data folder {folder} is a file, not a folder")
    if not folder.is_dir():
        raise ConfigurationError(
            f"not initialised: no data folder {folder}; {hint}", code="not_initialised"
        )
    data_dir(settings)  # refuses a folder open to other users (outside dev)
    if settings.database_url is None and not settings.sqlite_path.is_file():
        raise ConfigurationError(
            f"not initialised: {folder} has no facepay.sqlite; {hint}", code="not_initialised"
        )
    storage = build_storage(
        settings, check_schema=lambda connection: require_schema(connection, settings, hint=hint)
    )
    with storage.uow() as uow:
        operators = uow.tenants.platform_operator_names()
        key_id = uow.tenants.installation_value(TEMPLATE_KEY_ID)
    if not operators:
        raise ConfigurationError(
            f"not initialised: the database has no platform operator yet; {hint}",
            code="not_initialised",
        )
    key_file = settings.resolved_template_key_file()
    if key_id is not None and not key_file.exists():
        # Never make a new key here: nothing this database holds would open with it.
        raise ConfigurationError(
            f"the template key {key_file} is missing: this database's face templates are sealed "
            f"with key {key_id}; restore the key file from its backup (docs/operations.md) or "
            "set FACEPAY_TEMPLATE_KEY_FILE to it",
            code="missing_template_key",
        )
    return storage


def build_services(
    settings: Settings,
    *,
    storage: StorageServices | None = None,
    face_engine: FaceEngine | None = None,
    uow: Callable[[], UnitOfWork] | None = None,
    clock: Clock | None = None,
    gallery: Gallery | None = None,
    sealer: Sealer | None = None,
    platform: SettlementPlatform | None = None,
) -> Services:
    """Everything a server needs: models, storage, liveness, policies, and the gallery loaded
    from its sealed file, or rebuilt from the templates table when the file is missing or stale.

    `storage`: already opened (`open_installation`), else built from the settings. The other
    keywords replace one part and keep the rest of the wiring, for tests and benchmarks: `uow`
    a factory of units of work (in memory, or on a database engine the caller disposes of),
    `face_engine` a loaded or fake engine, `clock` a fixed clock, `gallery` and `sealer` their
    in-memory or test versions.
    """
    if storage is not None and uow is not None:
        raise ValueError("pass an opened storage or a unit of work factory, not both")
    if storage is None:
        storage = (
            build_storage(settings)
            if uow is None
            else StorageServices(settings, shipped_policies(), uow, SystemClock())
        )
    if clock is not None:
        storage = replace(storage, clock=clock)
    # A wrong folder, database or key is refused before seconds go into loading models.
    sealer = sealer or build_template_sealer(settings)
    require_template_key(ctx=storage, sealer=sealer, model_version=MODEL_VERSION)
    # Liveness and the use case look at the same frames: detect each one once.
    engine = face_engine or build_face_engine(settings)
    if not isinstance(engine, CachingFaceEngine):
        engine = CachingFaceEngine(engine)
    pad = OnnxPadModel(settings.liveness_pad_model) if settings.liveness_pad_model else None
    checks = default_checks(pad_model=pad, identity_threshold=settings.liveness_identity_threshold)
    legacy = settings.data_dir / "gallery.sealed"
    ctx = Services(
        settings=settings,
        engine=engine,
        gallery=gallery
        or build_gallery(settings, dim=engine.embedding_dim, model_version=engine.model_version),
        sealer=sealer,
        liveness=LivenessPolicy(engine=engine, checks=checks),
        challenges=StoredChallengeBook(storage.uow),
        policies=storage.policies,
        uow=storage.uow,
        clock=storage.clock,
        gallery_path=None if settings.gallery_snapshot else legacy,
        platform=platform
        or build_settlement_platform(settings, uow=storage.uow, clock=storage.clock),
        offline_key=lambda: load_or_create_offline_signing_key(
            settings.resolved_offline_signing_key_file()
        ),
        his_notifier=FhirRestHook(timeout_seconds=settings.fhir_subscription_timeout_seconds),
        snapshot=(
            GallerySnapshot(
                settings.data_dir / SNAPSHOT,
                sealer,
                model_version=engine.model_version,
                dim=engine.embedding_dim,
            )
            if settings.gallery_snapshot
            else None
        ),
    )
    load_gallery(ctx=ctx)
    if settings.gallery_snapshot:
        # Not kept up to date any more: it would keep templates erased since.
        legacy.unlink(missing_ok=True)
    return ctx


class _NoFaceEngine:
    """The face engine of a process that never identifies anyone (the HIS interface): a use
    case that tried would get `Unavailable`, not a silent wrong answer."""

    model_version = MODEL_VERSION
    embedding_dim = 128

    def detect(self, image: RGBImage) -> list[Face]:
        """Refused."""
        raise Unavailable("this process has no face models")

    def embed(self, image: RGBImage, face: Face) -> Embedding:
        """Refused."""
        raise Unavailable("this process has no face models")


def build_interface_services(settings: Settings, *, storage: StorageServices) -> Services:
    """The services of a hospital-system interface (`facepay his listen`): storage, policies,
    clock and settings, without face models or the gallery, which no HIS message uses; it
    starts in well under a second and holds no templates in memory."""
    engine = _NoFaceEngine()
    return Services(
        settings=settings,
        engine=engine,
        gallery=InMemoryGallery(dim=engine.embedding_dim, model_version=engine.model_version),
        sealer=build_template_sealer(settings, create=False),
        liveness=LivenessPolicy(engine=engine, checks=[]),
        challenges=ChallengeBook(),
        policies=storage.policies,
        uow=storage.uow,
        clock=storage.clock,
        # A discharge (ADT^A03) settles on the same platform as every other payment.
        platform=build_settlement_platform(settings, uow=storage.uow, clock=storage.clock),
    )


def build_settlement_platform(
    settings: Settings, *, uow: Callable[[], UnitOfWork], clock: Clock
) -> SettlementPlatform:
    """The settlement platform of FACEPAY_SETTLEMENT_PLATFORM: facepay's engine, or the national
    platform at FACEPAY_NHSA_URL with its message log in the facepay database."""
    if settings.settlement_platform == "local":
        return LocalPlatform()
    probe = uow()
    if not isinstance(probe, SqlAlchemyUnitOfWork):
        raise ConfigurationError(
            "the national platform's client keeps its messages in the database: "
            "FACEPAY_SETTLEMENT_PLATFORM=nhsa needs SQLite or PostgreSQL storage"
        )
    return NhsaPlatform(
        build_nhsa_client(settings, engine=probe.engine, clock=clock),
        med_type=settings.nhsa_med_type,
    )


def build_nhsa_client(settings: Settings, *, engine: Engine, clock: Clock) -> NhsaClient:
    """The national platform's client of FACEPAY_NHSA_* on `engine`'s message log."""
    if not settings.nhsa_url:
        raise ConfigurationError("FACEPAY_NHSA_URL is not set", code="nhsa_not_configured")
    http = httpx.Client(base_url=settings.nhsa_url, timeout=settings.nhsa_timeout_seconds)
    return NhsaClient(
        http=http,
        log=SqlAlchemyMessageLog(engine),
        clock=clock,
        path=settings.nhsa_path,
        infver=settings.nhsa_infver,
        recer_sys_code=settings.nhsa_recer_sys_code,
        attempts=settings.nhsa_attempts,
        utc_offset_minutes=settings.hospital_utc_offset_minutes,
    )


def build_staff_tokens(settings: Settings, *, clock: Clock) -> StaffTokens:
    """Staff tokens configured by FACEPAY_JWT_SECRET, FACEPAY_STAFF_TOKEN_TTL_SECONDS and
    FACEPAY_TOKEN_LEEWAY_SECONDS."""
    return StaffTokens(
        secret=settings.jwt_secret.get_secret_value(),
        clock=clock,
        ttl=timedelta(seconds=settings.staff_token_ttl_seconds),
        leeway=timedelta(seconds=settings.token_leeway_seconds),
    )


def build_access(
    settings: Settings, *, storage: Storage, passwords: PasswordHashing | None = None
) -> Access:
    """Who may call the API and how they prove it: the access policy with the configured refund
    limit, the terminal request verifier and the staff accounts on `storage`'s database, and
    the staff tokens. `passwords`: argon2id parameters other than the default (tests)."""
    return Access(
        policy=policy_with_cashier_limit(settings.cashier_refund_limit_fen),
        verifier=RequestVerifier(
            keys=SqlAlchemyTerminalKeys(storage.uow),
            nonces=SqlAlchemyNonceStore(storage.uow),
            clock=storage.clock,
            max_skew=timedelta(seconds=settings.request_max_skew_seconds),
        ),
        tokens=build_staff_tokens(settings, clock=storage.clock),
        accounts=SqlAlchemyStaffAccounts(storage.uow),
        passwords=passwords or PasswordHashing(),
        limits=build_request_limits(settings, uow=storage.uow),
    )


def build_request_limits(settings: Settings, *, uow: Callable[[], UnitOfWork]) -> RequestLimits:
    """The request rates of FACEPAY_API_RATE_*, as token buckets in the database: every worker
    process, on every machine, spends from the same buckets."""
    return RequestLimits(
        terminal=SharedTokenBuckets(
            uow,
            name="terminal",
            rate=settings.api_rate_terminal_per_second,
            burst=settings.api_rate_terminal_burst,
        ),
        staff=SharedTokenBuckets(
            uow,
            name="staff",
            rate=settings.api_rate_staff_per_second,
            burst=settings.api_rate_staff_burst,
        ),
        login=SharedTokenBuckets(
            uow, name="login", rate=settings.api_rate_login_per_minute / 60.0, burst=10
        ),
    )
