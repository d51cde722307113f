"""Taking in a recording or a transcript file: validate first, then store the original and create the
session and its job in one transaction, so a rejected file leaves nothing behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from insightcap.config import Settings
from insightcap.jobs.stages import MEDIA_STAGES, TRANSCRIPT_STAGES
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.files import remove_session_files, store_original
from insightcap.storage.statuses import SessionStatus
from insightcap.storage.tables import SessionRecord
from insightcap.transcript.schema import Transcript
from insightcap.transcript.speakers import SpeakerBounds, SpeakerHintError


class AlreadyAdded(ValueError):
    """The same file was already added to the program. The message names that session by its title
    and says what to do, for the web app, which links to it by `title` and `day` (its date as shown).
    The command line shows the session instead: `fact` names it by id too, and it has its
    `session_id` and `status`."""

    def __init__(self, said: str, earlier: SessionRecord, day: str) -> None:
        super().__init__(f"{said}. To process the file again, delete that session first.")
        self.fact = f"{said} ({earlier.id})."
        self.session_id, self.status, self.title, self.day = earlier.id, SessionStatus(earlier.status), earlier.title, day


@dataclass(frozen=True)
class Submitted:
    session_id: str
    job_id: str


class NotADate(ValueError):
    """A session date that is not YYYY-MM-DD. The message says what was given and what is wanted; the
    caller puts the name of its field in front ("--date …", "The date …")."""


def parse_session_date(text: str) -> date:
    """The session's date as the user typed it, or NotADate."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise NotADate(f"{text!r} is not a date like 2026-11-25.") from None


def speaker_bounds(
    exact: int | None, min_speakers: int | None, max_speakers: int | None, *, leave_out: str
) -> SpeakerBounds:
    """The speaker count the user gave, or SpeakerHintError saying what is wrong and how to have the
    speakers counted instead: `leave_out` is how, in the caller's words ("the number of speakers empty")."""
    try:
        return SpeakerBounds.from_hint(exact, min_speakers, max_speakers)
    except SpeakerHintError as error:
        raise SpeakerHintError(f"{error} Leave {leave_out} to have the speakers counted.") from None


def submit(
    kind: Literal["media", "transcript"],
    path: Path,
    settings: Settings,
    *,
    speakers: SpeakerBounds,
    title: str | None,
    program: str | None,
    session_date: date | None,
    original_name: str | None = None,
) -> Submitted:
    """A recording ("media") or a transcript, as the command line and the web app take them in; the
    speaker count is a recording's only (a transcript names its speakers)."""
    if kind == "media":
        return submit_recording(path, settings, title=title, program=program, session_date=session_date,
                                original_name=original_name, speakers=speakers)
    return submit_transcript(path, settings, title=title, program=program, session_date=session_date,
                             original_name=original_name)


def _title_from(path: Path, title: str | None) -> str:
    return title or path.stem.replace("_", " ").replace("-", " ").strip() or "Untitled session"


def submit_recording(
    path: Path,
    settings: Settings,
    *,
    title: str | None = None,
    program: str | None = None,
    session_date: date | None = None,
    original_name: str | None = None,
    speakers: SpeakerBounds = SpeakerBounds(),
) -> Submitted:
    """Queue a recording for the full pipeline. Raises MediaError (nothing stored) if it is not media or
    is longer than allowed; its headers are read in a limited child process, never in this one.

    `speakers` is what the user knows about how many people speak; it is kept with the session.
    """
    from insightcap.audio.limits import probe_untrusted

    probe_untrusted(path, settings)
    return _store(path, settings, "media", MEDIA_STAGES, title, program, session_date, original_name,
                  speakers=speakers)


def submit_transcript(
    path: Path,
    settings: Settings,
    *,
    title: str | None = None,
    program: str | None = None,
    session_date: date | None = None,
    original_name: str | None = None,
) -> Submitted:
    """Queue an existing transcript (VTT, SRT, Zoom/Teams export), skipping speech recognition.

    Raises TranscriptFormatError (nothing stored) if the file cannot be read as a transcript.
    """
    from insightcap.transcript.importers import import_transcript

    transcript = import_transcript(path)
    return _store(
        path, settings, "transcript", TRANSCRIPT_STAGES, title, program, session_date, original_name, transcript
    )


def _store(
    path: Path,
    settings: Settings,
    source_kind: str,
    stages: list[str],
    title: str | None,
    program: str | None,
    session_date: date | None,
    original_name: str | None,
    transcript: Transcript | None = None,
    speakers: SpeakerBounds = SpeakerBounds(),
) -> Submitted:
    session_id = repo.new_id()
    stored, content_sha256 = store_original(path, session_id, settings)
    try:
        with session_scope(settings) as db:
            _refuse_a_second_copy(db, content_sha256, program)
            record = repo.create_session(
                db,
                session_id=session_id,
                # A transcript naming its meeting and day (a Teams export) gives them when the user does not.
                title=_title_from(Path(original_name or path.name), title or (transcript.title if transcript else None)),
                source_kind=source_kind,
                original_filename=original_name or path.name,
                stored_path=str(stored),
                program=program,
                session_date=session_date or (transcript.recorded_on if transcript else None),
            )
            record.min_speakers, record.max_speakers = speakers.min_speakers, speakers.max_speakers
            record.content_sha256 = content_sha256
            if transcript is not None:
                repo.save_output(db, session_id, "transcript", transcript)
                record.duration_seconds = transcript.duration
            job = repo.create_job(db, session_id, stages)
            return Submitted(session_id=session_id, job_id=job.id)
    except BaseException:
        remove_session_files(session_id, settings)
        raise


def _refuse_a_second_copy(db: Session, content_sha256: str, program: str | None) -> None:
    """The same file added twice to a program would be two sessions of one meeting: its themes would
    count as recurring, and search would show every moment twice."""
    earlier = repo.session_with_content(db, content_sha256, program)
    if earlier is not None:
        from insightcap.themes.program import (
            session_day_label,  # only now: it loads the theme models' libraries
        )

        added, where = earlier.created_at.date().isoformat(), f" to {earlier.program.name}" if earlier.program else ""
        raise AlreadyAdded(f"This file was already added{where} on {added}, as the session “{earlier.title}”",
                           earlier, session_day_label(earlier))
