"""`facepay face …`: detection, quality and 1:1 verification on image files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from facepay.bootstrap import build_face_engine, load_settings
from facepay.commands import fail
from facepay.config import Settings
from facepay.shared.errors import InvalidInput
from facepay.vision.dlib_engine import DlibFaceEngine
from facepay.vision.image import load_image
from facepay.vision.quality import assess_face, assess_frame
from facepay.vision.types import RGBImage
from facepay.vision.verification import probe, verify

app = typer.Typer(help="Detect faces and verify two photos (1:1).", no_args_is_help=True)
ImageArg = Annotated[Path, typer.Argument(help="A JPEG, PNG, WebP or BMP file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def load_engine(settings: Settings, *, quiet: bool = False) -> DlibFaceEngine:
    """Build the engine through bootstrap, with a spinner on stderr while the models load."""
    console = Console(stderr=True, quiet=quiet)
    with console.status("Loading the face models…"):
        return build_face_engine(settings)


def _read(path: Path) -> RGBImage:
    try:
        return load_image(path)
    except InvalidInput as error:
        raise fail(error.message) from None


@app.command()
def detect(image: ImageArg, as_json: JsonOpt = False) -> None:
    """Find every face in IMAGE, with its box and quality verdict."""
    pixels = _read(image)
    engine = load_engine(load_settings(), quiet=as_json)
    faces = engine.detect(pixels)
    frame = assess_frame(pixels, faces)
    rows = []
    for index, face in enumerate(faces):
        report = assess_face(pixels, face)
        reasons = list(frame.reasons if index == 0 else report.reasons)
        metrics = report.metrics
        assert metrics is not None
        rows.append(
            {
                "box": [face.box.left, face.box.top, face.box.right, face.box.bottom],
                "score": round(face.score, 3),
                "quality_ok": not reasons,
                "reasons": reasons,
                "messages": [m.message for m in (frame if index == 0 else report).issues],
                "yaw": round(metrics.pose.yaw, 1),
                "pitch": round(metrics.pose.pitch, 1),
                "roll": round(metrics.pose.roll, 1),
                "sharpness": round(metrics.sharpness, 1),
                "brightness": round(metrics.brightness, 1),
            }
        )
    if as_json:
        out = {"image": str(image), "faces": rows, "frame_reasons": list(frame.reasons)}
        typer.echo(json.dumps(out, indent=2))
        return
    _print_faces(image, rows, list(frame.reasons))


def _print_faces(image: Path, rows: list[dict[str, object]], frame_reasons: list[str]) -> None:
    console = Console()
    table = Table(title=f"{image.name}: {len(rows)} face(s)")
    for column in ("#", "box (l,t,r,b)", "yaw/pitch/roll", "sharp", "bright", "quality"):
        table.add_column(column)
    for index, row in enumerate(rows, start=1):
        verdict = "ok" if row["quality_ok"] else ", ".join(map(str, row["reasons"]))  # type: ignore[call-overload]
        table.add_row(
            str(index),
            ",".join(map(str, row["box"])),  # type: ignore[call-overload]
            f"{row['yaw']}/{row['pitch']}/{row['roll']}",
            str(row["sharpness"]),
            str(row["brightness"]),
            verdict,
        )
    console.print(table)
    if not rows:
        console.print(f"frame: {', '.join(frame_reasons)}: no face was found")


@app.command("verify")
def verify_command(image_a: ImageArg, image_b: ImageArg, as_json: JsonOpt = False) -> None:
    """Say whether the largest faces of IMAGE_A and IMAGE_B are the same person."""
    first, second = _read(image_a), _read(image_b)
    settings = load_settings()
    engine = load_engine(settings, quiet=as_json)
    try:
        a, b = probe(engine, first), probe(engine, second)
    except InvalidInput as error:
        raise fail(f"{error.message} ({image_a.name} or {image_b.name})") from None
    result = verify(
        a.embedding,
        b.embedding,
        threshold=settings.verify_threshold,
        model=engine.model_version,
    )
    if as_json:
        out = {
            "match": result.match,
            "score": round(result.score, 4),
            "threshold": result.threshold,
            "model": result.model,
        }
        typer.echo(json.dumps(out))
        return
    verdict = "[green]same person[/green]" if result.match else "[red]different people[/red]"
    Console().print(
        f"{verdict}: score {result.score:.4f} (threshold {result.threshold}, {result.model})"
    )
    for name, found in ((image_a.name, a), (image_b.name, b)):
        if not found.quality.ok:
            Console().print(f"  note: {name}: {', '.join(found.quality.reasons)}")
