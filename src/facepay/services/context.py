"""`Services`: everything a use case needs, built once by `facepay.bootstrap.build_services`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from facepay.config import Settings
from facepay.gallery.ports import Gallery, Sealer
from facepay.identity.matching import DecisionPolicy
from facepay.insurance.policies import PolicyBook
from facepay.services.ports import UnitOfWork
from facepay.shared.clock import Clock
from facepay.supervision.audit_store import AuditLog
from facepay.vision.engine import FaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy


@dataclass(frozen=True)
class Services:
    """Settings, models, gallery, sealer, liveness, policies, storage and clock of one process."""

    settings: Settings
    engine: FaceEngine
    gallery: Gallery
    sealer: Sealer
    liveness: LivenessPolicy
    challenges: ChallengeBook
    policies: PolicyBook
    uow: Callable[[], UnitOfWork]
    clock: Clock
    gallery_path: Path | None = None
    """Where the sealed gallery file is kept (None: memory only, e.g. in tests)."""
    gallery_lock: threading.Lock = field(default_factory=threading.Lock, compare=False)
    """Serialises gallery changes and saves, so that the file always matches some state."""

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
