"""`python -m facepay.adapters.nhsa --port P [--host H] [--area A] [--no-control]`: the platform
simulator without the rest of facepay's command line (what the end-to-end tests start: it
loads in a fraction of the time). `facepay nhsa simulate` is the same server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from facepay.adapters.interchange import shipped_policies
from facepay.adapters.nhsa.simulated import SimulatedPlatform
from facepay.adapters.nhsa.simulator import Simulator, serve_forever
from facepay.shared.clock import SystemClock


def main(argv: list[str] | None = None) -> None:
    """Parse the options and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m facepay.adapters.nhsa")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--area", default="310100")
    parser.add_argument("--no-control", action="store_true")
    args = parser.parse_args(argv)
    platform = SimulatedPlatform(policies=shipped_policies(), clock=SystemClock(), area=args.area)
    simulator = Simulator(platform, control=not args.no_control)

    def ready(url: str) -> None:
        print(f"NHSA simulator on {url}", file=sys.stderr, flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(simulator, args.host, args.port, ready))


if __name__ == "__main__":
    main()
