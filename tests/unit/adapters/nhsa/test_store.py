"""The message log on a real SQLite database: one live settlement message per payment key
(two workers retrying one payment cannot both settle it), and the site's institution code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from facepay.adapters.db.engine import database_engine
from facepay.adapters.db.migrate import upgrade
from facepay.adapters.db.tables import hospitals
from facepay.adapters.nhsa.store import Institution, LoggedMessage, SqlAlchemyMessageLog
from facepay.shared.errors import Conflict, InvalidInput

AT = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@pytest.fixture
def log(tmp_path: Path) -> SqlAlchemyMessageLog:
    engine = database_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", pool_size=1)
    upgrade(engine)
    with engine.begin() as conn:
        for site in ("h1", "h2"):
            conn.execute(hospitals.insert().values(id=site, name=site, created_at=AT))
    return SqlAlchemyMessageLog(engine)


def _message(msgid: str, infno: str = "2207", ref: str | None = "pay-1") -> LoggedMessage:
    return LoggedMessage(msgid, "h1", infno, ref, "T1", "{}", "sent", AT)


def test_one_live_settlement_per_payment_key(log: SqlAlchemyMessageLog) -> None:
    assert log.reserve(_message("m1"))
    assert not log.reserve(_message("m1"))  # the same msgid: taken
    with pytest.raises(Conflict) as held:
        log.reserve(_message("m2"))
    assert held.value.code == "nhsa_in_progress"
    assert log.reserve(_message("m3", infno="2201"))  # other messages of the payment: any number
    log.finish("m1", "reversed", answer=None, at=AT)
    assert log.reserve(_message("m2"))  # the key is free again once its settlement is undone
    log.finish("m2", "answered", answer='{"infcode": 0}', at=AT)
    found = log.find("h1", infno="2207", ref="pay-1", states=("answered",))
    assert [(m.msgid, m.answer) for m in found] == [("m2", '{"infcode": 0}')]
    assert [m.msgid for m in log.lost(before=datetime(2027, 1, 1, tzinfo=UTC), limit=10)] == ["m3"]


def test_a_site_has_one_code_and_a_code_one_site(log: SqlAlchemyMessageLog) -> None:
    site = Institution("h1", "H31010500012", "第一医院", "310105")
    log.save_institution(site, at=AT)
    log.save_institution(replace(site, fixmedins_name="示例市第一医院"), at=AT)
    assert log.institution("h1") == replace(site, fixmedins_name="示例市第一医院")
    with pytest.raises(Conflict):
        log.save_institution(replace(site, hospital_id="h2"), at=AT)
    with pytest.raises(InvalidInput):
        Institution("h1", "H1", "x", "310105")
