"""`facepay eval pairs`: registers itself on `facepay.commands.eval.app`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from facepay.bootstrap import load_settings
from facepay.commands import fail
from facepay.commands.eval import app
from facepay.commands.face import load_engine
from facepay.shared.errors import InvalidInput
from facepay.vision.evaluation import (
    PairsReport,
    embed_images,
    evaluate_pairs,
    pair_images,
    template_gain,
)
from facepay.vision.lfw import read_pairs
from facepay.vision.sample_set import read_sources

__all__ = ["app"]


@app.command("pairs")
def pairs(
    pairs_file: Annotated[Path, typer.Argument(help="An LFW pairs.txt file.")],
    root: Annotated[Path, typer.Option(help="Folder holding NAME/NAME_0001.jpg images.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    frames: Annotated[int, typer.Option(help="Frames per template (sources.tsv sets).")] = 3,
) -> None:
    """Accuracy (LFW k-fold, or one threshold for a file of one fold), EER and FNMR at FMR
    1e-2 / 1e-3 on labelled face pairs in any folder (`--root`)."""
    settings = load_settings()
    try:
        listed = read_pairs(pairs_file)
    except InvalidInput as error:
        raise fail(error.message) from None
    if not root.is_dir():
        raise fail(f"--root {root} is not a folder")
    engine = load_engine(settings, quiet=False)
    paths = pair_images(listed, root)
    sources = read_sources(root)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("Embedding images", total=len(paths))
        embeddings = embed_images(engine, paths, progress=lambda n: bar.advance(task, n))
    try:
        report = evaluate_pairs(
            listed,
            embeddings,
            root=root,
            model=engine.model_version,
            threshold=settings.verify_threshold,
        )
    except InvalidInput as error:
        raise fail(error.message) from None
    out: dict[str, object] = report.to_json()
    if sources:
        missing = [ref.path(root) for ref in sources if ref.path(root) not in embeddings]
        enrolled = embeddings | embed_images(engine, missing)
        samples = [
            (ref, source, vector)
            for ref, source in sources.items()
            if (vector := enrolled[ref.path(root)]) is not None
        ]
        gain = template_gain(samples, threshold=settings.verify_threshold, frames=frames)
        out["template_gain"] = asdict(gain)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    _print(report, out.get("template_gain"))


def _print(report: PairsReport, gain: object) -> None:
    table = Table(title=f"LFW-protocol evaluation ({report.model})", show_header=False)
    lines = [
        ("pairs (matched / mismatched)", f"{report.matched_pairs} / {report.mismatched_pairs}"),
        ("images, failures to enrol", f"{report.images}, {report.failures_to_enrol}"),
        ("pairs evaluated", str(report.pairs_evaluated)),
        ("accuracy", f"{report.accuracy:.4f} ± {report.accuracy_std:.4f}"),
        ("accuracy measured by", report.accuracy_protocol),
        ("best-accuracy threshold", f"{report.best_threshold:.4f}"),
        ("EER (threshold)", f"{report.eer:.4f} ({report.eer_threshold:.4f})"),
    ]
    for key, point in report.fnmr_at_fmr.items():
        note = "" if point.resolvable else " (too few impostor pairs to resolve)"
        lines.append((f"FNMR at FMR={key}", f"{point.fnmr:.4f} @ {point.threshold:.4f}{note}"))
    lines.append(
        (
            f"at threshold {report.threshold}",
            f"FMR {report.fmr_at_threshold:.4f}, FNMR {report.fnmr_at_threshold:.4f}",
        )
    )
    for name, value in lines:
        table.add_row(name, value)
    console = Console()
    console.print(table)
    if isinstance(gain, dict):
        console.print(
            f"template of {gain['frames']} frames: FNMR {gain['fnmr_template']:.4f} vs single "
            f"frame {gain['fnmr_single']:.4f} at {gain['threshold']}; mean genuine score "
            f"{gain['mean_genuine_template']:.4f} vs {gain['mean_genuine_single']:.4f}"
        )
        for threshold, single, template in gain["fnmr_curve"]:
            console.print(
                f"  at {threshold:.2f}: FNMR single {single:.4f}, template {template:.4f}"
            )
