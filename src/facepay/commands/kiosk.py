"""`facepay capture` and `facepay kiosk …`: a command-line kiosk for integrators.

`facepay capture` films the answer to a challenge (from `POST /v1/liveness/challenges`) and
writes the capture JSON the API takes. `facepay kiosk` is a registered terminal: it signs every
request with the terminal's Ed25519 key file and prints each step of enrolment, identification
and payment. The capture source is a webcam (`--camera N`), a video file (`--video FILE`) or, as
clearly labelled test data, a still photo animated by the liveness synthesiser (`--synthetic
PHOTO`).

`facepay kiosk --agent URL pay` pays through the terminal agent's local API (`facepay terminal
run`, docs/terminal.md) instead of the server: the agent holds the terminal's key and pays
online, or offline within the server's signed limits when the server cannot be reached, so no
--terminal or --key is needed. What the agent does not do (enrolment, identification without a
payment, a second factor) goes to the server directly, with --terminal and --key.

Exit codes: 0 done; 1 the server or the agent refused (its code and sentence are printed: no
match, liveness refused after the retakes, bill already paid, a terminal key the server does not
know or has revoked: 401, a payment sent and not confirmed: repeat it with the key printed); 2 a
mistake to fix first (no such file, an unreadable key file, the server or the agent cannot be
reached).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from facepay.client import TerminalSession
from facepay.commands import fail
from facepay.shared.errors import InvalidInput
from facepay.terminal.agent_kiosk import AgentKiosk
from facepay.terminal.capture import (
    CameraSource,
    CaptureSource,
    SyntheticSource,
    VideoFileSource,
    capture_body,
    challenge_of,
)
from facepay.terminal.kiosk import Kiosk, KioskRefused, load_card
from facepay.terminal.signing import private_key_from_pem, private_key_to_pem, public_key_pem

app = typer.Typer(
    help="A signed command-line kiosk: enrol a patient, identify, pay a bill.",
    no_args_is_help=True,
)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

Camera = Annotated[int | None, typer.Option("--camera", help="Film from this webcam (0, 1 ...).")]
Video = Annotated[
    Path | None, typer.Option("--video", help="A video file recorded in answer to the challenge.")
]
Synthetic = Annotated[
    Path | None,
    typer.Option(
        "--synthetic",
        help="TEST DATA: animate the face of this still photo (no camera needed).",
    ),
]
Seed = Annotated[int, typer.Option(help="Seed of the synthetic frames (with --synthetic).")]


def source_from(
    camera: int | None, video: Path | None, synthetic: Path | None, seed: int
) -> CaptureSource:
    """The one capture source the options name."""
    given = [name for name, value in (("--camera", camera), ("--video", video),
                                      ("--synthetic", synthetic)) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise InvalidInput("give exactly one of --camera N, --video FILE or --synthetic PHOTO")
    if camera is not None:
        return CameraSource(camera)
    if video is not None:
        return VideoFileSource(_existing(video))
    assert synthetic is not None
    from facepay.bootstrap import build_face_engine, load_settings  # noqa: PLC0415 - slow

    with _err.status("Loading the face models…"):
        engine = build_face_engine(load_settings())
    _err.print("note: --synthetic frames are test data rendered from a still photo", markup=False)
    return SyntheticSource(engine, _existing(synthetic), seed)


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    return path


def capture(  # noqa: PLR0917 - Typer maps each parameter to an option
    challenge: Annotated[
        Path,
        typer.Option(
            "--challenge",
            help="The challenge JSON the server returned (a file, or - for standard input).",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
    ] = None,
    camera: Camera = None,
    video: Video = None,
    synthetic: Synthetic = None,
    seed: Seed = 0,
) -> None:
    """Film the answer to a liveness challenge and write the capture JSON the API takes (the
    `capture` field of POST /v1/enrolments and /v1/identifications)."""
    text = typer.get_text_stream("stdin").read() if str(challenge) == "-" else _read(challenge)
    try:
        issued = challenge_of(json.loads(text))
    except json.JSONDecodeError as error:
        raise InvalidInput(f"--challenge is not JSON: {error.msg}") from None
    source = source_from(camera, video, synthetic, seed)
    recorded = source.record(issued, lambda line: _err.print(line, markup=False))
    body = json.dumps(capture_body(recorded), separators=(",", ":"))
    if out is None:
        typer.echo(body)
    else:  # face frames: readable by their owner only, and never over an existing file
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidInput(f"{out} exists already") from None
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(body + "\n")
    _err.print(f"{len(recorded.frames)} frame(s) from {source.label}", markup=False)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read {path}: {error}") from None


class _Terminal:
    """The options every `facepay kiosk` command shares (server, terminal id, key file)."""

    server: str = "http://127.0.0.1:8000"
    terminal: str | None = None
    key: Path | None = None
    agent: str | None = None


_terminal = _Terminal()


@app.callback()
def _options(
    server: Annotated[
        str, typer.Option(envvar="FACEPAY_KIOSK_SERVER", help="The facepay server's URL.")
    ] = "http://127.0.0.1:8000",
    terminal: Annotated[
        str | None,
        typer.Option(envvar="FACEPAY_KIOSK_TERMINAL", help="The registered terminal's id."),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(envvar="FACEPAY_KIOSK_KEY", help="The terminal's private key (PEM) file."),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            envvar="FACEPAY_KIOSK_AGENT",
            help="Pay through this terminal agent's local API (e.g. http://127.0.0.1:8765) "
            "instead of the server; enrol and identify still go to the server.",
        ),
    ] = None,
) -> None:
    """Every command but `keygen` needs --terminal and --key (or FACEPAY_KIOSK_*), except
    `pay` with --agent (the agent holds the terminal's key)."""
    _terminal.server, _terminal.terminal, _terminal.key = server, terminal, key
    _terminal.agent = agent


@contextmanager
def _kiosk(source: CaptureSource, attempts: int, *, as_json: bool = False) -> Iterator[Kiosk]:
    if _terminal.terminal is None or _terminal.key is None:
        raise InvalidInput(
            "give --terminal ID and --key FILE (or FACEPAY_KIOSK_TERMINAL/_KEY)"
            + ("; only `pay` goes through --agent" if _terminal.agent else "")
        )
    key = load_private_key(_terminal.key)
    # Under --json the steps go to stderr: stdout is the JSON alone.
    console = Console(highlight=False, soft_wrap=True, stderr=as_json)
    with httpx.Client(base_url=_terminal.server, timeout=120) as http:
        session = TerminalSession(http, _terminal.terminal, key)
        try:
            yield Kiosk(
                session, source, say=lambda t: console.print(t, markup=False), attempts=attempts
            )
        except KioskRefused as refused:
            _err.print(
                f"refused ({refused.status} {refused.code}): {refused.message}", markup=False
            )
            raise typer.Exit(code=1) from None
        except httpx.HTTPError as error:
            raise fail(f"cannot reach the facepay server at {_terminal.server}: {error}") from None


@contextmanager
def _agent_kiosk(
    url: str, source: CaptureSource, attempts: int, *, as_json: bool = False
) -> Iterator[AgentKiosk]:
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(
            f"--agent {url}: give the agent's local API URL, e.g. http://127.0.0.1:8765"
        )
    console = Console(highlight=False, soft_wrap=True, stderr=as_json)
    with httpx.Client(base_url=url, timeout=120) as http:
        try:
            yield AgentKiosk(
                http, source, say=lambda t: console.print(t, markup=False), attempts=attempts
            )
        except KioskRefused as refused:
            _err.print(
                f"refused ({refused.status} {refused.code}): {refused.message}", markup=False
            )
            raise typer.Exit(code=1) from None
        except httpx.HTTPError as error:
            raise fail(f"cannot reach the terminal agent at {url}: {error}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The terminal's key file: a PEM Ed25519 private key that only its owner can read."""
    if not path.is_file():
        raise InvalidInput(f"no such key file: {path}")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise InvalidInput(f"the key file {path} is readable by others: run `chmod 600 {path}`")
    try:
        return private_key_from_pem(path.read_bytes())
    except (ValueError, TypeError, InvalidInput):
        raise InvalidInput(f"{path} is not an Ed25519 private key in PEM") from None


Attempts = Annotated[int, typer.Option(min=1, max=10, help="Captures before giving up.")]


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the private key.")],
) -> None:
    """Make the terminal's key pair: the private key stays in OUT (0600); register the printed
    public key with POST /v1/terminals (`public_key`)."""
    if out.exists():
        raise InvalidInput(f"{out} exists already; a terminal keeps its key")
    key = Ed25519PrivateKey.generate()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(private_key_to_pem(key))
    typer.echo(public_key_pem(key).strip())


@app.command()
def enrol(  # noqa: PLR0917 - Typer maps each parameter to an option
    card: Annotated[
        Path, typer.Option(help="ID card data: JSON with id_number, name, sex, birth_date.")
    ],
    chip_photo: Annotated[Path, typer.Option(help="The photo read from the ID card's chip.")],
    consent: Annotated[
        bool,
        typer.Option(
            "--consent-given",
            help="The patient read and accepted the separate biometric consent.",
        ),
    ] = False,
    purpose: Annotated[str, typer.Option(help="What the consent is for.")] = "pay bills by face",
    camera: Camera = None,
    video: Video = None,
    synthetic: Synthetic = None,
    seed: Seed = 0,
    attempts: Attempts = 3,
) -> None:
    """Enrol a patient: ID card data and chip photo, a live capture, the biometric consent."""
    if not consent:
        raise InvalidInput(
            "enrolment needs the patient's separate biometric consent: --consent-given"
        )
    data = load_card(card)
    photo = _existing(chip_photo).read_bytes()
    with _kiosk(source_from(camera, video, synthetic, seed), attempts) as kiosk:
        kiosk.enrol(data, photo, consent_purpose=purpose)


@app.command()
def identify(  # noqa: PLR0917 - Typer maps each parameter to an option
    camera: Camera = None,
    video: Video = None,
    synthetic: Synthetic = None,
    seed: Seed = 0,
    attempts: Attempts = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the identification JSON.")] = False,
) -> None:
    """Identify the patient in front of the kiosk (1:N within its hospital)."""
    with _kiosk(source_from(camera, video, synthetic, seed), attempts, as_json=as_json) as kiosk:
        found, _, _ = kiosk.identify()
    if as_json:
        typer.echo(json.dumps(found))
    if found["decision"] == "no_match":
        raise typer.Exit(code=1)


@app.command()
def pay(  # noqa: PLR0917 - Typer maps each parameter to an option
    bill_id: Annotated[str, typer.Argument(help="The bill's id (bil_...).")],
    last4: Annotated[
        str | None,
        typer.Option(help="Last four digits of the patient's phone, if a second factor is asked."),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Repeat a payment safely with the same key.")
    ] = None,
    camera: Camera = None,
    video: Video = None,
    synthetic: Synthetic = None,
    seed: Seed = 0,
    attempts: Attempts = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt JSON.")] = False,
) -> None:
    """Pay a bill by face: identify, show the split, pay (second factor when asked); with
    --agent, through the terminal agent (online, or offline within its limits)."""
    if _terminal.agent is not None:
        _no_second_factor(last4)  # before the camera (or the models) is opened
        _pay_through_agent(
            _terminal.agent,
            bill_id,
            source_from(camera, video, synthetic, seed),
            idempotency_key=idempotency_key,
            attempts=attempts,
            as_json=as_json,
        )
        return

    def ask() -> str:
        return last4 or typer.prompt("last four digits of your phone", hide_input=True)

    with _kiosk(source_from(camera, video, synthetic, seed), attempts, as_json=as_json) as kiosk:
        payment = kiosk.pay(bill_id, second_factor=ask, idempotency_key=idempotency_key)
    if as_json:
        out: dict[str, Any] = {
            "receipt": payment.receipt,
            "idempotency_key": payment.idempotency_key,
            "retakes": payment.retakes,
        }
        typer.echo(json.dumps(out))


def _pay_through_agent(
    url: str,
    bill_id: str,
    source: CaptureSource,
    *,
    idempotency_key: str | None,
    attempts: int,
    as_json: bool,
) -> None:
    with _agent_kiosk(url, source, attempts, as_json=as_json) as kiosk:
        payment = kiosk.pay(bill_id, idempotency_key=idempotency_key)
    if as_json:
        typer.echo(json.dumps({**payment.body, "retakes": payment.retakes}))


def _no_second_factor(last4: str | None) -> None:
    if last4 is not None:
        raise InvalidInput(
            "--last4: the terminal agent asks no second factor (offline there is none); a "
            "payment that needs one is taken at the window, or without --agent"
        )
