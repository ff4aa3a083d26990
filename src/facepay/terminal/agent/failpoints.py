"""Failpoints for the chaos tests: explicit, documented, and inert unless set.

`FACEPAY_TERMINAL_TEST_PAUSE_AT` names points (comma-separated) where the agent stops and waits
forever, after saying so on stderr, so that a test can kill -9 it at exactly that moment:

- `voucher_written`: an offline voucher is committed and fsynced, the answer not yet sent (the
  screen has not said paid);
- `vouchers_sent`: the server has answered an upload, the answers are not yet stored.

Honoured only when `FACEPAY_ENVIRONMENT` is `dev` or `test`; set in production (or naming an
unknown point) it is refused at start, so a forgotten variable can never freeze a real till.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from facepay.shared.errors import ConfigurationError

PAUSE_AT = "FACEPAY_TERMINAL_TEST_PAUSE_AT"
POINTS = frozenset({"voucher_written", "vouchers_sent"})
TEST_ENVIRONMENTS = ("dev", "test")


@dataclass(frozen=True)
class Failpoints:
    """The armed points (none by default: every `reach` returns at once)."""

    armed: frozenset[str] = frozenset()

    def reach(self, point: str) -> None:
        """Stop here for good if `point` is armed (the test kills the process)."""
        if point not in self.armed:
            return
        print(f"facepay terminal agent: failpoint {point} reached, pausing", file=sys.stderr)
        sys.stderr.flush()
        threading.Event().wait()


def test_only(name: str, environ: Mapping[str, str]) -> str | None:
    """The value of a test-only variable, or None; refused outside dev and test."""
    value = environ.get(name, "").strip()
    if not value:
        return None
    environment = environ.get("FACEPAY_ENVIRONMENT", "dev")
    if environment not in TEST_ENVIRONMENTS:
        raise ConfigurationError(
            f"{name} is for tests only and is refused in the {environment} environment",
            code="bad_setting",
        )
    return value


def failpoints_from(environ: Mapping[str, str]) -> Failpoints:
    """The failpoints `FACEPAY_TERMINAL_TEST_PAUSE_AT` arms (none when unset)."""
    value = test_only(PAUSE_AT, environ)
    if value is None:
        return Failpoints()
    armed = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = armed - POINTS
    if unknown:
        raise ConfigurationError(
            f"{PAUSE_AT}: unknown point(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(sorted(POINTS))}",
            code="bad_setting",
        )
    return Failpoints(armed)
