"""The commands that turn a file into a session, and see its job through: `process`, `import`, `retry`
and `resume`. They share the checks made before anything is stored, the end-of-run summary and the
last line scripts read (the session's id)."""

from __future__ import annotations

import os
import shlex
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from insightcap.cli.common import (
    ProgramOption,
    SessionArgument,
    clock,
    err,
    fail,
    holding_data_folder,
    out,
    session_or_fail,
    theme_titles,
    whole_number,
)
from insightcap.cli.progress import run_with_progress
from insightcap.config import Settings, get_settings
from insightcap.storage.statuses import JobStatus, SessionStatus
from insightcap.transcript.speakers import (
    MOST_SPEAKERS,
    SpeakerBounds,
    SpeakerHintError,
)

if TYPE_CHECKING:
    from insightcap.jobs.intake import AlreadyAdded

# How --speakers and its bounds refuse what is not a count of people.
_PEOPLE = whole_number(f"the speaker options take how many people speak, e.g. 4 (1-{MOST_SPEAKERS})")
# A transcript names its speakers, and a recording's count is found from the voices unless given.
_NO_SPEAKER_COUNT = SpeakerBounds()


def _resume_interrupted(settings: Settings) -> None:
    """The next start after a crash or kill finishes what was interrupted, from its last stage."""
    from insightcap.jobs.runner import interrupted_sessions
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    for job_id, session_id in interrupted_sessions(settings).items():
        with session_scope(settings) as db:
            named = f"“{escape(repo.get_session(db, session_id).title)}” ({session_id})"
        err.print(f"[yellow]Resuming {named}, whose processing was interrupted…[/]")
        try:
            run_with_progress(settings, job_id)
        except typer.Exit:
            err.print(f"[yellow]{named} could not finish; see `insightcap show {session_id}`.[/]")


def _summarise(settings: Settings, session_id: str) -> None:
    from insightcap.insights.schema import SECTION_LABELS, Section, SessionInsights
    from insightcap.memo.export import write_session_memos
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.transcript.schema import Transcript

    with session_scope(settings) as db:
        record = repo.get_session(db, session_id)
        transcript = repo.load_output(db, session_id, "transcript", Transcript)
        insights = repo.load_output(db, session_id, "insights", SessionInsights)
        titles = theme_titles(db, session_id)
        title = record.title
    table = Table(title=f"Session {session_id}: {title}", show_header=False)
    table.add_row("Duration", clock(transcript.duration))
    table.add_row("Language", transcript.language or ("not given in the transcript" if transcript.source == "import" else "unknown"))
    table.add_row("Transcript", f"{len(transcript.segments)} segments, speakers: {', '.join(transcript.speakers) or 'not identified'}")
    table.add_row("Themes", escape("; ".join(titles.values()) or "none with clear insights"))
    for section in Section:
        count = len(insights.in_section(section))
        if count:
            table.add_row(SECTION_LABELS[section], str(count))
    for path in write_session_memos(settings, session_id):
        table.add_row(f"Memo ({path.suffix[1:]})", str(path))
    out.print(table)


def _submit(
    kind: Literal["media", "transcript"],
    path: Path,
    title: str | None,
    program: str | None,
    session_date: date | None,
    speakers: SpeakerBounds = _NO_SPEAKER_COUNT,
) -> None:
    from insightcap.jobs.intake import AlreadyAdded, submit
    from insightcap.jobs.runner import user_facing_errors

    settings = get_settings()
    _check_input_file(path, kind)
    # Held from the copy of the file into the data folder to the memo files written last: the job
    # takes the lock too, but only once it runs, and a restore in between would move the folder
    # away under the copy, or leave the new session's job in the moved-aside database.
    with holding_data_folder(settings):
        _resume_interrupted(settings)
        try:
            submitted = submit(kind, path, settings, speakers=speakers, title=title, program=program,
                               session_date=session_date)
        except AlreadyAdded as added:
            _show_the_earlier_session(settings, added)
            return
        except user_facing_errors() as error:
            fail(escape(_for_the_command_line(kind, path, str(error))))
        err.print(f"Session [bold]{submitted.session_id}[/] created from {escape(path.name)}")
        if not (program or "").strip():
            err.print("[yellow]Not in a program[/], so it joins no program's themes across sessions: "
                      "give --program (your circle's or cohort's name) to group sessions.")
        run_with_progress(settings, submitted.job_id)
        _summarise(settings, submitted.session_id)
    # Scripts rely on this: the new session's id is the last line of standard output.
    print(submitted.session_id)


def _show_the_earlier_session(settings: Settings, added: AlreadyAdded) -> None:
    """The session the same file made before, as if just made: running `make demo` or a script twice
    gives the same session rather than a second copy of the meeting, or an error. One that did not
    finish is not shown as if it had."""
    message = added.fact
    if added.status != SessionStatus.READY:
        fail(f"{message} It is {added.status}: run `insightcap retry {added.session_id}`, or "
             f"`insightcap forget {added.session_id}` to add the file again.")
    err.print(f"{message} Here it is; to process the file again, run `insightcap forget {added.session_id}` first.")
    _summarise(settings, added.session_id)
    print(added.session_id)


# What `process` and `import` take, as their help and their errors name it.
RECORDING_FORMATS = "wav, mp3, m4a, mp4, webm, ogg, flac, …"
TRANSCRIPT_FORMATS = ".vtt, .srt, or a Zoom/Teams transcript export"
_INPUT_FILES = {"media": f"a recording file ({RECORDING_FORMATS})", "transcript": f"a transcript file ({TRANSCRIPT_FORMATS})"}


def _check_input_file(path: Path, kind: str) -> None:
    """Refuse a folder or a missing name before anything is stored, saying what to give instead."""
    wanted = _INPUT_FILES[kind]
    if path.is_dir():
        fail(f"{path}{os.sep} is a folder; give {wanted}.")
    if not path.exists():
        fail(f"{path} does not exist. Check its name and folder; give {wanted}.")
    if not path.is_file():
        fail(f"{path} is not a file; give {wanted}.")


def _for_the_command_line(kind: Literal["media", "transcript"], path: Path, message: str) -> str:
    """An intake message as the command line says it. The web app, whose words these are too, takes
    recordings and transcripts in one upload form; here each has its command, so a file given to the
    wrong one is pointed to the other, with a command to copy."""
    from insightcap.audio.decode import SUPPORTED_HINT
    from insightcap.transcript.importers import TRANSCRIBE_INSTEAD

    pasted = shlex.quote(str(path))
    if kind == "media":
        return message.replace(SUPPORTED_HINT, f"`insightcap process` takes a recording ({RECORDING_FORMATS}). If it is "
                                               f"a transcript ({TRANSCRIPT_FORMATS}), run `insightcap import {pasted}`.")
    return message.replace(TRANSCRIBE_INSTEAD, f"run `insightcap process {pasted}` to transcribe it")


def _check_speech_model(name: str) -> None:
    """Refuse a model that cannot transcribe before a session is created: a typo would otherwise fail
    the new session at Transcribing, with a list of models most of which cannot transcribe either."""
    from insightcap.weights import ModelUnavailable, get_spec, load_manifest
    from insightcap.wording import did_you_mean

    if name.endswith(".pt"):  # an openai-whisper checkpoint, as `convert-whisper` writes them
        if not Path(name).expanduser().is_file():
            fail(f"There is no Whisper checkpoint {name}: give the path of a .pt file `convert-whisper` wrote.")
        return
    try:
        if get_spec(name).task == "asr":
            return
    except ModelUnavailable:
        pass
    speech = sorted(spec.name for spec in load_manifest().values() if spec.task == "asr")
    guess = did_you_mean(name, {model: model for model in speech})
    fail(f"'{name}' is not a speech recognition model.{guess} Choose --model from: {', '.join(speech)} "
         "(or give a model folder, a Hugging Face hub id or a .pt checkpoint).")


TitleOption = Annotated[str | None, typer.Option(help="Session title (default: a Teams transcript's own title, "
                                                      "else from the file name).")]
DateOption = Annotated[
    str | None, typer.Option("--date", help="Session date, YYYY-MM-DD: resolves 'next Tuesday' in commitments "
                             "(default: the day a Teams transcript states).")
]


def _speaker_bounds(exact: int | None, min_speakers: int | None, max_speakers: int | None) -> SpeakerBounds:
    from insightcap.jobs.intake import speaker_bounds

    try:
        return speaker_bounds(exact, min_speakers, max_speakers,
                              leave_out="--speakers, --min-speakers and --max-speakers out")
    except SpeakerHintError as error:
        fail(str(error))


def _parse_date(value: str | None) -> date | None:
    from insightcap.jobs.intake import NotADate, parse_session_date

    if value is None:
        return None
    try:
        return parse_session_date(value)
    except NotADate as error:
        fail(f"--date {error}")


def process(
    recording: Annotated[Path, typer.Argument(help=f"Audio or video: {RECORDING_FORMATS}")],
    title: TitleOption = None,
    program: ProgramOption = None,
    session_date: DateOption = None,
    model: Annotated[str | None, typer.Option(help="ASR model from models/manifest.toml, e.g. whisper-tiny-en.")] = None,
    speakers: Annotated[
        int | None, typer.Option("--speakers", parser=_PEOPLE,
                                 help=f"Exactly this many people speak (1-{MOST_SPEAKERS}). Default: counted from the voices.")
    ] = None,
    min_speakers: Annotated[int | None, typer.Option("--min-speakers", parser=_PEOPLE,
                                                     help="At least this many people speak.")] = None,
    max_speakers: Annotated[int | None, typer.Option("--max-speakers", parser=_PEOPLE,
                                                     help="At most this many people speak.")] = None,
) -> None:
    """Transcribe a recording, tell its speakers apart, find its insights and draft its debrief memo."""
    bounds = _speaker_bounds(speakers, min_speakers, max_speakers)
    if model:
        os.environ["INSIGHTCAP_ASR_MODEL"] = model
        get_settings.cache_clear()
    _check_speech_model(get_settings().asr_model)
    _submit("media", recording, title, program, _parse_date(session_date), bounds)


def import_(
    transcript: Annotated[Path, typer.Argument(help=f"A transcript: {TRANSCRIPT_FORMATS}.")],
    title: TitleOption = None,
    program: ProgramOption = None,
    session_date: DateOption = None,
) -> None:
    """Create a session from an existing transcript, skipping speech recognition."""
    _submit("transcript", transcript, title, program, _parse_date(session_date))


def retry(session: SessionArgument) -> None:
    """Run a failed session's processing again, from the stage that failed."""
    from insightcap.jobs.runner import RECORDING_NOT_KEPT, job_owner, original_discarded
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.storage.folder_lock import other_server

    settings = get_settings()
    server = other_server(settings.data_dir)
    with session_scope(settings) as db:
        record = session_or_fail(db, session)
        jobs = repo.jobs_for_session(db, record.id)
        if not jobs or jobs[-1].status == JobStatus.DONE:
            fail(f"Session {record.id} has nothing to retry (status: {record.status}).")
        job, session_id = jobs[-1], record.id
    if owner := job_owner(job, server):
        fail(_in_hand(session_id, job.status, job.stage, owner, server))
    if original_discarded(settings, session_id):
        fail(RECORDING_NOT_KEPT)
    run_with_progress(settings, job.id)
    _summarise(settings, session_id)


def _in_hand(session_id: str, status: str, stage: str | None, owner: str, server: str | None) -> str:
    """Why `retry` leaves a job alone: another live process has it, and which."""
    who = f"the running server (insightcap serve, {owner})" if owner == server else f"process {owner}"
    if status == JobStatus.QUEUED:
        return (f"Session {session_id} is waiting in the queue of {who}, which will process it: nothing to retry. "
                "`insightcap sessions` shows its status.")
    return (f"Session {session_id} is being processed right now (stage: {stage or 'starting'}) by {who}: nothing to "
            "retry. Wait until it has finished or failed (`insightcap sessions` shows its status).")


def resume() -> None:
    """Finish jobs that a crash or kill interrupted (also done automatically by `process` and `import`)."""
    from insightcap.jobs.runner import interrupted_jobs

    settings = get_settings()
    if not interrupted_jobs(settings):
        out.print("Nothing to resume.")
        return
    _resume_interrupted(settings)

