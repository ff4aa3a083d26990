"""In-process set-ups for tests and benchmarks: memory-backed services and the first operator.

The server itself is always built by `facepay.bootstrap.build_services`; these helpers only let a
test or a benchmark drive the same app without files or a database server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from facepay.adapters.crypto import TemplateSealer
from facepay.adapters.interchange import shipped_policies
from facepay.api.staff_auth import PasswordHashing
from facepay.bootstrap import build_engine, build_gallery, build_template_sealer, build_unit_of_work
from facepay.config import Settings
from facepay.gallery.memory import InMemoryGallery
from facepay.ledger.accounts import AccountKind
from facepay.services import admin
from facepay.services.context import Services
from facepay.services.gallery_sync import load_gallery
from facepay.services.ledger import open_accounts
from facepay.services.memory import InMemoryStore, InMemoryUnitOfWork
from facepay.services.ports import UnitOfWork
from facepay.shared.clock import Clock, SystemClock
from facepay.vision.engine import FaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy

SYSTEM_ACCOUNTS = [
    *((AccountKind.FUND_POOL, fund) for fund in ("hifp", "hifmi", "maf", "acct")),
    *((AccountKind.HOSPITAL_RECEIVABLE, fund) for fund in ("hifp", "hifmi", "maf")),
    (AccountKind.HOSPITAL_REVENUE, "hospital"),
    (AccountKind.CASH_CLEARING, "cash"),
    (AccountKind.CASH_CLEARING, "bank"),
]


def memory_services(
    settings: Settings, engine: FaceEngine, *, clock: Clock | None = None
) -> Services:
    """Services over in-memory storage and gallery (the real face engine and liveness)."""
    store = InMemoryStore()
    services = Services(
        settings=settings,
        engine=engine,
        gallery=InMemoryGallery(dim=engine.embedding_dim, model_version=engine.model_version),
        sealer=TemplateSealer.from_key_file(settings.resolved_template_key_file()),
        liveness=LivenessPolicy(engine=engine),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: cast(UnitOfWork, InMemoryUnitOfWork(store)),
        clock=clock or SystemClock(),
    )
    open_accounts(uow=services.uow(), accounts=SYSTEM_ACCOUNTS)  # what migration 0002 seeds
    return services


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """A real uvicorn on a free 127.0.0.1 port in a thread; yields the base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def stored_services(
    settings: Settings, engine: FaceEngine, *, database: Engine | None = None
) -> Services:
    """What `build_services` builds around a loaded face engine (and database engine, if given:
    the caller then disposes of it)."""
    services = Services(
        settings=settings,
        engine=engine,
        gallery=build_gallery(
            settings, dim=engine.embedding_dim, model_version=engine.model_version
        ),
        sealer=build_template_sealer(settings),
        liveness=LivenessPolicy(engine=engine),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=build_unit_of_work(settings, database or build_engine(settings)),
        clock=SystemClock(),
        gallery_path=settings.data_dir / "gallery.sealed",
    )
    load_gallery(ctx=services)
    return services


def fast_passwords() -> PasswordHashing:
    """argon2id with small parameters: for tests and benchmarks only."""
    return PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)


def seed_operator(
    services: Services, *, username: str, password: str, passwords: PasswordHashing
) -> str:
    """The platform operator's login (what `facepay admin init` does first); returns its id."""
    user = admin.create_staff_user(
        ctx=services,
        actor="setup",
        hospital_id=None,
        username=username,
        password_hash=passwords.hash(password),
        role="platform_operator",
    )
    return user.id
