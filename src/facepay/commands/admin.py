"""`facepay admin init`: the platform operator's login and, optionally, the first hospital with
its admin, straight into the database; `facepay admin check`: the stored face templates.

Everything after that goes through the API: the platform operator logs in and registers further
hospitals and the insured persons; each hospital's admin registers its terminals and staff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from facepay.access.passwords import PasswordHashing
from facepay.adapters.checkpoint_key import (
    checkpoint_key_path,
    load_or_create_checkpoint_key,
    public_key_b64,
)
from facepay.bootstrap import build_storage, build_template_sealer, open_installation
from facepay.commands.serve import DataDir, settings_for
from facepay.services import admin as admin_service

app = typer.Typer(help="Set up a facepay installation.", no_args_is_help=True)
ACTOR = "cli:admin-init"


def _password(variable: str, prompt: str) -> str:
    return os.environ.get(variable) or typer.prompt(
        prompt, hide_input=True, confirmation_prompt=True
    )


@app.command("init")
def init(
    operator: Annotated[
        str, typer.Option(help="User name of the platform operator (the bureau's staff).")
    ] = "operator",
    hospital: Annotated[
        str | None, typer.Option(help="Name of a first hospital to register with its admin.")
    ] = None,
    username: Annotated[
        str, typer.Option("--hospital-admin", "--username", help="User name of its admin.")
    ] = "admin",
    region: Annotated[
        str | None,
        typer.Option(help="Name of the region (the insurance bureau running the platform)."),
    ] = None,
    data: DataDir = None,
) -> None:
    """Create the platform operator (password: FACEPAY_OPERATOR_PASSWORD or a prompt) and, with
    --hospital, a first hospital and its admin (FACEPAY_ADMIN_PASSWORD or a prompt). The
    installation is one region (named by --region); a single hospital is a region of one site."""
    console = Console(highlight=False)
    passwords = PasswordHashing()
    settings = settings_for(data)
    ctx = build_storage(settings)
    admin_service.require_uninitialised(ctx=ctx, where=str(settings.data_dir))
    # Hash (and so check) every password before any account is written.
    operator_hash = passwords.hash(
        _password("FACEPAY_OPERATOR_PASSWORD", "platform operator password (12+ characters)")
    )
    admin_hash = (
        passwords.hash(_password("FACEPAY_ADMIN_PASSWORD", "hospital admin password"))
        if hospital is not None
        else None
    )
    first = (hospital, username, admin_hash) if hospital and admin_hash else None
    platform, created = admin_service.initialise_platform(
        ctx=ctx,
        actor=ACTOR,
        operator_username=operator,
        operator_password_hash=operator_hash,
        hospital=first,
        template_key_id=build_template_sealer(settings).key_id,
        region_name=region,
    )
    console.print(f"platform operator {platform.username} ({platform.id})")
    checkpoint_key = load_or_create_checkpoint_key(checkpoint_key_path(settings.data_dir))
    console.print(
        f"audit checkpoint key {checkpoint_key_path(settings.data_dir).name}: public key "
        f"{public_key_b64(checkpoint_key)} (keep a copy away from this server)"
    )
    if created is not None:
        hospital_record, user = created
        console.print(
            f"hospital {hospital_record.id} ({hospital_record.name}); "
            f"admin {user.username} ({user.id})"
        )


@app.command("check")
def check(
    data: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Open every stored face template with the key: exit 0 if all open, 1 if some are
    quarantined (listed: the patient must enrol again), 2 if the key is not this database's."""
    from facepay.services.template_integrity import check_templates  # noqa: PLC0415
    from facepay.vision.dlib_engine import MODEL_VERSION  # noqa: PLC0415 - dlib loads slowly

    settings = settings_for(data)
    report = check_templates(
        ctx=open_installation(settings),
        sealer=build_template_sealer(settings),
        model_version=MODEL_VERSION,
    )
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), sort_keys=True))
    else:
        console = Console(highlight=False)
        console.print(
            f"{report.checked} face template(s), key {report.key_id}: "
            f"{len(report.quarantined)} quarantined"
        )
        if report.quarantined:
            table = Table("template", "hospital", "person", "since", "reason")
            for q in report.quarantined:
                table.add_row(q.template_id, q.hospital_id, q.person_id, q.since, q.reason)
            console.print(table)
    raise typer.Exit(code=1 if report.quarantined else 0)
