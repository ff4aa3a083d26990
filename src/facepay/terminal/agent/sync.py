"""Exactly-once upload of the outbox, and the offline package kept fresh.

One agent per data folder (`DataLock`: an exclusive `flock` on `agent.lock`, so a second agent
on the same folder refuses to start) and one sender inside it (`Syncer.drain` runs under a
lock, from the agent's one background thread or a test): vouchers go in counter order, at most
50 a request. `posted` and `quarantined` are final (the voucher is synced, any difference kept
as a notice for the patient's next visit); `held` (the server waits for an earlier counter)
stays in the outbox and is sent again. The server answers a voucher it has seen with its first
answer (`replayed`), so a batch resent after a cut changes nothing.

`PackageKeeper` fetches the offline package every `refresh_seconds` while online: the server's
key is pinned on first use, the limits' signature and terminal are checked, the library's
SHA-256 and version must be the ones the limits name, and the seal must open. Only then is the
package stored (replacing the last); a bad package is refused and the last good one stays.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from facepay.shared.errors import ConfigurationError, FacepayError
from facepay.terminal.agent.failpoints import Failpoints
from facepay.terminal.agent.link import ServerLink, ServerOffline
from facepay.terminal.agent.package import (
    Library,
    SignedLimits,
    check_library,
    open_library,
    open_limits,
)
from facepay.terminal.agent.store import FINAL, AgentStore
from facepay.terminal.protocol import b64, unb64, x25519_public_raw

BATCH = 50
STALE_SECONDS = 600
"""The library is reported stale past 10 minutes, whatever the site's limit for paying."""
LOCK_FILE = "agent.lock"
SERVER_KEY = "server_key"
SEALING_REGISTERED = "sealing_key_registered"


class DataLock:
    """An exclusive lock on the data folder, held while the agent runs."""

    def __init__(self, folder: Path) -> None:
        self._path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> DataLock:
        """Take the lock, or refuse: another agent runs on this folder."""
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigurationError(
                f"another terminal agent is running on {self._path.parent}: one agent per "
                "data folder (stop the other first)",
                code="terminal_agent_running",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go of the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class SyncReport:
    """What one drain did."""

    sent: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    replayed: int = 0
    error: str | None = None


class Syncer:
    """Drains the outbox through one lease (never two senders in this process)."""

    def __init__(
        self,
        *,
        store: AgentStore,
        link: ServerLink,
        on_result: Callable[[str, bool], None] = lambda _status, _replayed: None,
        failpoints: Failpoints | None = None,
    ) -> None:
        self._store = store
        self._link = link
        self._on_result = on_result
        self._failpoints = failpoints or Failpoints()
        self._lease = threading.Lock()

    def drain(self) -> SyncReport:
        """Send every unsynced voucher, oldest first, until none is left, the server is gone
        or a batch settles nothing (all held)."""
        report = SyncReport()
        with self._lease:
            while batch := self._store.unsynced(BATCH):
                results = self._send(batch, report)
                if results is None:
                    break
                self._failpoints.reach("vouchers_sent")
                self._store.record_results(results)
                for result in results:
                    status = str(result.get("status"))
                    report.by_status[status] = report.by_status.get(status, 0) + 1
                    report.replayed += bool(result.get("replayed"))
                    self._on_result(status, bool(result.get("replayed")))
                report.sent += len(batch)
                if not any(r.get("status") in FINAL for r in results):
                    break
        if report.error is not None:
            self._store.set_meta("last_error", report.error)
        return report

    def _send(self, batch: list[Any], report: SyncReport) -> list[dict[str, Any]] | None:
        try:
            response = self._link.request(
                "POST", "/v1/terminal/vouchers", {"vouchers": [row.signed for row in batch]}
            )
        except ServerOffline as offline:
            report.error = offline.message
            return None
        if response.status_code != 200:
            report.error = (
                f"voucher upload refused: HTTP {response.status_code} {response.text[:200]}"
            )
            return None
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            report.error = "voucher upload: the server's answer is not a result list"
            return None
        sent = {row.voucher_id for row in batch}
        if not isinstance(results, list) or not all(
            isinstance(r, dict) and r.get("voucher_id") in sent for r in results
        ):
            report.error = "voucher upload: the server answered for vouchers not sent"
            return None
        return results


@dataclass
class PackageState:
    """The offline package in force, opened into memory."""

    limits: SignedLimits | None = None
    library: Library | None = None
    fetched_at: datetime | None = None
    error: str | None = None


class PackageKeeper:
    """Keeps the verified offline package: loaded from the store, refreshed from the server."""

    def __init__(
        self,
        *,
        store: AgentStore,
        link: ServerLink,
        sealing_key: X25519PrivateKey,
        terminal_id: str,
        model_version: str,
    ) -> None:
        self._store = store
        self._link = link
        self._key = sealing_key
        self._terminal_id = terminal_id
        self._model = model_version
        self._lock = threading.Lock()
        self.state = PackageState()

    def load(self) -> PackageState:
        """The stored package, checked again (a limit edited on disk is refused)."""
        stored = self._store.package()
        pinned = self._store.meta(SERVER_KEY)
        if stored is None or pinned is None:
            self.state = PackageState()
            return self.state
        try:
            limits = open_limits(
                stored.limits, unb64(pinned, "server key"), terminal_id=self._terminal_id
            )
            library = None
            if stored.library is not None:
                library = open_library(
                    stored.library, self._key, limits=limits, model_version=self._model
                )
        except FacepayError as error:
            self.state = PackageState(
                error=f"the stored offline package is refused: {error.message}"
            )
            self._store.set_meta("last_error", self.state.error or "")
            return self.state
        self.state = PackageState(limits, library, stored.fetched_at)
        return self.state

    def register_sealing_key(self) -> None:
        """`PUT /v1/terminal/sealing-key` once per key (remembered in the store)."""
        public = b64(x25519_public_raw(self._key))
        if self._store.meta(SEALING_REGISTERED) == public:
            return
        response = self._link.request("PUT", "/v1/terminal/sealing-key", {"public_key": public})
        if response.status_code != 200:
            raise ConfigurationError(
                f"the server refused the sealing key: HTTP {response.status_code} "
                f"{response.text[:200]}",
                code="terminal_sealing_refused",
            )
        self._store.set_meta(SEALING_REGISTERED, public)

    def refresh(self) -> PackageState:
        """Fetch, check and keep a fresh package; `ServerOffline` when the server is gone. A
        package that fails a check is refused (the error kept); the last good one stays."""
        with self._lock:
            self.register_sealing_key()
            seen = self._store.sync_seq()
            response = self._link.request("GET", "/v1/terminal/offline-package")
            if response.status_code != 200:
                return self._refused(f"HTTP {response.status_code} {response.text[:200]}")
            try:
                body = response.json()
                self._link.learn_clock(datetime.fromisoformat(body["server_time"]))
                offered = str(body["server_public_key"])
                pinned = self._store.pin(SERVER_KEY, offered)
                if pinned != offered:
                    return self._refused(
                        "signed by a server key other than the one pinned on first use"
                    )
                limits = open_limits(
                    body["limits"], unb64(pinned, "server key"), terminal_id=self._terminal_id
                )
                library, version, sealed = None, None, None
                if body.get("library") is not None:
                    version = str(body["library"]["version"])
                    sealed = unb64(body["library"]["sealed"], "library")
                    check_library(limits, version, sealed)
                    library = open_library(
                        sealed, self._key, limits=limits, model_version=self._model
                    )
            except FacepayError as error:
                return self._refused(error.message)
            except (KeyError, TypeError, ValueError) as error:
                return self._refused(f"malformed: {error}")
            now = datetime.now(UTC)
            self._store.save_package(
                limits=limits.signed,
                library_version=version,
                library=sealed,
                fetched_at=now,
                synced_up_to=seen,
            )
            self.state = PackageState(limits, library, now)
            return self.state

    def _refused(self, why: str) -> PackageState:
        message = f"offline package refused: {why}"
        self._store.set_meta("last_error", message)
        self.state = PackageState(
            self.state.limits, self.state.library, self.state.fetched_at, message
        )
        return self.state
