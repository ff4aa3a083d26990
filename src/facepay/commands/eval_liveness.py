"""`facepay eval liveness`: registers itself on `facepay.commands.eval.app`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from facepay.bootstrap import build_face_engine, load_settings
from facepay.commands.eval import app
from facepay.shared.errors import InvalidInput
from facepay.vision.liveness.evaluation import (
    PRESENTATIONS_PER_SUBJECT,
    SuiteReport,
    faces_camera,
    load_subjects,
    run_suite,
)

__all__ = ["app"]
DEFAULT_IMAGES = Path(".test-data/images")


@app.command("liveness")
def liveness(
    images: Annotated[
        Path, typer.Option(help="Folder with the sample photos (scripts/test-data).")
    ] = DEFAULT_IMAGES,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Use only the first N faces (quick runs).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic suite.")] = 7,
    all_faces: Annotated[
        bool, typer.Option("--all-faces", help="Include faces photographed 25-50° sideways.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """APCER per attack type and BPCER of the synthetic attack suite built from real photos."""
    err = Console(stderr=True)
    if not (images / "obama.jpg").is_file():
        err.print(f"[red]error:[/red] sample photos not found in {images} (run make test-data)")
        raise typer.Exit(code=2)
    with err.status("Loading the face models…"):
        engine = build_face_engine(load_settings())
    try:
        everyone = load_subjects(engine, images)
    except InvalidInput as error:
        err.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(code=2) from None
    frontal = everyone if all_faces else [s for s in everyone if faces_camera(s)]
    skipped = [s.name for s in everyone if s not in frontal]
    if skipped:
        err.print(f"Not frontal (kiosk quality gate), left out: {', '.join(skipped)}")
    subjects = frontal[:limit] if limit else frontal
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("Presentations", total=len(subjects) * PRESENTATIONS_PER_SUBJECT)
        report = run_suite(
            engine, subjects, partners=everyone, seed=seed, progress=lambda _: bar.advance(task)
        )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    _print(report, len(subjects))


def _print(report: SuiteReport, faces: int) -> None:
    data = report.to_json()
    guesses = report.guesses()
    table = Table("attack type", "attempts", "APCER", "decisions / guessed type")
    attacks = data["attacks"]
    assert isinstance(attacks, dict)
    for kind, row in attacks.items():
        seen = ", ".join(f"{k} {v}" for k, v in sorted(guesses.get(kind, {}).items()))
        table.add_row(kind, str(row["attempts"]), f"{row['apcer']:.2%}", seen)
    console = Console()
    console.print(table)
    console.print(
        f"BPCER {data['bpcer']:.2%} over {data['bona_fide_attempts']} bona fide presentations "
        f"({faces} faces). Synthetic data: proves the logic, not field performance."
    )
