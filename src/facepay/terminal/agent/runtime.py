"""The agent's composition root: store, keys, link, package, vision, in the order that refuses
an operator's mistake (a wrong folder, a bad key, a non-loopback address) before anything
slow (the face models) or anything that talks to the server."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from facepay.shared.errors import ConfigurationError
from facepay.terminal.agent.failpoints import Failpoints, test_only
from facepay.terminal.agent.keys import load_sealing_key, load_signing_key
from facepay.terminal.agent.link import TIMEOUT, ServerLink
from facepay.terminal.agent.service import Agent
from facepay.terminal.agent.store import AgentStore
from facepay.terminal.agent.sync import DataLock, PackageKeeper
from facepay.terminal.agent.vision import EdgeVision

TERMINAL_ID = r"^[A-Za-z0-9_.:\-]{1,64}$"
CLOCK_SKEW = "FACEPAY_TERMINAL_TEST_CLOCK_SKEW_SECONDS"


def machine_clock(environ: Mapping[str, str]) -> Callable[[], float]:
    """This machine's clock (`time.time`), or, for the chaos tests only (dev and test
    environments; refused elsewhere), that clock put `FACEPAY_TERMINAL_TEST_CLOCK_SKEW_SECONDS`
    off: what the server link signs with and what the agent's `server_now` corrects."""
    value = test_only(CLOCK_SKEW, environ)
    if value is None:
        return time.time
    try:
        skew = float(value)
    except ValueError:
        raise ConfigurationError(f"{CLOCK_SKEW}: a number of seconds", code="bad_setting") from None
    return lambda: time.time() + skew


def loopback_address(listen: str) -> tuple[str, int]:
    """`HOST:PORT` of the local API; anything but a loopback address is refused (the API
    takes payments and shows patients' notices without a login: only this machine may call)."""
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigurationError(
            f"--listen {listen}: give HOST:PORT, e.g. 127.0.0.1:8765", code="terminal_listen_bad"
        )
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            f"--listen {listen}: the local API listens on a loopback address only "
            "(127.0.0.1 or ::1)",
            code="terminal_listen_bad",
        )
    return host, int(port_text)


def terminal_of(store: AgentStore, given: str | None) -> str:
    """The terminal's id: given on first start and kept; a different one later is refused."""
    import re  # noqa: PLC0415 - only here

    if given is not None and not re.fullmatch(TERMINAL_ID, given):
        raise ConfigurationError(f"--terminal {given!r} is not a terminal id", code="bad_setting")
    stored = store.meta("terminal_id")
    if stored is None:
        if given is None:
            raise ConfigurationError(
                "give --terminal ID (the id POST /v1/terminals returned) on first start",
                code="bad_setting",
            )
        return store.pin("terminal_id", given)
    if given is not None and given != stored:
        raise ConfigurationError(
            f"the data folder {store.folder} belongs to terminal {stored}, not {given}",
            code="terminal_data_other",
        )
    return stored


@dataclass
class Running:
    """An opened agent and what to close after it."""

    agent: Agent
    lock: DataLock
    http: httpx.Client

    def close(self) -> None:
        """Close the connection, the store and the lock."""
        self.http.close()
        self.agent.store.close()
        self.lock.release()


def open_agent(
    *,
    server: str,
    key_file: Path,
    data: Path,
    terminal: str | None,
    vision: Callable[[], EdgeVision],
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
    failpoints: Failpoints | None = None,
) -> Running:
    """Check everything an operator gives, then build the agent (`vision` last: it is slow)."""
    if not server.startswith(("http://", "https://")):
        raise ConfigurationError(f"--server {server}: give the server's URL", code="bad_setting")
    key = load_signing_key(key_file)
    store = AgentStore(data)
    lock = DataLock(store.folder)
    try:
        lock.acquire()
        terminal_id = terminal_of(store, terminal)
        sealing = load_sealing_key(store.folder)
        edge = vision()
    except BaseException:
        lock.release()
        store.close()
        raise
    http = httpx.Client(base_url=server, timeout=TIMEOUT, transport=transport)
    link = ServerLink(http, terminal_id=terminal_id, key=key, store=store, clock=clock)
    keeper = PackageKeeper(
        store=store,
        link=link,
        sealing_key=sealing,
        terminal_id=terminal_id,
        model_version=edge.model_version,
    )
    agent = Agent(
        store=store,
        link=link,
        keeper=keeper,
        vision=edge,
        signing_key=key,
        terminal_id=terminal_id,
        failpoints=failpoints,
    )
    agent.start()
    return Running(agent, lock, http)
