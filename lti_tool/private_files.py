"""Files holding secrets or learner data are private from the moment they exist.

`chmod` after writing leaves a window in which the file is world-readable (the default umask
gives 0644); creating with the mode in `os.open` does not. Folders the tool creates are 0700.
"""

from __future__ import annotations

import os
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) owner-only; an existing folder is left as it is."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def create_private(path: Path, text: str = "") -> bool:
    """Create `path` with mode 0600 and `text`; False (and nothing written) if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def prepare_sqlite(database_url: str) -> None:
    """Before SQLite first opens a database file: its folder 0700 and an empty file 0600 (SQLite
    takes an empty file as a new database and gives its -wal and -shm files the same mode)."""
    if not database_url.startswith(SQLITE_PREFIX) or database_url.endswith(":memory:"):
        return
    path = Path(database_url[len(SQLITE_PREFIX):])
    private_dir(path.parent)
    create_private(path)
