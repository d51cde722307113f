"""Which insightcap processes use a data folder, told by advisory locks (flock).

The OS drops a process's locks when it ends, however it ends, so a crash or a kill never leaves a
stale lock behind. Two locks:

- the folder itself: every process working on it (the server for its whole life, a job run from the
  command line while it runs) holds it shared; a restore takes it exclusively, so the folder is never
  swapped away under one of them (its rows would land in the moved-aside database).
- `server.lock` in it, which names the server: `insightcap serve` holds it exclusively for its whole
  life. Jobs queued in the folder are that server's to run, and a second server is refused.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from insightcap.config import make_private_folder

SERVER_LOCK = "server.lock"

# The folders whose server is this process: flock locks belong to an open file, so this process
# would otherwise take its own lock for another server's.
_served_here: set[Path] = set()


class FolderBusy(Exception):
    """Another process holds the folder; the message says which, and what to do."""


def _locked(descriptor: int, mode: int) -> bool:
    try:
        fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def _folder_lock(data_dir: Path, mode: int, refusal: Callable[[], str]) -> Iterator[None]:
    descriptor = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if not _locked(descriptor, mode):
            raise FolderBusy(refusal())
        yield
    finally:
        os.close(descriptor)  # releases the lock


@contextmanager
def working(data_dir: Path) -> Iterator[None]:
    """Mark the folder in use for the block. Raises FolderBusy while a restore is replacing it."""
    make_private_folder(data_dir)

    def refusal() -> str:
        return f"{data_dir} is being restored from a backup right now. Run this again once the restore has finished."

    with _folder_lock(data_dir, fcntl.LOCK_SH, refusal):
        yield


@contextmanager
def serving(data_dir: Path) -> Iterator[None]:
    """Hold the folder as its server for the block (the server's life). Raises FolderBusy if another
    server runs on it, or a restore is replacing it."""
    make_private_folder(data_dir)
    key = data_dir.resolve()
    with open(data_dir / SERVER_LOCK, "a+") as lock:
        if not _locked(lock.fileno(), fcntl.LOCK_EX):
            raise FolderBusy(f"insightcap serve is already running on {data_dir} ({_holder(lock)}). "
                             "Use that server, or stop it first (Ctrl+C where it runs).")
        lock.truncate(0)
        lock.write(f"{socket.gethostname()}:{os.getpid()}")
        lock.flush()
        with working(data_dir):
            _served_here.add(key)
            try:
                yield
            finally:
                _served_here.discard(key)


def other_server(data_dir: Path) -> str | None:
    """The "host:pid" of the server running on the folder, unless there is none or it is this process."""
    path = data_dir / SERVER_LOCK
    if data_dir.resolve() in _served_here or not path.exists():
        return None
    with open(path) as lock:
        if _locked(lock.fileno(), fcntl.LOCK_SH):
            return None  # nobody serves; closing the file gives the lock back at once
        return _holder(lock)


def _holder(lock: TextIO) -> str:
    lock.seek(0)
    return lock.read().strip() or "process id not written yet"


@contextmanager
def sole_user(data_dir: Path) -> Iterator[None]:
    """Hold the folder alone for the block (a folder that does not exist yet needs no lock).
    Raises FolderBusy, naming the server if one runs, while another process works on it."""
    if not data_dir.exists():
        yield
        return

    def refusal() -> str:
        # Looked up only now: checking for a server takes its lock for an instant.
        if server := other_server(data_dir):
            return f"insightcap serve is running on {data_dir} ({server}). Stop it first (Ctrl+C where it runs)."
        return (f"Another insightcap command is working in {data_dir} (processing a recording, or restoring a "
                "backup). Wait until it has finished (`insightcap sessions` shows what is processing).")

    with _folder_lock(data_dir, fcntl.LOCK_EX, refusal):
        yield
