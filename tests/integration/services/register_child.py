"""Child process of test_registration_atomicity: registers people and hospitals until killed.

Run as `python register_child.py DATABASE_URL KEY_FILE START`. Loops forever, alternating
`register_insured_person` (with an opening personal-account credit) and
`register_hospital_with_admin`, printing one line per completed registration. The parent kills
it with SIGKILL at random moments; whatever the moment, the database must hold whole
registrations only.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from facepay.adapters.crypto import TemplateSealer
from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.adapters.interchange import shipped_policies
from facepay.config import Settings
from facepay.demo.people import id_number
from facepay.gallery.memory import InMemoryGallery
from facepay.identity.id_card import IdCard
from facepay.services import admin
from facepay.services.context import Services
from facepay.shared.clock import SystemClock
from facepay.vision.fake_engine import FakeFaceEngine
from facepay.vision.liveness import ChallengeBook, LivenessPolicy

OPENING_FEN = 12_345
HASH = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def main() -> None:
    """Register until killed."""
    url, key_file, start = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    engine = database_engine(url)
    face = FakeFaceEngine()
    ctx = Services(
        settings=Settings(data_dir=key_file.parent),
        engine=face,
        gallery=InMemoryGallery(dim=face.embedding_dim, model_version=face.model_version),
        sealer=TemplateSealer.from_key_file(key_file),
        liveness=LivenessPolicy(engine=face),
        challenges=ChallengeBook(),
        policies=shipped_policies(),
        uow=lambda: SqlAlchemyUnitOfWork(engine),
        clock=SystemClock(),
    )
    serial = start
    while True:
        birth = date(1950 + serial % 50, 1 + serial % 12, 1 + serial % 28)
        number = id_number(birth, serial, male=True)
        admin.register_insured_person(
            ctx=ctx,
            actor="platform:child",
            id_card=IdCard(id_number=number, name="Kill Test", sex="M", birth_date=birth),
            category="employee_active",
            insurance_card_number=f"IC{number[-8:]}",
            personal_account_fen=OPENING_FEN,
        )
        print(f"person {serial}", flush=True)
        admin.register_hospital_with_admin(
            ctx=ctx,
            actor="platform:child",
            name=f"Hospital {serial}",
            admin_username=f"admin-{serial}",
            admin_password_hash=HASH,
        )
        print(f"hospital {serial}", flush=True)
        serial += 1


if __name__ == "__main__":
    main()
