"""`facepay audit verify` and `facepay audit checkpoint`.

`verify` re-hashes every audit chain, checks every signed checkpoint and that the heads each one
signed are still there, and names the first bad entry of each chain. `checkpoint` signs the heads
of all chains now. Both read the database only: no face model, gallery or template key is loaded,
so a damaged template or a wrong key never makes the audit look broken.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facepay.access.keys import (
    Ed25519CheckpointSigner,
    Ed25519CheckpointVerifier,
    key_fingerprint,
    public_key_from_text,
)
from facepay.adapters.checkpoint_key import (
    checkpoint_key_path,
    load_or_create_checkpoint_key,
    public_key_raw,
    read_checkpoint_key,
)
from facepay.bootstrap import open_installation
from facepay.commands.serve import DataDir, settings_for
from facepay.services.audit import AuditVerification, verify_audit, write_checkpoint
from facepay.supervision.audit_checkpoint import Checkpoint, CheckpointProblem, heads_json

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

PublicKey = Annotated[
    str | None,
    typer.Option(
        "--public-key",
        help="The checkpoint key's public half (base64 or PEM, or a file holding it); "
        "default: derived from audit-checkpoint.key in the data folder.",
    ),
]


def verify_database(data: Path | None, public_key: str | None = None) -> AuditVerification:
    """Verify every chain and checkpoint stored in the configured database."""
    settings = settings_for(data)
    ctx = open_installation(settings)
    raw = _public_key(settings.data_dir, public_key)
    if raw is None:
        report = verify_audit(ctx=ctx)
        with ctx.uow() as uow:
            stored = uow.audit.last_checkpoint()
        if stored is None:
            return report
        # Checkpoints that cannot be checked prove nothing: say so rather than pass.
        missing = CheckpointProblem(
            1, "no_checkpoint_key", "no audit-checkpoint.key and no --public-key to check with"
        )
        return dataclasses.replace(report, ok=False, checkpoint_problem=missing)
    return verify_audit(
        ctx=ctx, verifier=Ed25519CheckpointVerifier(raw), key_id=key_fingerprint(raw)
    )


def _public_key(data_dir: Path, given: str | None) -> bytes | None:
    """The raw public key to check checkpoints with; None when there is no key at all (then
    checkpoints, if any, are reported as unverifiable)."""
    if given is not None:
        path = Path(given)
        return public_key_from_text(path.read_text() if path.is_file() else given)
    try:
        return public_key_raw(read_checkpoint_key(checkpoint_key_path(data_dir)))
    except FileNotFoundError:
        return None


@app.command("verify")
def verify(
    data: DataDir = None,
    public_key: PublicKey = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Exit 0 if every chain and checkpoint is sound, 1 naming the first bad entry of each
    broken chain and the first bad checkpoint."""
    report = verify_database(data, public_key)
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), sort_keys=True))
        raise typer.Exit(code=0 if report.ok else 1)
    console = Console(highlight=False)
    for chain in report.broken:
        console.print(
            f"[red]audit chain {chain.chain} broken[/red] at entry {chain.first_bad_seq}: "
            f"{chain.problem} ({chain.detail})"
        )
    if (bad := report.checkpoint_problem) is not None:
        console.print(
            f"[red]audit checkpoint {bad.seq} bad[/red]: {bad.problem} ({bad.detail}); "
            "later checkpoints were not used"
        )
    if report.ok:
        console.print(
            f"[green]audit chains intact[/green]: {report.entries_checked} entries in "
            f"{len(report.chains)} chain(s), {report.checkpoints_checked} signed checkpoint(s)"
        )
    raise typer.Exit(code=0 if report.ok else 1)


@app.command("checkpoint")
def checkpoint(
    data: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checkpoint as JSON.")] = False,
) -> None:
    """Sign the heads of every audit chain as they are now (the key, audit-checkpoint.key in the
    data folder, is made on first use). Keep the printed hash and key fingerprint elsewhere."""
    settings = settings_for(data)
    ctx = open_installation(settings)
    key = load_or_create_checkpoint_key(checkpoint_key_path(settings.data_dir))
    made = write_checkpoint(ctx=ctx, signer=Ed25519CheckpointSigner(key))
    if as_json:
        typer.echo(json.dumps(checkpoint_document(made), sort_keys=True))
        return
    console = Console(highlight=False)
    console.print(
        f"audit checkpoint {made.seq}: {len(made.heads)} chain(s), hash {made.hash}, "
        f"key {made.key_id}"
    )


def checkpoint_document(made: Checkpoint) -> dict[str, object]:
    """A checkpoint as JSON, the form to send to whoever keeps copies."""
    return {
        "seq": made.seq,
        "at": made.at.isoformat(),
        "heads": json.loads(heads_json(made.heads)),
        "prev_hash": made.prev_hash,
        "hash": made.hash,
        "key_id": made.key_id,
        "signature": made.signature,
    }
