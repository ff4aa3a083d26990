"""`facepay serve` in a child process, for tests and benchmarks that need a real server: its own
address space (so that its memory can be measured and a crash is its own), started the way an
operator starts it (`facepay admin init`, then `facepay serve`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CLI = "from facepay.cli import main; main()"
OPERATOR_PASSWORD = "operator-pass-2026"  # noqa: S105 - a throw-away test installation
THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ServerProcess:
    """A running `facepay serve`: its address, process, data folder and output (banner, logs)."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_file: Path

    @property
    def pid(self) -> int:
        """The server's process id (`facepay serve` re-executes itself, keeping it)."""
        return self.process.pid

    def rss_kib(self) -> int:
        """Resident memory now, in KiB (Linux /proc)."""
        return _status_field(self.pid, "VmRSS")

    def peak_rss_kib(self) -> int:
        """Resident memory high-water mark since the last `reset_peak`, in KiB."""
        return _status_field(self.pid, "VmHWM")

    def reset_peak(self) -> bool:
        """Start a new high-water mark (Linux 4.0+: writing 5 to clear_refs); False if denied."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_cli(
    args: list[str], env: Mapping[str, str], *, timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """One `facepay` command in a child process."""
    return subprocess.run(  # noqa: S603 - our own interpreter and CLI, no shell
        [sys.executable, "-c", CLI, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def serve_process(
    data_dir: Path,
    *,
    env: Mapping[str, str],
    init: bool = True,
    operator: tuple[str, str] = ("operator", OPERATOR_PASSWORD),
    log_path: Path | None = None,
    timeout: float = 120.0,
    workers: int = 1,
) -> Iterator[ServerProcess]:
    """`facepay admin init` (the platform operator) and `facepay serve` on a free port (with
    `workers` processes); the server's output goes to `log_path` (default: next to the data
    folder)."""
    # The thread pools `facepay serve` pins for itself, given up front: it starts at once
    # instead of starting itself again to pin them (unless the caller chose otherwise).
    pinned = {pool: os.environ.get(pool, "1") for pool in THREAD_POOLS}
    environment = {**pinned, **env, "FACEPAY_DATA_DIR": str(data_dir)}
    if init:
        username, password = operator
        done = run_cli(
            ["admin", "init", "--operator", username],
            {**environment, "FACEPAY_OPERATOR_PASSWORD": password},
        )
        if done.returncode != 0:
            raise RuntimeError(f"facepay admin init failed: {done.stdout}{done.stderr}")
    port = free_port()
    log_file = log_path or data_dir.parent / f"{data_dir.name}-server-{port}.log"
    log = log_file.open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI, no shell
        [sys.executable, "-c", CLI, "serve", "--port", str(port), "--workers", str(workers)],
        env={**os.environ, **environment},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, timeout, log_file)
        yield ServerProcess(url, process, data_dir, log_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    _wait_ready(f"{url}/healthz", process, timeout, log, "facepay serve")


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], timeout: float, log: Path, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer on {url} within {timeout:.0f} s")


@dataclass(frozen=True)
class AgentProcess:
    """A running `facepay terminal run`: its local API's address, process and data folder."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_file: Path


@contextmanager
def agent_process(
    *,
    server_url: str,
    key_file: Path,
    data_dir: Path,
    terminal_id: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    port: int | None = None,
) -> Iterator[AgentProcess]:
    """`facepay terminal run` against `server_url` (a server, or a `NetCut` in front of it),
    its local API on a free loopback port (or `port`: a restarted agent keeps its address);
    stopped with SIGTERM at the end (a test may kill -9 `process` itself)."""
    port = port or free_port()
    log_file = data_dir.parent / f"{data_dir.name}-agent-{port}.log"
    log = log_file.open("ab")
    args = ["terminal", "run", "--server", server_url, "--key", str(key_file)]
    args += ["--data", str(data_dir), "--listen", f"127.0.0.1:{port}", "--terminal", terminal_id]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI, no shell
        [sys.executable, "-c", CLI, *args],
        env={
            **os.environ,
            **{pool: os.environ.get(pool, "1") for pool in THREAD_POOLS},
            **(env or {}),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/status", process, timeout, log_file, "facepay terminal run")
        yield AgentProcess(url, process, data_dir, log_file)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
