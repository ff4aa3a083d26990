"""`facepay liveness …`: presentation-attack detection on captured frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from facepay.bootstrap import build_face_engine, load_settings
from facepay.commands import fail
from facepay.config import Settings
from facepay.shared.errors import InvalidInput
from facepay.vision.liveness.challenge import Challenge, ChallengeBook
from facepay.vision.liveness.checks.model import OnnxPadModel, PadModel
from facepay.vision.liveness.files import capture_from_files
from facepay.vision.liveness.policy import LivenessDecision, LivenessPolicy, default_checks

app = typer.Typer(
    help="Check captures for liveness (photo, replay and mask attacks).", no_args_is_help=True
)


def _challenge(text: str) -> Challenge:
    """Inline JSON or a path to a JSON file (as printed by the server's challenge endpoint)."""
    raw = text if text.lstrip().startswith("{") else _read_text(Path(text))
    try:
        data: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        msg = f"--challenge is not valid JSON: {exc.msg}"
        raise InvalidInput(msg) from exc
    if not isinstance(data, dict):
        raise InvalidInput("--challenge must be a JSON object")
    return Challenge.from_json(data)


def _read_text(path: Path) -> str:
    if not path.is_file():
        msg = f"no such challenge file: {path}"
        raise InvalidInput(msg)
    return path.read_text(encoding="utf-8")


def build_policy(settings: Settings) -> LivenessPolicy:
    """The engine and the checks as configured (the optional PAD model only when set)."""
    pad: PadModel | None = None
    if settings.liveness_pad_model is not None:
        pad = OnnxPadModel(settings.liveness_pad_model)
    checks = default_checks(pad_model=pad, identity_threshold=settings.liveness_identity_threshold)
    return LivenessPolicy(engine=build_face_engine(settings), checks=checks)


@app.command()
def check(  # noqa: PLR0917 - Typer maps each parameter to an argument or option
    frames: Annotated[list[Path], typer.Argument(help="Image files in order, or one video file.")],
    depth: Annotated[
        list[Path] | None, typer.Option(help="Depth map per frame: 16-bit PNG (mm) or .npy.")
    ] = None,
    ir: Annotated[list[Path] | None, typer.Option(help="Near-infrared image per frame.")] = None,
    challenge: Annotated[
        str | None, typer.Option(help="The issued challenge: JSON text or a JSON file.")
    ] = None,
    fps: Annotated[float, typer.Option(help="Frame rate of image-file frames.")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide live / spoof / retry for a capture and show every check's score and reason."""
    try:
        issued = _challenge(challenge) if challenge is not None else None
        # Offline diagnosis: the frames are taken as recorded just after the challenge was issued.
        started = issued.issued_at + timedelta(seconds=0.5) if issued else datetime.now(UTC)
        capture = capture_from_files(
            frames,
            depth=depth or [],
            infrared=ir or [],
            fps=fps,
            started_at=started,
            nonce=issued.nonce if issued else None,
        )
        settings = load_settings()
        with Console(stderr=True, quiet=as_json).status("Loading the face models…"):
            policy = build_policy(settings)
    except InvalidInput as error:
        raise fail(error.message) from None
    book = ChallengeBook()
    if issued is not None:
        book.add(issued)
    decision = policy.evaluate(capture=capture, book=book, now=capture.ended_at)
    if as_json:
        typer.echo(json.dumps({"frames": len(capture.frames)} | decision.to_json(), indent=2))
        return
    _print(decision)


def _print(decision: LivenessDecision) -> None:
    console = Console()
    colour = {"live": "green", "spoof": "red", "retry": "yellow"}[decision.decision.value]
    guess = f" ({decision.attack.value})" if decision.attack else ""
    console.print(f"[bold {colour}]{decision.decision.value}[/]{guess}: {decision.reason}")
    console.print(f"Patient message: {decision.message}")
    table = Table("check", "score", "result", "reason")
    for result in decision.checks:
        verdict = "skipped" if not result.applicable else ("pass" if result.passed else "FAIL")
        table.add_row(result.name, f"{result.score:.2f}", verdict, result.reason)
    if decision.checks:
        console.print(table)
