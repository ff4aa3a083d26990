"""`facepay his`: the hospital system's HL7 v2 interface (MLLP listener, notifications, pruning)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Annotated

import typer

from facepay.adapters.hl7v2.charsets import CODECS, Charset
from facepay.adapters.hl7v2.inbound import Receiver, Site, prune
from facepay.adapters.hl7v2.listener import LOOPBACK, MllpListener, parse_networks
from facepay.adapters.hl7v2.notifier import MllpNotifier
from facepay.bootstrap import build_interface_services, open_installation
from facepay.commands.serve import DataDir, settings_for
from facepay.services.context import Services, Storage
from facepay.shared.errors import ConfigurationError

app = typer.Typer(help="The hospital system's HL7 v2 interface over MLLP.", no_args_is_help=True)


def host_port(value: str, what: str) -> tuple[str, int]:
    """`HOST:PORT` (`[v6]:PORT` too); ConfigurationError names a bad one."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
        raise ConfigurationError(f"{what} {value!r}: HOST:PORT, e.g. 0.0.0.0:2575")
    return host, int(port)


def _site(ctx: Services, hospital_id: str, facility: str | None) -> Site:
    with ctx.uow() as uow:
        found = uow.tenants.hospital(hospital_id)
    if found is None:
        raise ConfigurationError(f"--site {hospital_id}: no such site", code="not_found")
    return Site(hospital_id, frozenset({hospital_id} | ({facility} if facility else set())))


@app.command()
def listen(  # noqa: PLR0917 - Typer maps each parameter to an option
    mllp: Annotated[str, typer.Option("--mllp", help="HOST:PORT to listen on (2575 is HL7's).")],
    site: Annotated[str, typer.Option("--site", help="The site (hospital id) served.")],
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="A peer address or CIDR block (repeat); default loopback."),
    ] = None,
    facility: Annotated[
        str | None,
        typer.Option(
            "--facility", help="Another MSH-6 value naming the site (e.g. its national code)."
        ),
    ] = None,
    notify: Annotated[
        str | None,
        typer.Option("--notify", help="HOST:PORT of the hospital system's MLLP endpoint."),
    ] = None,
    notify_charset: Annotated[
        str, typer.Option("--notify-charset", help="MSH-18 of notifications.")
    ] = "UNICODE UTF-8",
    data: DataDir = None,
) -> None:
    """Receive ADT, DFT, ORM and ORU messages for one site; ACK each once it is stored."""
    host, port = host_port(mllp, "--mllp")
    target = host_port(notify, "--notify") if notify else None
    try:
        networks = parse_networks(allow) if allow else LOOPBACK
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    codec = CODECS.get(notify_charset.upper())
    if codec is None:
        raise ConfigurationError(f"--notify-charset {notify_charset!r}: not a known MSH-18 value")
    settings = settings_for(data)
    ctx = build_interface_services(settings, storage=open_installation(settings))
    bound = _site(ctx, site, facility)
    receiver = Receiver(ctx, bound)
    listener = MllpListener(receiver, allow=networks)
    notifier = (
        MllpNotifier(ctx, site, target[0], target[1], charset=Charset(notify_charset, codec))
        if target
        else None
    )
    try:
        asyncio.run(_run(listener, notifier, host, port))
    except OSError as error:
        raise ConfigurationError(f"--mllp {mllp}: {error.strerror or error}") from None


async def _run(listener: MllpListener, notifier: MllpNotifier | None, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    where = await listener.start(host, port)
    print(
        f"listening on mllp://{where[0]}:{where[1]} for site {listener.receiver.site.hospital_id}",
        file=sys.stderr,
        flush=True,
    )
    tasks = [asyncio.create_task(_prune_hourly(listener.receiver.ctx, stop))]
    if notifier is not None:
        tasks.append(asyncio.create_task(notifier.run(stop)))
    await stop.wait()
    await listener.stop()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    c = listener.receiver.counters
    print(
        f"stopped: {c.received} received, {c.applied} applied, {c.errors} AE, {c.rejected} AR,"
        f" {c.replayed} repeats, {c.unanswered} unanswered",
        file=sys.stderr,
    )


async def _prune_hourly(ctx: Storage, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.get_running_loop().run_in_executor(None, prune, ctx)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=3_600)


@app.command("prune")
def prune_command(data: DataDir = None) -> None:
    """Drop the raw text of HL7 messages older than FACEPAY_HL7_RAW_RETENTION_DAYS."""
    typer.echo(f"{prune(open_installation(settings_for(data)))} messages pruned")
