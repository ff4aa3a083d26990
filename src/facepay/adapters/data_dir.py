"""The data folder: private to the service account.

It holds names, ID numbers, phones (the SQLite file), sealed templates and the key that opens
them, so it is created 0700 and every file in it 0600 (SQLite gives its -wal and -shm files the
mode of the database file, which is created here before SQLite opens it). Outside the dev
environment a folder that other users can read, write or enter is refused: one sentence saying
how to fix it, never a silent start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from facepay.shared.errors import ConfigurationError

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def prepare_data_dir(folder: Path, *, strict: bool) -> Path:
    """Create `folder` 0700 if missing; refuse (`strict`) or tighten one others can use."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=FOLDER_MODE)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened
        return folder
    if not folder.is_dir():
        raise ConfigurationError(f"the data folder {folder} is not a folder")
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode & 0o007:
        if strict:
            raise ConfigurationError(
                f"the data folder {folder} is open to other users (mode {mode:o}); "
                f"run `chmod 700 {folder}` (it holds personal data and template keys)"
            )
        os.chmod(folder, mode & ~0o077)
    return folder


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists; an existing one is made 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, FILE_MODE)
        return
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
