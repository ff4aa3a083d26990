"""`facepay admin init`: the first hospital and its admin login, straight into the database.

Everything after that goes through the API (the admin logs in and registers terminals, staff,
insured persons and further hospitals).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from facepay.api.staff_auth import PasswordHashing
from facepay.bootstrap import build_services
from facepay.commands.serve import DataDir, settings_for
from facepay.services import admin as admin_service
from facepay.shared.errors import FacepayError

app = typer.Typer(help="Set up a facepay installation.", no_args_is_help=True)


@app.command("init")
def init(
    hospital: Annotated[str, typer.Option(help="Name of the first hospital.")],
    username: Annotated[str, typer.Option(help="User name of its administrator.")] = "admin",
    data: DataDir = None,
) -> None:
    """Create a hospital and its admin (password: FACEPAY_ADMIN_PASSWORD or a prompt)."""
    password = os.environ.get("FACEPAY_ADMIN_PASSWORD") or typer.prompt(
        "admin password (12+ characters)", hide_input=True, confirmation_prompt=True
    )
    console = Console(highlight=False)
    try:
        ctx = build_services(settings_for(data))
        created = admin_service.register_hospital(ctx=ctx, actor="cli:admin-init", name=hospital)
        user = admin_service.create_staff_user(
            ctx=ctx,
            actor="cli:admin-init",
            hospital_id=created.id,
            username=username,
            password_hash=PasswordHashing().hash(password),
            role="admin",
        )
    except FacepayError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(code=2) from None
    console.print(f"hospital {created.id} ({created.name}); admin {user.username} ({user.id})")
