"""The client against the simulator over a real socket, with each fault the simulator can be
told to make: the platform and the client's log agree afterwards, and nothing settles twice."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.unit.adapters.nhsa.conftest import ID_NUMBER, NOW, SITE, Platform

from facepay.adapters.interchange import shipped_policies
from facepay.adapters.nhsa.client import (
    NhsaClient,
    PlatformRefused,
    PlatformUnavailable,
    PlatformUnconfirmed,
)
from facepay.adapters.nhsa.platform import NhsaPlatform
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.simulator import Fault, Simulator, running
from facepay.adapters.nhsa.store import InMemoryMessageLog
from facepay.insurance.model import Accumulators
from facepay.shared.clock import FixedClock

TIMEOUT = 0.5
"""The client's wait for an answer: short, yet long enough on a loaded test machine (a
message that waits longer is only retried or reversed, which the assertions allow for)."""


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Simulator, str]]:
    """One simulator process-thread for the module (each test enrols its own person)."""
    sim = SimulatedPlatform(policies=shipped_policies(), clock=FixedClock(NOW), area="310105")
    simulator = Simulator(sim, control=True)
    with running(simulator) as url:
        yield simulator, url


NUMBERS = itertools.count(1)


@pytest.fixture
def net(served: tuple[Simulator, str]) -> Iterator[Platform]:
    """A client on the socket with a log of its own, and a person of its own."""
    simulator, url = served
    simulator.faults.clear()
    number = f"11010119900307{next(NUMBERS):04d}"
    person = simulator.platform.enrol(
        certno=number, name="赵敏", category="employee_retired", balance=50_000
    )
    person.years[2026] = Accumulators(year=2026, outpatient_deductible_used=130_000)
    log = InMemoryMessageLog()
    # A code of its own: the module's platform outlives each test's message log.
    log.save_institution(replace(SITE, fixmedins_code=f"H3101059{next(NUMBERS):04d}"), at=NOW)
    http = httpx.Client(base_url=url, timeout=TIMEOUT)
    clock = FixedClock(NOW)
    client = NhsaClient(http=http, log=log, clock=clock)
    p = Platform(simulator.platform, client, NhsaPlatform(client), log, clock)
    p.exchanges = []
    yield p
    http.close()


def _claim(p: Platform, key: str) -> Any:
    person = next(x for x in reversed(p.sim.people.values()))
    return p.claim(key, id_number=person.certno)


def _standing(p: Platform, certno: str) -> list[Any]:
    psn = p.sim._by_cert[certno]
    return [s for s in p.sim.settlements.values() if s.visit.psn_no == psn and not s.cancelled]


def _fault(served: tuple[Simulator, str], **values: Any) -> None:
    served[0].add_fault(Fault(**values))


def _states(p: Platform, infno: str) -> list[str]:
    return sorted(r.state for r in p.log.find(SITE.hospital_id, infno=infno))


def test_a_payment_settles_once_and_a_retry_reuses_it(net: Platform) -> None:
    claim = _claim(net, "k-once")
    first = net.platform.settle(claim)
    again = net.platform.settle(claim)
    assert again == first
    assert len(_standing(net, claim.id_number)) == 1
    assert _states(net, "9001").count("answered") == 1  # signed in once for the day


@pytest.mark.parametrize("mode", ["timeout", "late", "drop"])
def test_a_settlement_without_answer_is_reversed(
    net: Platform, served: tuple[Simulator, str], mode: str
) -> None:
    claim = _claim(net, f"k-{mode}")
    _fault(served, infno="2207", mode=mode, delay_seconds=TIMEOUT * 2)
    with pytest.raises(PlatformUnavailable) as raised:
        net.platform.settle(claim)
    assert raised.value.code == "nhsa_unavailable"
    assert _standing(net, claim.id_number) == []  # applied (late, drop) and reversed, or never
    assert _states(net, "2207") == ["reversed"]
    assert "answered" in _states(net, "2601")
    # The visit was cleaned up too, and the same key then pays normally.
    assert net.platform.settle(claim).amounts["medfee_sumamt"] == 8365
    assert len(_standing(net, claim.id_number)) == 1


def test_a_refused_settlement_changes_nothing(net: Platform, served: tuple[Simulator, str]) -> None:
    claim = _claim(net, "k-fail")
    _fault(served, infno="2207", mode="fail", infcode=-1, err_msg="个人账户余额不足")
    with pytest.raises(PlatformRefused, match="个人账户余额不足"):
        net.platform.settle(claim)
    assert _standing(net, claim.id_number) == []
    assert _states(net, "2207") == ["failed"]
    assert _states(net, "2202") == ["answered"]  # the registration was cancelled


def test_a_lost_query_is_asked_again(net: Platform, served: tuple[Simulator, str]) -> None:
    claim = _claim(net, "k-query")
    _fault(served, infno="1101", mode="timeout", delay_seconds=TIMEOUT * 2)
    net.platform.settle(claim)
    states = _states(net, "1101")
    assert states.count("answered") == 1
    assert "lost" in states


def test_a_lost_cancel_reverses_the_settlement(
    net: Platform, served: tuple[Simulator, str]
) -> None:
    claim = _claim(net, "k-cancel")
    net.platform.settle(claim)
    _fault(served, infno="2208", mode="drop")
    net.platform.cancel(
        hospital_id=SITE.hospital_id, key=claim.key, cancel_key="r-1", operator=claim.operator
    )
    assert _standing(net, claim.id_number) == []
    assert _states(net, "2207") == ["reversed"]
    person = net.sim.people[net.sim._by_cert[claim.id_number]]
    assert person.balance == 50_000


def test_an_unanswered_reversal_is_recovered_later(
    net: Platform, served: tuple[Simulator, str]
) -> None:
    claim = _claim(net, "k-recover")
    _fault(served, infno="2207", mode="drop")
    _fault(served, infno="2601", mode="fail", err_msg="冲正服务暂不可用")
    with pytest.raises(PlatformUnconfirmed):
        net.platform.settle(claim)
    assert len(_standing(net, claim.id_number)) == 1  # applied, unknown to facepay
    # Another attempt with the same key must not settle a second time.
    _fault(served, infno="2601", mode="fail", err_msg="冲正服务暂不可用")
    with pytest.raises(PlatformUnconfirmed):
        net.platform.settle(claim)
    assert len(_standing(net, claim.id_number)) == 1
    served[0].faults.clear()
    net.clock.set(NOW + timedelta(minutes=10))
    done = net.client.recover(older_than=timedelta(minutes=5))
    assert [ok for _, ok in done] == [True]
    assert _standing(net, claim.id_number) == []
    assert net.platform.settle(claim).amounts["medfee_sumamt"] == 8365


def test_an_unknown_person_is_refused_with_the_platforms_words(net: Platform) -> None:
    claim = _claim(net, "k-who")
    stranger = claim.__class__(**{**claim.__dict__, "id_number": "110101199001010000"})
    with pytest.raises(PlatformRefused, match="no insured person"):
        net.platform.settle(stranger)
    assert stranger.id_number != ID_NUMBER
