"""Backups taken while the data keeps changing, and restores that check everything before changing anything."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from test_forget import PROGRAM, TRANSCRIPTS, UNIQUE_PHRASE, data_copy, imported  # noqa: F401 - shared fixtures

from insightcap.config import Settings
from insightcap.jobs.intake import submit_transcript
from insightcap.search.hybrid import search
from insightcap.search.indexing import rebuild_indexes
from insightcap.storage import repository as repo
from insightcap.storage.backup import BackupError, backup, restore
from insightcap.storage.db import session_scope


class MemoEditor(threading.Thread):
    """Keeps saving new versions of one session's memo, as a facilitator in the web app would."""

    def __init__(self, settings: Settings, session_id: str) -> None:
        super().__init__(daemon=True)
        self.settings, self.session_id = settings, session_id
        self.saved = threading.Semaphore(0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with session_scope(self.settings) as db:
                latest = repo.latest_memo(db, self.session_id)
                repo.save_memo_edit(db, self.session_id, f"edit {latest.version}", latest.version)
            self.saved.release()


def _memo_state(settings: Settings) -> dict[str, list[tuple[int, str]]]:
    with session_scope(settings) as db:
        return {
            record.id: [(row.version, row.markdown) for row in reversed(repo.memo_versions(db, record.id))]
            for record in repo.list_sessions(db)
        }


def _files(settings: Settings) -> dict[str, bytes]:
    return {str(path.relative_to(settings.data_dir)): path.read_bytes()
            for path in settings.media_dir.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_a_backup_taken_during_edits_restores_to_a_consistent_searchable_copy(data_copy, tmp_path: Path) -> None:
    settings, ids = data_copy
    edited = ids["zoom.vtt"]
    editor = MemoEditor(settings, edited)
    editor.start()
    added: list[str] = []

    def while_backing_up(fraction: float, message: str = "") -> None:
        """After the database snapshot: more edits are saved and a new session arrives."""
        if not added:
            assert editor.saved.acquire(timeout=30) and editor.saved.acquire(timeout=30)
            added.append(submit_transcript(TRANSCRIPTS / "captions.srt", settings, program=PROGRAM).session_id)

    # A program's own memo template is a facilitator's work too.
    template = settings.data_dir / "templates" / "circle" / "memo.md.j2"
    template.parent.mkdir(parents=True)
    template.write_text("{{ memo.title }}\n", encoding="utf-8")
    (tmp_path / "backups").mkdir()
    try:
        assert editor.saved.acquire(timeout=30)
        report = backup(settings, tmp_path / "backups", progress=while_backing_up)
    finally:
        editor.stop.set()
        editor.join()
    original_memos, original_files = _memo_state(settings), _files(settings)

    assert report.archive.parent == tmp_path / "backups" and report.archive.name.endswith(".tar.gz")
    assert [path.name for path in report.archive.parent.iterdir()] == [report.archive.name]  # no temporary left
    with tarfile.open(report.archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
        assert all(hashlib.sha256(tar.extractfile(name).read()).hexdigest() == digest
                   for name, digest in manifest["members"].items())
    assert set(manifest["members"]) == set(names) - {"manifest.json"}
    assert not any(name.startswith(("index/", "logs/", "exports/")) for name in names)
    assert manifest["sessions"] == report.sessions == 2 and report.files == 3 and not report.missing_files

    restored = Settings(data_dir=tmp_path / "restored", generator="none")
    result = restore(restored, report.archive)
    assert result.previous_data_dir is None and result.sessions == 2
    memos = _memo_state(restored)
    # The snapshot is one moment: the session added later is absent, and the edited memo has every
    # version up to some point (no gap, no torn version), which the live data still has too.
    assert set(memos) == set(ids.values()) and added[0] in original_memos
    versions = memos[edited]
    assert [version for version, _ in versions] == list(range(1, len(versions) + 1))
    assert 2 <= len(versions) < len(original_memos[edited])
    assert versions == original_memos[edited][: len(versions)]
    assert memos[ids["teams.vtt"]] == original_memos[ids["teams.vtt"]]
    assert _files(restored) == {name: data for name, data in original_files.items() if added[0] not in name}
    assert (restored.data_dir / "templates" / "circle" / "memo.md.j2").read_text(encoding="utf-8") == "{{ memo.title }}\n"

    rebuild_indexes(restored)
    for mode in ("keyword", "semantic", "hybrid"):
        assert search(restored, UNIQUE_PHRASE, mode=mode)[0].session_id == edited


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, except SQLite's shared-memory file, which any reader updates."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.name.endswith("-shm")}


def _rewrite(archive: Path, target: Path, change) -> Path:
    """A copy of the archive whose members pass through `change(name, data) -> data`."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as out:
        for member in source:
            data = change(member.name, source.extractfile(member).read())
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


@pytest.mark.slow
def test_damaged_or_foreign_archives_are_refused_and_nothing_changes(data_copy, tmp_path: Path) -> None:
    settings, _ = data_copy
    archive = backup(settings, tmp_path / "good.tar.gz").archive
    with pytest.raises(BackupError, match="already exists"):
        backup(settings, archive)
    tampered = _rewrite(archive, tmp_path / "tampered.tar.gz",
                        lambda name, data: data.replace(b"Marcus", b"Markus") if name.startswith("media/") else data)
    newer = _rewrite(archive, tmp_path / "newer.tar.gz",
                     lambda name, data: data.replace(b'"schema_revision": "', b'"schema_revision": "9') if name == "manifest.json" else data)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    foreign = tmp_path / "photos.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("holiday.jpg"), io.BytesIO(b""))
    escaping = tmp_path / "escaping.tar"
    with tarfile.open(escaping, "w") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))

    target = Settings(data_dir=tmp_path / "target")
    for bad, reason in ((tampered, "does not match its checksum"), (newer, "newer insightcap.*Upgrade"),
                        (truncated, r"not an insightcap backup, or it is damaged \(it cannot be read as one\)\. Nothing"),
                        (foreign, "no valid manifest"), (escaping, "no insightcap backup holds"),
                        (tmp_path / "nope.tar.gz", "no backup file")):
        with pytest.raises(BackupError, match=reason):
            restore(target, bad, force=True)
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith((".", "target"))) == []
    assert not (tmp_path / "outside.txt").exists()

    before = _tree(settings.data_dir)
    with pytest.raises(BackupError, match="Nothing was changed"):
        restore(settings, tampered, force=True)
    assert _tree(settings.data_dir) == before


@pytest.mark.slow
def test_restoring_over_existing_sessions_needs_force_and_keeps_the_old_data(data_copy, tmp_path: Path) -> None:
    settings, ids = data_copy
    archive = backup(settings, tmp_path).archive
    with session_scope(settings) as db:
        latest = repo.latest_memo(db, ids["teams.vtt"])
        repo.save_memo_edit(db, ids["teams.vtt"], "written after the backup", latest.version)
    before = _tree(settings.data_dir)

    with pytest.raises(BackupError, match="already holds 2 sessions.*--force"):
        restore(settings, archive)
    assert _tree(settings.data_dir) == before

    result = restore(settings, archive, force=True)
    previous = Settings(data_dir=result.previous_data_dir)
    assert previous.data_dir.parent == settings.data_dir.parent
    # Moved aside whole, not deleted (closing its connections folded the write-ahead log into the file).
    assert _files(previous) == {name: data for name, data in before.items() if name.startswith("media/")}
    with session_scope(previous) as db:
        assert repo.latest_memo(db, ids["teams.vtt"]).markdown == "written after the backup"
    with session_scope(settings) as db:  # the same process sees the restored data, not the old file
        assert repo.latest_memo(db, ids["teams.vtt"]).markdown != "written after the backup"
        assert len(repo.list_sessions(db)) == 2
        assert repo.get_session(db, ids["zoom.vtt"]).status == "ready"


def _a_session(settings: Settings) -> str:
    """One session's record (its recording is not needed): something for a backup to hold."""
    with session_scope(settings) as db:
        return repo.create_session(db, session_id=repo.new_id(), title="Circle", source_kind="media",
                                   original_filename="a.wav", stored_path="media/x/a.wav").id


def test_backing_up_into_a_folder_makes_it_and_adds_a_new_dated_archive_each_time(settings, tmp_path: Path) -> None:
    session_id = _a_session(settings)
    folder = tmp_path / "not yet" / "backups"
    first, second = backup(settings, folder).archive, backup(settings, folder).archive  # within one second, likely

    assert first != second and sorted(folder.iterdir()) == sorted([first, second])
    assert all(archive.name.startswith("insightcap-backup-") and archive.name.endswith(".tar.gz")
               for archive in (first, second))
    restored = Settings(data_dir=tmp_path / "restored")
    assert restore(restored, second).sessions == 1
    with session_scope(restored) as db:
        assert repo.get_session(db, session_id).title == "Circle"

    not_a_folder = tmp_path / "bk"
    not_a_folder.write_text("notes")
    with pytest.raises(BackupError, match="is a file, not a folder.*ending in .tar.gz"):
        backup(settings, not_a_folder)
    assert not_a_folder.read_text() == "notes"


def test_restore_is_refused_while_the_server_or_a_job_works_on_the_data_folder(settings, tmp_path: Path) -> None:
    from test_jobs import _serve_elsewhere

    from insightcap.storage.folder_lock import working

    _a_session(settings)
    archive = backup(settings, tmp_path).archive

    server = _serve_elsewhere(settings.data_dir)
    before = _tree(settings.data_dir)
    try:
        with pytest.raises(BackupError, match=rf"insightcap serve is running on .*:{server.pid}\)\. Stop it first.*"
                                              "Nothing was changed"):
            restore(settings, archive, force=True)
    finally:
        server.stdin.close()
        server.wait()
    with working(settings.data_dir), pytest.raises(BackupError, match="Another insightcap command.*Nothing was changed"):
        restore(settings, archive, force=True)
    assert _tree(settings.data_dir) == before and not list(tmp_path.glob("data.before-restore-*"))

    assert restore(settings, archive, force=True).previous_data_dir is not None  # the server has stopped


def _restore_attempts(settings: Settings, archive: Path) -> tuple[list[str], Callable[[str], None]]:
    """A list of why restores were refused, and a function that tries one (as a second terminal would)."""
    refusals: list[str] = []

    def attempt(moment: str) -> None:
        try:
            restore(settings, archive, force=True)
        except BackupError as error:
            refusals.append(f"{moment}: {error}")
        else:
            refusals.append(f"{moment}: restored")

    return refusals, attempt


def test_process_and_import_hold_the_folder_from_copying_the_file_to_running_its_job(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from insightcap.cli import app
    from insightcap.jobs import intake, runner

    _a_session(settings)
    refusals, attempt_restore = _restore_attempts(settings, backup(settings, tmp_path).archive)
    copy = intake.store_original

    def copy_while_restoring(*args, **kwargs):
        attempt_restore("while copying")
        return copy(*args, **kwargs)

    def job_not_started_yet(*args, **kwargs):
        attempt_restore("before the job")
        raise runner.JobUnavailable("Stopped by the test before the job ran.")

    monkeypatch.setattr(intake, "store_original", copy_while_restoring)
    monkeypatch.setattr(runner, "run_job", job_not_started_yet)
    result = CliRunner().invoke(app, ["import", str(TRANSCRIPTS / "zoom.vtt")])

    assert "Stopped by the test" in result.output
    assert len(refusals) == 2 and all("Another insightcap command is working in" in said for said in refusals), refusals


def test_restore_rebuilds_the_index_and_reindex_runs_with_the_folder_held(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from insightcap.cli import app
    from insightcap.search import indexing
    from insightcap.storage.folder_lock import sole_user

    _a_session(settings)
    archive = backup(settings, tmp_path).archive
    refusals, attempt_restore = _restore_attempts(settings, archive)

    def rebuild_while_restoring(*args, **kwargs):
        attempt_restore("while rebuilding")
        return indexing.RebuildReport(sessions=1, passages=0, insights=0)

    monkeypatch.setattr(indexing, "rebuild_indexes", rebuild_while_restoring)
    restored = CliRunner().invoke(app, ["restore", str(archive), "--force"])
    assert restored.exit_code == 0, restored.output
    assert len(refusals) == 1 and "Another insightcap command is working in" in refusals[0], refusals

    with sole_user(settings.data_dir):  # a restore is replacing the folder
        reindexed = CliRunner().invoke(app, ["reindex"])
    assert reindexed.exit_code == 1 and "being restored from a backup" in " ".join(reindexed.output.split())
    assert len(refusals) == 1  # no rebuild ran
