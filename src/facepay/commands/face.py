"""`facepay face …`: detection, quality and 1:1 verification on image files.

Exit codes: 0 done (for `verify`: the same person); 1 `verify` ran and the faces are of different
people; 2 an image cannot be read or shows no face (the message names the file).
"""

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


def _read(path: Path, *, as_json: bool = False) -> RGBImage:
    try:
        return load_image(path)
    except InvalidInput as error:
        raise fail(f"{path.name}: {error.message}", code=error.code, as_json=as_json) from None


@app.command()
def detect(image: ImageArg, as_json: JsonOpt = False) -> None:
    """Find every face in IMAGE, numbered from 1 (largest first), each with its box and its own
    quality verdict; verdicts about the whole frame (e.g. multiple_faces) are listed apart."""
    pixels = _read(image, as_json=as_json)
    engine = load_engine(load_settings(), quiet=as_json)
    faces = engine.detect(pixels)
    frame = assess_frame(pixels, faces)
    rows = []
    for number, face in enumerate(faces, start=1):
        report = assess_face(pixels, face)
        reasons = list(report.reasons)
        metrics = report.metrics
        assert metrics is not None
        rows.append(
            {
                "face": number,
                "box": [face.box.left, face.box.top, face.box.right, face.box.bottom],
                "score": round(face.score, 3),
                "quality_ok": not reasons,
                "reasons": reasons,
                "messages": [m.message for m in report.issues],
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
    for row in rows:
        verdict = "ok" if row["quality_ok"] else ", ".join(map(str, row["reasons"]))  # type: ignore[call-overload]
        table.add_row(
            str(row["face"]),
            ",".join(map(str, row["box"])),  # type: ignore[call-overload]
            f"{row['yaw']}/{row['pitch']}/{row['roll']}",
            str(row["sharpness"]),
            str(row["brightness"]),
            verdict,
        )
    console.print(table)
    if not rows:
        console.print(f"frame: {', '.join(frame_reasons)}: no face was found")
    elif frame_reasons:
        console.print(f"frame: {', '.join(frame_reasons)}")


@app.command("verify")
def verify_command(image_a: ImageArg, image_b: ImageArg, as_json: JsonOpt = False) -> None:
    """Say whether the largest faces of IMAGE_A and IMAGE_B are the same person: exit 0 if
    they are, 1 if not, 2 if an image cannot be read or has no face."""
    first, second = _read(image_a, as_json=as_json), _read(image_b, as_json=as_json)
    settings = load_settings()
    engine = load_engine(settings, quiet=as_json)
    probes = []
    for path, pixels in ((image_a, first), (image_b, second)):
        try:
            probes.append(probe(engine, pixels))
        except InvalidInput as error:
            message = f"{path.name}: {error.message}"
            raise fail(message, code=error.code, as_json=as_json) from None
    a, b = probes
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
        raise typer.Exit(code=0 if result.match else 1)
    verdict = "[green]same person[/green]" if result.match else "[red]different people[/red]"
    Console().print(
        f"{verdict}: score {result.score:.4f} (threshold {result.threshold}, {result.model})"
    )
    for name, found in ((image_a.name, a), (image_b.name, b)):
        if not found.quality.ok:
            Console().print(f"  note: {name}: {', '.join(found.quality.reasons)}")
    raise typer.Exit(code=0 if result.match else 1)
