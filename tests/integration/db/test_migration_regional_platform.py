"""Migration 0011 on a database the previous version filled (two hospitals, each with enrolled
patients, consents and a bill): the hospitals become sites of one region, and every template
keeps the reach its consent gave - the enrolling hospital only - so nothing becomes matchable
anywhere nobody consented to; the downgrade gives the previous schema back with the data."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, text

from facepay.adapters.db.migrate import downgrade, upgrade
from facepay.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from facepay.hospital.tenants import match_scopes

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _fill_previous_version(engine: Engine) -> None:
    with engine.begin() as conn:
        for hospital in ("hA", "hB"):
            conn.execute(
                text("INSERT INTO hospitals (id, name, created_at) VALUES (:h, :h, :t)"),
                {"h": hospital, "t": NOW},
            )
        for n, (person, hospital) in enumerate([("pA", "hA"), ("pB", "hB"), ("pC", "hA")]):
            conn.execute(
                text(
                    "INSERT INTO insured_persons (id, id_number, name, sex, birth_date, category,"
                    " insurance_card_number, medical_assistance) VALUES (:p, :n, 'X', 'M', :b,"
                    " 'employee_active', :c, false)"
                ),
                {"p": person, "n": f"11010119800101{n:03d}X", "b": date(1980, 1, 1), "c": f"c{n}"},
            )
            conn.execute(
                text(
                    "INSERT INTO face_templates (id, person_id, hospital_id, model_version, sealed,"
                    " created_at) VALUES (:t, :p, :h, 'dlib-resnet-v1', :s, :at)"
                ),
                {"t": f"tpl-{person}", "p": person, "h": hospital, "s": b"sealed", "at": NOW},
            )
            conn.execute(
                text(
                    "INSERT INTO biometric_consents (id, person_id, hospital_id, purpose, scope,"
                    " given_at, recorded_by) VALUES (:c, :p, :h, 'face_payment', 'this hospital',"
                    " :at, 'desk')"
                ),
                {"c": f"cns-{person}", "p": person, "h": hospital, "at": NOW},
            )


def test_hospitals_become_sites_of_one_region_and_templates_keep_their_reach(
    engine: Engine,
) -> None:
    downgrade(engine, "0010")
    _fill_previous_version(engine)

    upgrade(engine)

    with SqlAlchemyUnitOfWork(engine) as uow:
        region = uow.tenants.region("rgn-default")
        sites = [uow.tenants.hospital(h) for h in ("hA", "hB")]
        templates = {p: uow.templates.of_person(p) for p in ("pA", "pB", "pC")}
        consents = uow.consents.active_of_person("pA")
        scopes = uow.templates.scopes("dlib-resnet-v1")
        journal = uow.templates.last_change()
    assert region is not None
    assert [(s.region_id, s.kind, s.tier) for s in sites if s] == [
        ("rgn-default", "hospital", None)
    ] * 2
    assert {p: [(t.id, t.scope) for t in ts] for p, ts in templates.items()} == {
        "pA": [("tpl-pA", "site:hA")],
        "pB": [("tpl-pB", "site:hB")],
        "pC": [("tpl-pC", "site:hA")],
    }
    assert [c.consent.reach for c in consents] == ["site"]
    # Identification at hB searches hB's own and the region's scopes: hA's patients stay hA's.
    assert sites[1] is not None
    assert {t for t, s in scopes.items() if s in match_scopes(sites[1])} == {"tpl-pB"}
    assert journal == 0  # the gallery is loaded from the rows at start; the journal starts now

    downgrade(engine, "0010")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, hospital_id FROM face_templates ORDER BY id")).all()
        columns = conn.execute(text("SELECT * FROM hospitals")).keys()
    assert [tuple(r) for r in rows] == [("tpl-pA", "hA"), ("tpl-pB", "hB"), ("tpl-pC", "hA")]
    assert set(columns) == {"id", "name", "created_at"}
    upgrade(engine)
