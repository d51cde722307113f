"""Backing up a data directory into one archive file, and restoring it, without ever losing data.

A backup is taken while the server may be running: the database is copied with SQLite's online
backup API (one consistent snapshot, writers are not stopped), and only the stored files that this
snapshot refers to are added, so the archive is consistent with itself even if sessions were added
or forgotten meanwhile. Derived data (the vector index, exported memos, logs, model caches) is left
out: it is rebuilt from the database.

A restore checks every checksum before touching anything, unpacks beside the data directory and then
swaps directories with renames; the directory it replaces is moved aside, never deleted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from alembic.config import Config
from alembic.script import ScriptDirectory
from pydantic import BaseModel, ValidationError

from insightcap import __version__
from insightcap.config import PRIVATE_FILE_MODE, Settings
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.storage.db import MIGRATIONS_DIR, get_engine
from insightcap.storage.files import program_template_files
from insightcap.storage.folder_lock import FolderBusy, sole_user

log = logging.getLogger(__name__)

FORMAT = "insightcap-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "insightcap.db"
ARCHIVE_SUFFIX = ".tar.gz"
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup could not be made or restored; the message tells the user what to do next."""


class BackupManifest(BaseModel):
    """What an archive holds, written last into it: restore trusts nothing the manifest does not vouch for."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    insightcap_version: str
    schema_revision: str
    created_at: datetime
    sessions: int
    memo_versions: int
    # Archive member name (a path relative to the data directory) → sha256 of its bytes.
    members: dict[str, str]
    # Files the snapshot refers to that were already gone from the data directory.
    missing_files: list[str] = []


@dataclass(frozen=True)
class BackupReport:
    archive: Path
    sessions: int
    memo_versions: int
    files: int
    bytes: int
    missing_files: list[str]


@dataclass(frozen=True)
class RestoreReport:
    data_dir: Path
    sessions: int
    files: int
    backup_created_at: datetime
    # Where the data directory that was replaced now lives (None when there was none).
    previous_data_dir: Path | None


# --- backup -------------------------------------------------------------------------------------


def backup(settings: Settings, destination: Path, progress: ProgressCallback | None = None) -> BackupReport:
    """Write a consistent backup of the data directory to `destination` (a folder, made if missing, to
    put a dated file in; or a new file ending in .tar.gz). The archive appears complete or not at all."""
    progress = progress or ignore_progress
    live = settings.data_dir / DATABASE
    if not live.is_file() or not live.stat().st_size:
        raise BackupError(f"There is nothing to back up: {settings.data_dir} holds no insightcap database.")
    archive = _archive_path(destination)
    work = Path(tempfile.mkdtemp(dir=archive.parent, prefix=".insightcap-backup-"))
    try:
        snapshot = work / DATABASE
        _snapshot_database(live, snapshot)
        stored, sessions, memo_versions, revision = _read_snapshot(snapshot)
        stored += program_template_files(settings.data_dir)
        progress(0.1, f"database copied ({sessions} sessions)")
        members: dict[str, str] = {}
        missing: list[str] = []
        partial = work / "archive.partial"
        # Private from its first byte: a backup holds every session. Level 1: recordings are already
        # compressed; the database shrinks well even at the fastest level.
        with (open(partial, "xb", opener=_private) as raw,
              tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar):
            members[DATABASE] = _add_file(tar, snapshot, DATABASE)
            for done, relative in enumerate(stored, start=1):
                try:
                    members[relative] = _add_file(tar, settings.data_dir / relative, relative)
                except FileNotFoundError:
                    missing.append(relative)
                progress(0.1 + 0.85 * done / len(stored), f"{done}/{len(stored)} files")
            manifest = BackupManifest(
                insightcap_version=__version__, schema_revision=revision, created_at=datetime.now(UTC),
                sessions=sessions, memo_versions=memo_versions, members=members, missing_files=missing,
            )
            _add_bytes(tar, MANIFEST, manifest.model_dump_json(indent=2).encode())
        _fsync(partial)
        os.replace(partial, archive)
        _fsync(archive.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(1.0, f"backup written to {archive}")
    return BackupReport(
        archive=archive, sessions=sessions, memo_versions=memo_versions, files=len(members) - 1,
        bytes=archive.stat().st_size, missing_files=missing,
    )


def _archive_path(destination: Path) -> Path:
    """A name ending in .tar.gz is the archive itself; anything else is a folder of backups, made if
    missing, that gets a new dated file each time (so a nightly `insightcap backup DIR` keeps working)."""
    destination = destination.expanduser().resolve()
    if destination.name.endswith(ARCHIVE_SUFFIX):
        if destination.exists():
            raise BackupError(f"{destination} already exists. Choose another file name, or give a folder to write "
                              "dated backups into.")
        destination.parent.mkdir(parents=True, exist_ok=True)
        return destination
    if destination.exists() and not destination.is_dir():
        raise BackupError(f"{destination} is a file, not a folder. Give a folder to write dated backups into, "
                          f"or a new file name ending in {ARCHIVE_SUFFIX}.")
    destination.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    archive, attempt = destination / f"insightcap-backup-{stamp}{ARCHIVE_SUFFIX}", 1
    while archive.exists():  # two backups within one second must not overwrite each other
        attempt += 1
        archive = destination / f"insightcap-backup-{stamp}-{attempt}{ARCHIVE_SUFFIX}"
    return archive


def _snapshot_database(live: Path, target: Path) -> None:
    """One consistent copy of the live database; concurrent writers are not blocked (WAL)."""
    with closing(sqlite3.connect(live, timeout=30)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)  # in one step: the copy is the database as of a single moment
        # A self-contained file: no write-ahead log has to travel beside it.
        copy.execute("PRAGMA journal_mode=DELETE")
    _check_database(target, f"The database in {live.parent} is damaged: keep your last good backup and restore it.")


def _read_snapshot(snapshot: Path) -> tuple[list[str], int, int, str]:
    """The stored files the snapshot refers to, its session and memo counts, and its schema revision."""
    with closing(sqlite3.connect(snapshot)) as db:
        stored = [row[0] for row in db.execute("SELECT DISTINCT stored_path FROM sessions ORDER BY stored_path")]
        sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
        memo_versions = db.execute("SELECT count(*) FROM memo_versions").fetchone()[0]
        revision = db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    for relative in stored:
        if _unsafe(relative):
            raise BackupError(
                f"A session's file is recorded as {relative!r}, outside the data directory; "
                "move it under the data directory's media folder, then back up again."
            )
    return stored, sessions, memo_versions, revision


class _HashingReader:
    """Hashes a file while tarfile copies it, so every member is read once."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.digest = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.digest.update(chunk)
        return chunk


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> str:
    # Once open, the file's bytes stay readable even if the session is forgotten meanwhile.
    with path.open("rb") as raw:
        stat = os.fstat(raw.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
        reader = _HashingReader(raw)
        tar.addfile(info, reader)
    return reader.digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    tar.addfile(info, io.BytesIO(data))


# --- restore ------------------------------------------------------------------------------------


def restore(settings: Settings, archive: Path, *, force: bool = False) -> RestoreReport:
    """Replace the data directory with the backup in `archive`.

    Nothing changes unless the archive is complete and every checksum matches. A data directory that
    already holds sessions is replaced only with `force`, and then moved aside, never deleted. It is
    refused while the server or another insightcap process works on the data directory: what they
    wrote afterwards would land in the moved-aside copy. Afterwards the search index has to be
    rebuilt (`insightcap.search.indexing.rebuild_indexes`): it is derived data, not in the backup.
    """
    archive = archive.expanduser().resolve()
    if not archive.is_file():
        raise BackupError(f"There is no backup file at {archive}.")
    data_dir = settings.data_dir.expanduser().resolve()
    try:
        with sole_user(data_dir):
            manifest, previous = _replace(settings, archive, data_dir, force)
    except FolderBusy as busy:
        raise BackupError(f"{busy} Then restore again. Nothing was changed.") from None
    return RestoreReport(
        data_dir=data_dir, sessions=manifest.sessions, files=len(manifest.members) - 1,
        backup_created_at=manifest.created_at, previous_data_dir=previous,
    )


def _replace(settings: Settings, archive: Path, data_dir: Path, force: bool) -> tuple[BackupManifest, Path | None]:
    """Unpack and verify the archive beside `data_dir`, then swap it in; returns its manifest and
    where the replaced directory was moved (None when there was none)."""
    existing = _existing_sessions(data_dir / DATABASE)
    if existing and not force:
        raise BackupError(
            f"{data_dir} already holds {existing} sessions. Restoring would replace them: run the restore "
            "again with --force to move the current data aside (it is kept, not deleted) and restore the backup."
        )
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=f".{data_dir.name}.restoring-"))
    try:
        manifest = _unpack_verified(archive, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _release_database(settings)
    return manifest, _swap_in(staging, data_dir)


def _existing_sessions(database: Path) -> int:
    if not database.exists() or not database.stat().st_size:  # an empty file is a database not yet made
        return 0
    try:
        with closing(sqlite3.connect(database, timeout=30)) as db:
            return db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise BackupError(
            f"The database already in {database.parent} could not be read ({error}). Move that folder away "
            "yourself (or point INSIGHTCAP_DATA_DIR at a new folder), then restore again."
        ) from None


def _unpack_verified(archive: Path, staging: Path) -> BackupManifest:
    """Unpack into `staging`, hashing as it goes; raise BackupError unless the manifest vouches for
    exactly these files with these checksums."""
    digests: dict[str, str] = {}
    manifest_text = None
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = _member_name(member, archive)
                if name == MANIFEST:
                    manifest_text = tar.extractfile(member).read()
                else:
                    digests[name] = _extract(tar.extractfile(member), staging / name)
    # A file twice, or a file where a folder should be: only a malformed archive does that.
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, FileExistsError, NotADirectoryError) as error:
        # The archive library's own words ("method gz: ReadError('not a gzip file')…") mean nothing to
        # the user; they are in the log for whoever needs them.
        log.info("could not read %s as a backup: %s", archive, error)
        raise BackupError(f"{archive} is not an insightcap backup, or it is damaged (it cannot be read as one). "
                          f"{_USE_ANOTHER}") from None
    manifest = _parse_manifest(manifest_text, archive)
    unlisted = sorted(set(digests) - set(manifest.members))
    absent = sorted(set(manifest.members) - set(digests))
    damaged = sorted(name for name in set(digests) & set(manifest.members) if digests[name] != manifest.members[name])
    problems = [f"{name} does not match its checksum" for name in damaged]
    problems += [f"{name} is missing" for name in absent]
    problems += [f"{name} is not listed in its manifest" for name in unlisted]
    if DATABASE not in manifest.members:
        problems.append("it holds no database")
    if problems:
        raise BackupError(f"{archive} is damaged or was altered: {'; '.join(problems[:5])}. {_USE_ANOTHER}")
    _check_database(staging / DATABASE, _USE_ANOTHER)
    for path in (*staging.rglob("*"), staging):
        if path.is_dir():
            _fsync(path)
    return manifest


_USE_ANOTHER = "Nothing was changed; restore from another backup."


def _member_name(member: tarfile.TarInfo, archive: Path) -> str:
    """Only plain files at safe relative paths: a crafted archive cannot write outside the restore."""
    if not member.isfile() or _unsafe(member.name):
        raise BackupError(f"{archive} contains {member.name!r}, which no insightcap backup holds. {_USE_ANOTHER}")
    return member.name


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name)
    return path.is_absolute() or not path.parts or ".." in path.parts


def _extract(source: BinaryIO, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # Private like the originals (store_original writes them 0600): recordings of people talking.
    with open(target, "xb", opener=_private) as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _private(path: str, flags: int) -> int:
    """Open a new file readable by its owner only, whatever the umask."""
    return os.open(path, flags, PRIVATE_FILE_MODE)


def _parse_manifest(text: bytes | None, archive: Path) -> BackupManifest:
    try:
        manifest = BackupManifest.model_validate_json(text or b"")
    except ValidationError:
        raise BackupError(f"{archive} is not an insightcap backup (it has no valid manifest). {_USE_ANOTHER}") from None
    if manifest.format != FORMAT:
        raise BackupError(f"{archive} is not an insightcap backup (format {manifest.format!r}). {_USE_ANOTHER}")
    if manifest.format_version > FORMAT_VERSION or manifest.schema_revision not in _known_revisions():
        raise BackupError(
            f"{archive} was made by a newer insightcap ({manifest.insightcap_version}). "
            "Upgrade insightcap, then restore it again. Nothing was changed."
        )
    return manifest


def _known_revisions() -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def _check_database(path: Path, advice: str) -> None:
    with closing(sqlite3.connect(path)) as db:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"The database copy failed SQLite's integrity check ({result}). {advice}")


def _release_database(settings: Settings) -> None:
    """Close this process's pooled connections before the database file is moved aside: SQLite knows
    its files by name, so an open connection could later write to the restored database's log.
    The next engine is created afresh, which also migrates an older backup's schema."""
    if (settings.data_dir / DATABASE).exists():
        get_engine(settings.database_url).dispose()
    get_engine.cache_clear()


def _swap_in(staging: Path, data_dir: Path) -> Path | None:
    """Put the fully written `staging` at `data_dir`; the old one is renamed beside it. Between the
    two renames (an instant) a crash leaves both complete directories on disk, nothing half-written."""
    previous = None
    if data_dir.exists():
        previous = data_dir.with_name(f"{data_dir.name}.before-restore-{datetime.now():%Y%m%d-%H%M%S-%f}")
        os.rename(data_dir, previous)
    os.rename(staging, data_dir)
    _fsync(data_dir.parent)
    return previous


def _fsync(path: Path) -> None:
    """Flush a file or a directory entry to disk, so a power cut cannot undo a rename that succeeded."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
