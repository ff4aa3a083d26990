"""`Services`: everything a use case needs, built once by `facepay.bootstrap.build_services`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.config import Settings
from facepay.gallery.ports import Gallery, Sealer
from facepay.gallery.snapshot import GallerySnapshot
from facepay.identity.matching import DecisionPolicy
from facepay.insurance.platform import LocalPlatform, SettlementPlatform
from facepay.insurance.policies import PolicyBook
from facepay.services.ports import UnitOfWork
from facepay.shared.clock import Clock
from facepay.supervision.audit_store import AuditLog
from facepay.vision.engine import FaceEngine
from facepay.vision.liveness import ChallengeStore, LivenessPolicy

if TYPE_CHECKING:
    from facepay.services.his_notifications import HisNotifier


class Storage(Protocol):
    """What the use cases that touch no face need: settings, policies, storage and clock.

    `Services` provides it; so does `StorageServices`, which commands such as `facepay admin
    init` and `facepay audit verify` build without loading face models or the gallery.
    """

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        ...

    @property
    def policies(self) -> PolicyBook:
        """The insurance policies."""
        ...

    @property
    def uow(self) -> Callable[[], UnitOfWork]:
        """A factory of units of work."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock."""
        ...

    def audit_log(self, uow: UnitOfWork) -> AuditLog:
        """An audit log writing into `uow`'s transaction."""
        ...


@dataclass(frozen=True)
class StorageServices:
    """A `Storage` without models or gallery: for administration and audit commands."""

    settings: Settings
    policies: PolicyBook
    uow: Callable[[], UnitOfWork]
    clock: Clock

    def audit_log(self, uow: UnitOfWork) -> AuditLog:
        """An audit log writing into `uow`'s transaction (use inside `with uow:`)."""
        return AuditLog(store=uow.audit, clock=self.clock)


@dataclass
class JournalCursor:
    """The template journal as this process's gallery has applied it: every change up to
    `position`, and the later ones in `applied` (on PostgreSQL a change with a lower number can
    commit after a higher one; `waiting` says since when each such gap has been open)."""

    position: int = 0
    applied: set[int] = field(default_factory=set)
    waiting: dict[int, float] = field(default_factory=dict)
    removed_since: float | None = None
    """When the snapshot's log first recorded a removal since its base (gallery_sync)."""
    writer_fd: int | None = None
    """The lock file that makes this process the writer of the data folder's snapshot."""


@dataclass(frozen=True)
class Services:
    """Settings, models, gallery, sealer, liveness, policies, storage and clock of one process."""

    settings: Settings
    engine: FaceEngine
    gallery: Gallery
    sealer: Sealer
    liveness: LivenessPolicy
    challenges: ChallengeStore
    policies: PolicyBook
    uow: Callable[[], UnitOfWork]
    clock: Clock
    gallery_path: Path | None = None
    """Where the sealed gallery file is kept (None: memory only, e.g. in tests)."""
    snapshot: GallerySnapshot | None = None
    """The data folder's gallery snapshot (base + change log) the server restarts from."""
    gallery_lock: threading.Lock = field(default_factory=threading.Lock, compare=False)
    """Serialises gallery changes and saves, so that the file always matches some state."""
    journal: JournalCursor = field(default_factory=JournalCursor, compare=False)
    """How far this process's gallery has followed the template journal (gallery_sync)."""
    platform: SettlementPlatform = field(default_factory=LocalPlatform, compare=False)
    """Who computes a bill's insurance split (Settings.settlement_platform)."""
    offline_key: Callable[[], Ed25519PrivateKey] | None = field(default=None, compare=False)
    """The key signing offline limits, read (made on first use) when a package is signed; None:
    this process issues no offline packages (facepay.services.offline_package). It also signs
    the FHIR rest-hook notifications (facepay.services.his_notifications)."""
    his_notifier: HisNotifier | None = field(default=None, compare=False)
    """Renders and posts FHIR rest-hook notifications (None: no delivery from this process)."""

    @property
    def decision_policy(self) -> DecisionPolicy:
        """The 1:N decision rule from the settings."""
        s = self.settings
        return DecisionPolicy(
            threshold=s.identify_threshold, margin=s.identify_margin, band=s.identify_ambiguity_band
        )

    def audit_log(self, uow: UnitOfWork) -> AuditLog:
        """An audit log writing into `uow`'s transaction (use inside `with uow:`)."""
        return AuditLog(store=uow.audit, clock=self.clock)
