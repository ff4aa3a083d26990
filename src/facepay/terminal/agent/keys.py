"""The terminal's two keys: Ed25519 to sign (`--key`, as `POST /v1/terminals` returned
it) and X25519 to open the offline library sealed to it (made here on first start, 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from facepay.shared.errors import ConfigurationError, InvalidInput
from facepay.terminal.signing import private_key_from_pem

SEALING_KEY_FILE = "sealing.key"


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The terminal's Ed25519 key from a PEM file only its owner can read."""
    if not path.is_file():
        raise ConfigurationError(f"no such key file: {path}", code="terminal_key_bad")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise ConfigurationError(
            f"the key file {path} is readable by others: run `chmod 600 {path}`",
            code="terminal_key_bad",
        )
    try:
        return private_key_from_pem(path.read_bytes())
    except (OSError, InvalidInput):
        raise ConfigurationError(
            f"{path} is not an Ed25519 private key in PEM", code="terminal_key_bad"
        ) from None


def load_sealing_key(folder: Path) -> X25519PrivateKey:
    """The X25519 key the library is sealed to: read from the data folder, or made there
    (0600, raw 32 bytes) on first start. A new key means a new registration with the server."""
    path = folder / SEALING_KEY_FILE
    if path.exists():
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise ConfigurationError(
                f"{path} is readable by others: run `chmod 600 {path}`", code="terminal_key_bad"
            )
        data = path.read_bytes()
        if len(data) != 32:
            raise ConfigurationError(
                f"{path} is not a sealing key (32 bytes)", code="terminal_key_bad"
            )
        return X25519PrivateKey.from_private_bytes(data)
    key = X25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    # Written aside and renamed into place: a crash never leaves a short key file.
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    folder_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)
    return key
