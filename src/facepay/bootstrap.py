"""Composition root: the only place that reads settings and builds models, engines and indexes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from facepay.adapters.crypto import TemplateSealer
from facepay.adapters.data_dir import create_private_file, prepare_data_dir
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import shipped_policies
from facepay.config import Settings
from facepay.gallery.faiss_gallery import FaissGallery
from facepay.gallery.memory import InMemoryGallery
from facepay.gallery.ports import Gallery
from facepay.services.context import Services, StorageServices
from facepay.services.face_cache import CachingFaceEngine
from facepay.services.gallery_sync import load_gallery
from facepay.services.template_integrity import require_template_key
from facepay.shared.clock import SystemClock
from facepay.shared.errors import InvalidInput
from facepay.vision.dlib_engine import MODEL_VERSION, DlibFaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy
from facepay.vision.liveness.checks.model import OnnxPadModel
from facepay.vision.liveness.policy import default_checks


def load_settings() -> Settings:
    """Read settings from the environment (prefix FACEPAY_)."""
    return Settings()


def build_face_engine(settings: Settings) -> DlibFaceEngine:
    """Load the dlib models once (about 2 s), with one HOG detector per core by default."""
    return DlibFaceEngine(
        detect_max_side=settings.detect_max_side,
        second_pass_scale=settings.detect_second_pass_scale,
        fast_path_min_face=settings.detect_fast_path_min_face,
        embed_backend=settings.embed_backend,
        detectors=settings.resolved_detectors(),
    )


def build_template_sealer(settings: Settings) -> TemplateSealer:
    """The AES-256-GCM template sealer; makes the 0600 key file on first run."""
    data_dir(settings)
    return TemplateSealer.from_key_file(settings.resolved_template_key_file())


def data_dir(settings: Settings) -> Path:
    """The data folder, created 0700; one open to other users is refused outside dev."""
    return prepare_data_dir(settings.data_dir, strict=settings.environment != "dev")


def build_gallery(settings: Settings, *, dim: int, model_version: str) -> Gallery:
    """An empty gallery of the configured backend (`faiss` or `memory`) for one face model."""
    if settings.gallery_backend == "memory":
        return InMemoryGallery(dim=dim, model_version=model_version)
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
        f"unknown gallery backend {settings.gallery_backend!r}; use 'faiss' or 'memory'",
        code="bad_setting",
    )


def build_engine(settings: Settings) -> Engine:
    """The database engine (embedded SQLite file unless a URL is set), migrated if so configured."""
    url = settings.resolved_database_url()
    if settings.database_url is None:
        data_dir(settings)
        create_private_file(settings.sqlite_path)  # before SQLite opens it, so it is 0600
    engine = database_engine(url, pool_size=settings.database_pool_size)
    if settings.database_migrate_on_start:
        upgrade(engine)
    return engine


def build_unit_of_work(settings: Settings, engine: Engine) -> Callable[[], SqlAlchemyUnitOfWork]:
    """A factory of units of work on `engine` (one per use-case call)."""
    timeout = settings.database_lock_timeout_ms
    return lambda: SqlAlchemyUnitOfWork(engine, lock_timeout_ms=timeout)


def build_storage(settings: Settings) -> StorageServices:
    """Storage, policies and clock without face models or gallery (admin and audit commands)."""
    return StorageServices(
        settings=settings,
        policies=shipped_policies(),
        uow=build_unit_of_work(settings, build_engine(settings)),
        clock=SystemClock(),
    )


def build_services(settings: Settings) -> Services:
    """Everything a server needs: models, storage, liveness, policies, and the gallery loaded
    from its sealed file, or rebuilt from the templates table when the file is missing or stale."""
    # A wrong folder, database or key is refused before seconds go into loading models.
    storage = build_storage(settings)
    sealer = build_template_sealer(settings)
    require_template_key(ctx=storage, sealer=sealer, model_version=MODEL_VERSION)
    # Liveness and the use case look at the same frames: detect each one once.
    face_engine = CachingFaceEngine(build_face_engine(settings))
    pad = OnnxPadModel(settings.liveness_pad_model) if settings.liveness_pad_model else None
    checks = default_checks(pad_model=pad, identity_threshold=settings.liveness_identity_threshold)
    ctx = Services(
        settings=settings,
        engine=face_engine,
        gallery=build_gallery(
            settings, dim=face_engine.embedding_dim, model_version=face_engine.model_version
        ),
        sealer=sealer,
        liveness=LivenessPolicy(engine=face_engine, checks=checks),
        challenges=ChallengeBook(),
        policies=storage.policies,
        uow=storage.uow,
        clock=storage.clock,
        gallery_path=settings.data_dir / "gallery.sealed",
    )
    load_gallery(ctx=ctx)
    return ctx
