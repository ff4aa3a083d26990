"""The key that signs offline limits: `offline-signing.key` in the data folder.

An Ed25519 seed in a 0600 file made on first use, like the audit checkpoint key
(adapters.checkpoint_key). Terminals trust the public key they received with their first
offline package; every server of one installation is given the same file
(FACEPAY_OFFLINE_SIGNING_KEY_FILE) so that they all sign alike. Losing it means every terminal
refuses the next limits until it fetches a package again while online.
"""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from facepay.adapters.checkpoint_key import SEED_BYTES, create_seed_file, seed_file_problem
from facepay.shared.errors import ConfigurationError

OFFLINE_KEY_FILE = "offline-signing.key"


def load_or_create_offline_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the key at `path`, making it (0600, fsynced) when there is none yet."""
    create_seed_file(path)
    problem = seed_file_problem(path)
    if problem == "size":
        raise ConfigurationError(
            f"the offline signing key {path} must be a file of {SEED_BYTES} bytes; restore it "
            "from the backup",
            code="bad_offline_signing_key",
        )
    if problem == "mode":
        raise ConfigurationError(
            f"the offline signing key {path} is readable by other users "
            f"(mode {stat.S_IMODE(path.stat().st_mode):o}); run `chmod 600 {path}`",
            code="insecure_offline_signing_key",
        )
    return Ed25519PrivateKey.from_private_bytes(path.read_bytes())
