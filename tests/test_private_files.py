"""Recordings, transcripts, memos and backups are readable by their owner only, whatever the umask:
no other account on a shared computer can read a session."""

from __future__ import annotations

import logging
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from insightcap.config import Settings
from insightcap.memo.export import write_memo_file, write_session_memos
from insightcap.storage import repository as repo
from insightcap.storage.backup import backup, restore
from insightcap.storage.db import session_scope
from insightcap.storage.folder_lock import working


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default, under which new files are readable by everyone: the code must not rely on
    the environment's being stricter."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _a_session_with_a_memo(settings: Settings) -> str:
    with session_scope(settings) as db:
        session_id = repo.create_session(db, session_id=repo.new_id(), title="Circle", source_kind="media",
                                         original_filename="a.wav", stored_path="media/x/a.wav").id
        repo.add_memo_version(db, session_id, "# Circle\n\nWhat was said in the circle.\n")
    return session_id


def test_a_new_data_folder_and_its_database_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "new" / "data")
    _a_session_with_a_memo(settings)

    assert _mode(settings.data_dir) == 0o700
    for name in ("insightcap.db", "insightcap.db-wal", "insightcap.db-shm"):
        assert _mode(settings.data_dir / name) == 0o600, name


def test_a_job_or_the_server_makes_the_data_folder_private_too(tmp_path: Path) -> None:
    with working(tmp_path / "data"):
        assert _mode(tmp_path / "data") == 0o700


def test_a_data_folder_an_earlier_version_left_readable_is_made_private_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING, logger="insightcap.config"):
        settings.ensure_dirs()
        settings.ensure_dirs()

    assert _mode(settings.data_dir) == 0o700
    assert [record.getMessage() for record in caplog.records] == [
        f"{settings.data_dir} was readable by other accounts on this computer; it is now private to you."
    ]


def test_a_readable_data_folder_that_cannot_be_changed_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(mode=0o755)

    def read_only(self: Path, mode: int) -> None:
        raise OSError(30, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "chmod", read_only)
    with caplog.at_level(logging.WARNING, logger="insightcap.config"):
        _a_session_with_a_memo(settings)
        _a_session_with_a_memo(settings)

    assert _mode(settings.data_dir) == 0o755
    refusal = f"{settings.data_dir} is readable by other accounts on this computer and could not be made private"
    assert [record.getMessage() for record in caplog.records] == [f"{refusal} (Read-only file system)."]


def test_a_backup_is_private_from_its_first_byte_and_restores_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    _a_session_with_a_memo(settings)
    media = settings.media_dir / "x" / "a.wav"
    media.parent.mkdir(parents=True)
    media.write_bytes(b"RIFF")
    modes_while_writing: list[int] = []

    def while_writing(fraction: float, message: str = "") -> None:
        modes_while_writing.extend(_mode(path) for path in tmp_path.glob("backups/.insightcap-backup-*/archive.partial"))

    archive = backup(settings, tmp_path / "backups", progress=while_writing).archive

    assert modes_while_writing and set(modes_while_writing) == {0o600}
    assert _mode(archive) == 0o600
    with tarfile.open(archive) as tar:
        assert {member.mode for member in tar} == {0o600}

    restored = Settings(data_dir=tmp_path / "restored")
    restore(restored, archive)
    assert _mode(restored.data_dir) == 0o700
    assert {_mode(path) for path in restored.data_dir.rglob("*") if path.is_file()} == {0o600}


def test_memos_exported_into_the_data_folder_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    session_id = _a_session_with_a_memo(settings)
    stale = settings.exports_dir(session_id) / "memo.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("written readable by an earlier version")

    written = write_session_memos(settings, session_id)

    assert [path.name for path in written] == ["memo.md", "memo.html"]
    assert all(_mode(path) == 0o600 for path in written)
    assert "What was said in the circle." in written[0].read_text()


def test_a_memo_file_the_user_puts_outside_the_data_folder_is_made_as_any_new_file_there(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    outside = tmp_path / "shared with the program" / "memo.md"

    write_memo_file(settings, outside, b"# Circle\n")

    assert outside.read_bytes() == b"# Circle\n"
    assert _mode(outside) == 0o644
