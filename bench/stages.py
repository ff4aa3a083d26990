"""Per-stage timers for the payment bench: wrap a callable, sum its wall time per round.

Stages nest (`track` holds `hog` and `landmarks`; `check identity` holds `embed`), so the
breakdown is read as a tree, not a sum. The wrappers cost about a microsecond a call.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class Stages:
    """Wall time and call count of each named stage, per round."""

    def __init__(self) -> None:
        self._round: dict[str, float] = defaultdict(float)
        self._calls: dict[str, int] = defaultdict(int)
        self.rounds: list[dict[str, float]] = []
        self.calls: list[dict[str, int]] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn`, timed under `name`."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._round[name] += time.perf_counter() - t0
                self._calls[name] += 1

        return timed

    def add(self, name: str, seconds: float) -> None:
        """Add a measured span to this round."""
        self._round[name] += seconds
        self._calls[name] += 1

    def current(self, name: str) -> float:
        """Seconds spent in `name` so far this round."""
        return self._round.get(name, 0.0)

    def discard_round(self) -> None:
        """Forget the current round (it did not complete)."""
        self._round.clear()
        self._calls.clear()

    def next_round(self) -> None:
        """Close the current round."""
        self.rounds.append(dict(self._round))
        self.calls.append(dict(self._calls))
        self._round.clear()
        self._calls.clear()

    def report(self, order: list[str]) -> None:
        """p50 / p95 per stage in ms, and calls per round."""
        names = order + sorted({n for r in self.rounds for n in r} - set(order))
        for name in names:
            values = sorted(r.get(name, 0.0) for r in self.rounds)
            if not any(values):
                continue
            calls = statistics.median(c.get(name, 0) for c in self.calls)
            p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
            print(
                f"  {name:22s} p50 {statistics.median(values) * 1000:7.1f} ms"
                f"   p95 {p95 * 1000:7.1f} ms   calls {calls:5.1f}"
            )
