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
    PHOTOS,
    PRESENTATIONS_PER_SUBJECT,
    SuiteReport,
    faces_camera,
    load_subjects,
    run_suite,
)

__all__ = ["app"]
REPOSITORY_IMAGES = Path(__file__).resolve().parents[3] / ".test-data" / "images"
"""The sample photos `scripts/test-data` fetches, found from any folder (editable install)."""
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def photo_list(folder: Path) -> tuple[tuple[str, str], ...]:
    """(file, person) of every photo to use: the sample set's own list when `folder` holds it,
    else every image file in `folder`, each taken as a different person (named by its file)."""
    if all((folder / name).is_file() for name, _ in PHOTOS):
        return PHOTOS
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    return tuple((p.name, p.stem) for p in files if p.is_file())


@app.command("liveness")
def liveness(
    images: Annotated[
        Path | None,
        typer.Option(
            help="A folder of photos, one person each (JPEG, PNG, WebP, BMP); default the "
            "sample photos of scripts/test-data."
        ),
    ] = None,
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
    folder = images or REPOSITORY_IMAGES
    if not folder.is_dir():
        hint = " (run `make test-data`, or give --images DIR)" if images is None else ""
        raise InvalidInput(f"no such folder: {folder}{hint}")
    photos = photo_list(folder)
    if not photos:
        raise InvalidInput(f"no photos (.jpg, .jpeg, .png, .webp, .bmp) in {folder}")
    with err.status("Loading the face models…"):
        engine = build_face_engine(load_settings())
    everyone = load_subjects(engine, folder, photos)
    if len({subject.person for subject in everyone}) < 2:
        raise InvalidInput(
            f"the photos of {folder} show {len(everyone)} usable face(s) of fewer than two "
            "people: the face-swap attacks need a second person"
        )
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
