"""Charts as PNG files, drawn with matplotlib off screen (the Agg backend: no display, no fonts
downloaded; the DejaVu fonts matplotlib ships cover the report's Latin text)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from facepay.adapters.data_dir import create_private_file
from facepay.supervision.reconciliation import DIFFERENCE_KINDS, Reconciliation

_LABELS = {
    "missing_in_facepay": "missing in facepay",
    "missing_on_other_side": "missing on the other side",
    "refunded_in_facepay_only": "refunded in facepay only",
    "refunded_on_other_side_only": "refunded on the other side only",
    "amount_differs": "amount differs",
    "duplicate": "stated twice",
    "totals_refused": "totals refused (3201)",
}


def reconciliation_png(report: Reconciliation) -> bytes:
    """Differences by kind, one bar group per side compared: the night's picture at a glance."""
    import matplotlib  # noqa: PLC0415 - only the report commands draw

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    counts = report.counts()
    sides = list(counts) or ["(nothing compared)"]
    figure, axes = pyplot.subplots(figsize=(8, 3.6), dpi=100)
    try:
        height = 0.8 / max(len(sides), 1)
        positions = range(len(DIFFERENCE_KINDS))
        for n, side in enumerate(sides):
            values = [counts.get(side, {}).get(kind, 0) for kind in DIFFERENCE_KINDS]
            offsets = [p + n * height for p in positions]
            axes.barh(offsets, values, height=height, label=f"against the {side}")
            for y, value in zip(offsets, values, strict=True):
                if value:
                    axes.text(value, y, f" {value}", va="center", fontsize=8)
        axes.set_yticks([p + height * (len(sides) - 1) / 2 for p in positions])
        axes.set_yticklabels([_LABELS[kind] for kind in DIFFERENCE_KINDS], fontsize=8)
        axes.invert_yaxis()
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        verdict = (
            "every entry agrees"
            if not report.differences
            else (f"{len(report.differences)} difference(s)")
        )
        axes.set_title(
            f"Reconciliation of {report.hospital_id} on {report.day.isoformat()}: {verdict}",
            fontsize=10,
        )
        axes.set_xlabel("differences")
        if counts:
            axes.legend(fontsize=8, loc="lower right")
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    finally:
        pyplot.close(figure)


def reconciliation_csv(report: Reconciliation) -> str:
    """One row per difference (a header only when the day agrees)."""
    out = io.StringIO()
    columns = ["date", "hospital_id", "side", "kind", "key", "entry", "field"]
    columns += ["facepay_fen", "other_fen"]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for difference in report.differences:
        row = {"date": report.day.isoformat(), "hospital_id": report.hospital_id}
        writer.writerow({**row, **difference.as_json()})
    return out.getvalue()


def write_report_files(report: Reconciliation, folder: Path, *, stem: str) -> list[Path]:
    """`stem`.json, .csv and .png in `folder` (created 0700; files 0600: the report names
    bills and amounts of patients)."""
    import json  # noqa: PLC0415

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for suffix, content in (
        (".json", json.dumps(report.as_json(), indent=2, sort_keys=True).encode() + b"\n"),
        (".csv", reconciliation_csv(report).encode()),
        (".png", reconciliation_png(report)),
    ):
        path = folder / f"{stem}{suffix}"
        create_private_file(path)
        path.write_bytes(content)
        written.append(path)
    return written
