"""`facepay reconcile`: the nightly reconciliation of a site's day with the insurance platform
and the HIS. It reports and raises alerts; it never moves money."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facepay.commands.serve import DataDir, settings_for
from facepay.shared.errors import InvalidInput
from facepay.shared.money import fen_to_yuan_str


def reconcile(  # noqa: PLR0917 - Typer maps each parameter to an option
    day: Annotated[str, typer.Option("--date", metavar="YYYY-MM-DD", help="The site's local day.")],
    site: Annotated[str, typer.Option("--site", help="The hospital id.")],
    his: Annotated[
        Path | None,
        typer.Option(
            "--his",
            metavar="FILE",
            help="The HIS's day as a FHIR R4 PaymentReconciliation (JSON); without it only "
            "the platform is compared.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the report (JSON, CSV, PNG chart); default: reports/ in the data "
            "folder.",
        ),
    ] = None,
    data: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare a site's day with the insurance platform (3201/3202) and the HIS: every
    payment or refund on one side only and every differing amount becomes a report row and an
    alert. Exit 0 when everything agrees, 1 when there are differences."""
    from facepay.adapters.charts import write_report_files  # noqa: PLC0415
    from facepay.adapters.fhir.his_day import read_his_day  # noqa: PLC0415
    from facepay.adapters.nhsa.platform import NhsaPlatform  # noqa: PLC0415
    from facepay.adapters.nhsa.reconciliation import NhsaStatement  # noqa: PLC0415
    from facepay.bootstrap import build_settlement_platform, open_installation  # noqa: PLC0415
    from facepay.services.reconciliation import reconcile_day  # noqa: PLC0415

    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"--date {day!r}: a day as YYYY-MM-DD", code="bad_date") from None
    settings = settings_for(data)
    storage = open_installation(settings)
    his_entries = read_his_day(his) if his is not None else None
    statement = None
    if settings.settlement_platform == "nhsa":
        platform = build_settlement_platform(settings, uow=storage.uow, clock=storage.clock)
        assert isinstance(platform, NhsaPlatform)
        statement = NhsaStatement(platform)
    report, added = reconcile_day(
        storage,
        hospital_id=site,
        day=when,
        his=his_entries,
        statement=statement,
        actor="facepay-reconcile",
    )
    folder = out or settings.data_dir / "reports"
    files = write_report_files(report, folder, stem=f"reconcile-{site}-{when.isoformat()}")
    if as_json:
        body = {**report.as_json(), "new_alerts": added, "files": [str(p) for p in files]}
        typer.echo(json.dumps(body, indent=2, sort_keys=True))
    else:
        _print(report_json=report.as_json(), added=added, files=files)
    if report.differences:
        raise typer.Exit(code=1)  # the command ran and its answer is "no" (an operator's
        # mistake is exit 2, from OperatorErrors)


def _print(*, report_json: dict[str, object], added: int, files: list[Path]) -> None:
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"reconciliation of {report_json['hospital_id']} on {report_json['date']} "
        f"(run {datetime.now().astimezone():%Y-%m-%d %H:%M})",
        markup=False,
    )
    for comparison in report_json["comparisons"]:  # type: ignore[attr-defined]
        facepay, other = comparison["facepay"], comparison["other"]
        paid = facepay["payment"]["count"], other["payment"]["count"]
        verdict = (
            "agrees" if comparison["agrees"] else f"{len(comparison['differences'])} difference(s)"
        )
        console.print(
            f"  against the {comparison['side']}: facepay {paid[0]} payment(s), "
            f"the {comparison['side']} {paid[1]}: {verdict}",
            markup=False,
        )
        for d in comparison["differences"]:
            amounts = [
                f"{who} {fen_to_yuan_str(d[f'{who}_fen'])}"
                for who in ("facepay", "other")
                if d[f"{who}_fen"] is not None
            ]
            field = f" {d['field']}" if d["field"] else ""
            console.print(
                f"    {d['kind']}: {d['entry']} {d['key']}{field} ({', '.join(amounts)})",
                markup=False,
            )
    for side, why in report_json["skipped"].items():  # type: ignore[attr-defined]
        console.print(f"  not compared ({side}): {why}", markup=False)
    console.print(
        f"  {added} new alert(s); report: {', '.join(str(p) for p in files)}", markup=False
    )
