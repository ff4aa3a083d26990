"""A real uvicorn in a thread of this process, for tests and benchmarks that serve the app
`facepay.bootstrap` builds (with keyword overrides) without starting `facepay serve`, plus the
first platform operator and cheap password hashing for them.

Nothing here builds services: `bootstrap.build_services` and `bootstrap.build_access` do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from facepay.access.passwords import PasswordHashing
from facepay.services import admin
from facepay.services.context import Storage


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


def fast_passwords() -> PasswordHashing:
    """argon2id with small parameters: for tests and benchmarks only."""
    return PasswordHashing(time_cost=1, memory_cost_kib=1024, parallelism=1)


def seed_operator(
    storage: Storage, *, username: str, password: str, passwords: PasswordHashing
) -> str:
    """The platform operator's login (what `facepay admin init` does first); returns its id."""
    user = admin.create_staff_user(
        ctx=storage,
        actor="setup",
        hospital_id=None,
        username=username,
        password_hash=passwords.hash(password),
        role="platform_operator",
    )
    return user.id
