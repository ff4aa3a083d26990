"""The key that signs audit checkpoints: `audit-checkpoint.key` in the data folder.

32 bytes, the Ed25519 private key's seed, in a 0600 file made on first use (or by `facepay admin
init`) and never sent anywhere. What proves the checkpoints is its public key: `facepay audit
checkpoint` prints its fingerprint, and a copy of the public key kept away from the server (with
the bureau, on paper) lets anyone verify a copy of the database without this file. A key file
that other users can read, or of the wrong size, is refused in one sentence.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.shared.errors import ConfigurationError
from facepay.shared.files import fsync_folder

CHECKPOINT_KEY_FILE = "audit-checkpoint.key"
SEED_BYTES = 32


def checkpoint_key_path(data_dir: Path) -> Path:
    """Where the checkpoint key of the installation in `data_dir` lives."""
    return data_dir / CHECKPOINT_KEY_FILE


def load_or_create_checkpoint_key(path: Path) -> Ed25519PrivateKey:
    """Read the key at `path`, creating it (0600, fsynced) when there is none yet."""
    create_seed_file(path)
    return read_checkpoint_key(path)


def create_seed_file(path: Path) -> bool:
    """Make a 0600 file of a new Ed25519 seed at `path` (fsynced, with its folder) unless one
    exists; True when this call made it. Two processes racing here make one file (O_EXCL)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)
        seed = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        os.write(fd, seed)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_folder(path.parent)
    return True


def seed_file_problem(path: Path) -> str | None:
    """Why the seed file at `path` cannot be used (`size`: not a regular file of 32 bytes,
    `mode`: readable by other users), None when it can; `FileNotFoundError` if absent."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) or info.st_size != SEED_BYTES:
        return "size"
    if info.st_mode & 0o077:
        return "mode"
    return None


def read_checkpoint_key(path: Path) -> Ed25519PrivateKey:
    """Read the key at `path`; `FileNotFoundError` if there is none, ConfigurationError if it is
    not a private 32-byte file."""
    problem = seed_file_problem(path)
    if problem == "size":
        raise ConfigurationError(
            f"the audit checkpoint key {path} must be a file of {SEED_BYTES} bytes; "
            "restore it from the backup",
            code="bad_checkpoint_key",
        )
    if problem == "mode":
        raise ConfigurationError(
            f"the audit checkpoint key {path} is readable by other users "
            f"(mode {stat.S_IMODE(path.stat().st_mode):o}); run `chmod 600 {path}`",
            code="insecure_checkpoint_key",
        )
    return Ed25519PrivateKey.from_private_bytes(path.read_bytes())


def public_key_raw(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public key."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The public key as standard base64, the form `--public-key` takes."""
    return base64.b64encode(public_key_raw(key)).decode("ascii")
