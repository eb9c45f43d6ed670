"""Files and folders that only their owner may read: what localfaas keeps holds the records and
events it was given (account requests with password hashes, addresses, payments).

Files are 0600 and folders 0700 whatever the umask: os.open and mkdir apply the umask to the mode
they are given, which can only take bits away, so the mode is set again once the file or folder
exists. A folder that was there before is left as its owner made it (it may be the user's own, a
`--log-dir .` say); the folders and files localfaas makes inside it are owner-only.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

__all__ = ["DIRECTORY_MODE", "FILE_MODE", "make_directory", "open_file", "write_atomically", "write_text"]

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def make_directory(path: str | Path) -> Path:
    """`path` and any missing parent, each one this makes 0700; an existing one is left alone."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:  # made meanwhile by another process sharing the folder
            continue
        os.chmod(folder, DIRECTORY_MODE)
    return path


def open_file(path: str | Path, flags: int) -> int:
    """os.open(path, flags | O_CREAT) with the file made 0600, also if an older run made it wider.
    Not a regular file (/dev/stdout, a pipe the user named) keeps its mode: it is not ours."""
    fd = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_atomically(path: str | Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace `path` with `data`, 0600, so that readers see the old or the new content, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = open_file(tmp, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        if fsync:
            out.flush()
            os.fsync(out.fileno())
    os.replace(tmp, path)


def write_text(path: str | Path, text: str) -> None:
    """A report the user named (`--json`), written 0600; in place, since the path may be a device."""
    with os.fdopen(open_file(path, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as out:
        out.write(text)
