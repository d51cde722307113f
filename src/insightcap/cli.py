"""The `insightcap` command. Its commands mirror what a facilitator thinks in: process a recording,
import a transcript, list sessions, show one, get its memo."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperArgument, TyperOption

from insightcap.accounts_cli import audit_command, token_app, user_app
from insightcap.config import Settings, get_settings
from insightcap.transcript.schema import Transcript
from insightcap.transcript.speakers import (
    MOST_SPEAKERS,
    SpeakerBounds,
    SpeakerHintError,
    speaker_stats,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session as DbSession

    from insightcap.jobs.intake import AlreadyAdded
    from insightcap.storage.tables import SessionRecord
    from insightcap.weights import ModelSpec


def _help_shows_what_to_type() -> None:
    """Since typer 0.29 its help labels every flag `<bool>`, as if `--json true` were accepted (it is
    refused), and since 0.28 it writes a required argument `{recording}`. Facilitators copy what the
    help shows, so flags are shown bare and arguments as `RECORDING` (`[EMAIL]` when optional), as
    click and the README write them; an error names an argument the same way ("Missing argument
    'RECORDING'.", not 'recording'). Set on typer's parameter classes, as typer builds the commands:
    every command and sub-app gets it."""
    flag_blind_label = TyperOption.display_type_rich

    def value_label(option: TyperOption, ctx: typer.Context) -> str | None:
        return None if option.is_flag else flag_blind_label(option, ctx)

    def shown_name(argument: TyperArgument) -> str:
        return (argument.metavar or argument.name or "").upper() + ("..." if argument.nargs != 1 else "")

    def usage_name(argument: TyperArgument, ctx: typer.Context) -> list[str]:
        return [shown_name(argument) if argument.required else f"[{shown_name(argument)}]"]

    TyperOption.display_type_rich = value_label
    TyperArgument.get_usage_pieces = usage_name
    TyperArgument.get_error_hint = lambda argument: f"'{shown_name(argument)}'"


_help_shows_what_to_type()
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True)


class MemoFormat(StrEnum):
    md = "md"
    html = "html"
    docx = "docx"
    pdf = "pdf"


@app.callback()
def main(
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="Where sessions are stored (default: INSIGHTCAP_DATA_DIR or ~/.local/share/insightcap).")
    ] = None,
) -> None:
    if data_dir is not None:
        os.environ["INSIGHTCAP_DATA_DIR"] = str(data_dir.expanduser().resolve())
        get_settings.cache_clear()


def _fail(message: str) -> None:
    err.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code=1)


def _session_or_fail(db: DbSession, session_ref: str) -> SessionRecord:
    """The session by id or id prefix, or an error saying how to find the right id."""
    from insightcap.storage import repository as repo

    try:
        return repo.get_session(db, session_ref)
    except repo.NotFound as error:
        _fail(str(error))


class _StageBars:
    """One progress bar per stage of a job, each with its own clock.

    A bar reads 100% only once the job has recorded its stage as completed: a stage can report its
    end and still fail after it (the memo is drafted, then its template turns out to be broken).
    Stages completed by an earlier run are shown as such, without a clock, as they do not run now.
    """

    COLUMNS = (
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TextColumn("{task.fields[state]:>7}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    # Below 100% until the runner has recorded the stage as completed.
    UNCONFIRMED = 0.99

    def __init__(self, bar: Progress, stage_names: list[str], done_before: set[str]) -> None:
        from insightcap.jobs.stages import STAGES

        self.bar = bar
        self.tasks = {
            name: bar.add_task(STAGES[name].label, total=1.0, start=False, completed=float(name in done_before),
                               state="skipped" if name in done_before else "",
                               message="done in an earlier run" if name in done_before else "")
            for name in stage_names
        }
        self.done_before = done_before
        self.started: list[str] = []

    def report(self, stage: str, fraction: float, message: str) -> None:
        """The job runner's listener."""
        if stage not in self.started:
            # The runner starts a stage only after recording the one before as completed.
            if self.started:
                self._end(self.started[-1], "100%", "done", completed=1.0)
            self.bar.start_task(self.tasks[stage])
            self.started.append(stage)
        shown = min(fraction, self.UNCONFIRMED)
        self.bar.update(self.tasks[stage], completed=shown, state=f"{shown:.0%}", message=message)

    def settle(self, completed_stages: list[str]) -> None:
        """Show how the run ended: the last stage that ran completed or failed; later ones did not run."""
        if self.started:
            last = self.started[-1]
            if last in completed_stages:
                self._end(last, "100%", "done", completed=1.0)
            else:
                self._end(last, "failed", "see the error below")
        for name, task in self.tasks.items():
            if name not in self.done_before and name not in self.started:
                self.bar.update(task, message="not run")

    def _end(self, stage: str, state: str, message: str, completed: float | None = None) -> None:
        self.bar.stop_task(self.tasks[stage])
        self.bar.update(self.tasks[stage], state=state, message=message, completed=completed)


def _run_with_progress(settings: Settings, job_id: str, *, forget_if_refused: bool = False) -> None:
    """Run the job with a bar per stage. With `forget_if_refused`, a session whose recording was
    refused as unusable (no speech, not audio) is deleted whole: nothing can be made of it."""
    from insightcap.forget import forget_session
    from insightcap.jobs.runner import JobUnavailable, original_discarded, run_job
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.storage.folder_lock import FolderBusy

    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        stage_names, done_before = list(job.stages), set(job.completed_stages)
    try:
        with Progress(*_StageBars.COLUMNS, console=err, transient=False) as bar:
            stages = _StageBars(bar, stage_names, done_before)
            finished = run_job(settings, job_id, stages.report)
            stages.settle(finished.completed_stages)
    except (JobUnavailable, FolderBusy) as error:
        _fail(str(error))
    if finished.status == "failed":
        if forget_if_refused and original_discarded(settings, finished.session_id):
            forget_session(settings, finished.session_id)
            _fail(f"{finished.error} Nothing was kept.")
        _fail(finished.error or f"Processing failed. Run `insightcap retry {finished.session_id}` to try again.")


def _resume_interrupted(settings: Settings) -> None:
    """The next start after a crash or kill finishes what was interrupted, from its last stage."""
    from insightcap.jobs.runner import interrupted_jobs

    for job_id in interrupted_jobs(settings):
        err.print(f"[yellow]Resuming interrupted job {job_id}…[/]")
        try:
            _run_with_progress(settings, job_id)
        except typer.Exit:
            err.print(f"[yellow]Job {job_id} could not finish; see `insightcap sessions`.[/]")


def _export_memo_files(settings: Settings, session_id: str) -> list[Path]:
    from insightcap.memo.export import export_memo

    folder = settings.data_dir / "exports" / session_id
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in ("md", "html"):
        path = folder / f"memo.{fmt}"
        path.write_text(export_memo(settings, session_id, fmt), encoding="utf-8")
        written.append(path)
    return written


def _summarise(settings: Settings, session_id: str) -> None:
    from insightcap.insights.schema import Section, SessionInsights
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.transcript.schema import Transcript

    with session_scope(settings) as db:
        record = repo.get_session(db, session_id)
        transcript = repo.load_output(db, session_id, "transcript", Transcript)
        insights = repo.load_output(db, session_id, "insights", SessionInsights)
        titles = _theme_titles(db, session_id)
        title = record.title
    table = Table(title=f"Session {session_id}: {title}", show_header=False)
    table.add_row("Duration", _clock(transcript.duration))
    table.add_row("Language", transcript.language or ("not given in the transcript" if transcript.source == "import" else "unknown"))
    table.add_row("Transcript", f"{len(transcript.segments)} segments, speakers: {', '.join(transcript.speakers) or 'not identified'}")
    table.add_row("Themes", escape("; ".join(titles.values()) or "none with clear insights"))
    for section in Section:
        count = len(insights.in_section(section))
        if count:
            table.add_row(section.value.replace("_", " ").title(), str(count))
    for path in _export_memo_files(settings, session_id):
        table.add_row(f"Memo ({path.suffix[1:]})", str(path))
    out.print(table)


def _theme_titles(db: DbSession, session_id: str) -> dict[int, str]:
    """Topic index → the title the memo gives that theme (the generator may have written it), in
    the memo's order, so the summary, `show` and the memo call a theme by one name. Topics the memo
    has no theme for (nothing but chatter or a commitment) are not in it."""
    from insightcap.memo.schema import MemoDraft
    from insightcap.storage import repository as repo

    draft = repo.load_output(db, session_id, "memo", MemoDraft)
    return {theme.topic_index: theme.title for theme in draft.themes} if draft else {}


def _clock(seconds: float) -> str:
    """Moments and lengths exactly as the memo and the web app write them (truncated to the second),
    so a quote found here is at the same time there."""
    from insightcap.memo.render import format_timestamp

    return format_timestamp(seconds)


def _submit(
    kind: str,
    path: Path,
    title: str | None,
    program: str | None,
    session_date: date | None,
    speakers: SpeakerBounds = SpeakerBounds(),
) -> None:
    from insightcap.jobs.intake import AlreadyAdded, submit_recording, submit_transcript
    from insightcap.jobs.runner import user_facing_errors
    from insightcap.storage.folder_lock import FolderBusy, working

    settings = get_settings()
    _check_input_file(path, kind)
    submit = partial(submit_recording, speakers=speakers) if kind == "media" else submit_transcript
    try:
        # Held from the copy of the file into the data folder to the memo files written last: the job
        # takes the lock too, but only once it runs, and a restore in between would move the folder
        # away under the copy, or leave the new session's job in the moved-aside database.
        with working(settings.data_dir):
            _resume_interrupted(settings)
            try:
                submitted = submit(path, settings, title=title, program=program, session_date=session_date)
            except AlreadyAdded as added:
                _show_the_earlier_session(settings, added)
                return
            except user_facing_errors() as error:
                _fail(str(error))
            err.print(f"Session [bold]{submitted.session_id}[/] created from {path.name}")
            _run_with_progress(settings, submitted.job_id, forget_if_refused=True)
            _summarise(settings, submitted.session_id)
    except FolderBusy as busy:
        _fail(str(busy))
    # Scripts rely on this: the new session's id is the last line of standard output.
    print(submitted.session_id)


def _show_the_earlier_session(settings: Settings, added: AlreadyAdded) -> None:
    """The session the same file made before, as if just made: running `make demo` or a script twice
    gives the same session rather than a second copy of the meeting, or an error. One that did not
    finish is not shown as if it had."""
    message = added.fact
    if added.status != "ready":
        _fail(f"{message} It is {added.status}: run `insightcap retry {added.session_id}`, or "
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
        _fail(f"{path}{os.sep} is a folder; give {wanted}.")
    if not path.exists():
        _fail(f"{path} does not exist. Check its name and folder; give {wanted}.")
    if not path.is_file():
        _fail(f"{path} is not a file; give {wanted}.")


def _check_speech_model(name: str) -> None:
    """Refuse a model that cannot transcribe before a session is created: a typo would otherwise fail
    the new session at Transcribing, with a list of models most of which cannot transcribe either."""
    from difflib import get_close_matches

    from insightcap.weights import ModelUnavailable, get_spec, load_manifest

    if name.endswith(".pt"):  # an openai-whisper checkpoint, as `convert-whisper` writes them
        if not Path(name).expanduser().is_file():
            _fail(f"There is no Whisper checkpoint {name}: give the path of a .pt file `convert-whisper` wrote.")
        return
    try:
        if get_spec(name).task == "asr":
            return
    except ModelUnavailable:
        pass
    speech = sorted(spec.name for spec in load_manifest().values() if spec.task == "asr")
    close = get_close_matches(name, speech, n=1, cutoff=0.6)
    guess = f" Did you mean '{close[0]}'?" if close else ""
    _fail(f"'{name}' is not a speech recognition model.{guess} Choose --model from: {', '.join(speech)} "
          "(or give a model folder, a Hugging Face hub id or a .pt checkpoint).")


TitleOption = Annotated[Optional[str], typer.Option(help="Session title (default: from the file name).")]
ProgramOption = Annotated[Optional[str], typer.Option(help="The program (group, cohort) the session belongs to.")]
DateOption = Annotated[
    Optional[str], typer.Option("--date", help="Session date, YYYY-MM-DD: resolves 'next Tuesday' in commitments.")
]


def _speaker_bounds(exact: int | None, min_speakers: int | None, max_speakers: int | None) -> SpeakerBounds:
    try:
        return SpeakerBounds.from_hint(exact, min_speakers, max_speakers)
    except SpeakerHintError as error:
        _fail(f"{error} Leave --speakers, --min-speakers and --max-speakers out to have the speakers counted.")


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--date {value!r} is not a date like 2026-11-25.")


@app.command()
def process(
    recording: Annotated[Path, typer.Argument(help=f"Audio or video: {RECORDING_FORMATS}")],
    title: TitleOption = None,
    program: ProgramOption = None,
    session_date: DateOption = None,
    model: Annotated[Optional[str], typer.Option(help="ASR model from models/manifest.toml, e.g. whisper-tiny-en.")] = None,
    speakers: Annotated[
        Optional[int], typer.Option("--speakers", help=f"Exactly this many people speak (1-{MOST_SPEAKERS}). Default: counted from the voices.")
    ] = None,
    min_speakers: Annotated[Optional[int], typer.Option("--min-speakers", help="At least this many people speak.")] = None,
    max_speakers: Annotated[Optional[int], typer.Option("--max-speakers", help="At most this many people speak.")] = None,
) -> None:
    """Transcribe a recording, tell its speakers apart, find its insights and draft its debrief memo."""
    bounds = _speaker_bounds(speakers, min_speakers, max_speakers)
    if model:
        os.environ["INSIGHTCAP_ASR_MODEL"] = model
        get_settings.cache_clear()
    _check_speech_model(get_settings().asr_model)
    _submit("media", recording, title, program, _parse_date(session_date), bounds)


@app.command("import")
def import_(
    transcript: Annotated[Path, typer.Argument(help=f"A transcript: {TRANSCRIPT_FORMATS}.")],
    title: TitleOption = None,
    program: ProgramOption = None,
    session_date: DateOption = None,
) -> None:
    """Create a session from an existing transcript, skipping speech recognition."""
    _submit("transcript", transcript, title, program, _parse_date(session_date))


@app.command()
def sessions(as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False) -> None:
    """List sessions, newest first."""
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    with session_scope(get_settings()) as db:
        rows = [
            {
                "id": record.id,
                "title": record.title,
                "status": record.status,
                "program": record.program.name if record.program else None,
                "date": record.session_date.isoformat() if record.session_date else None,
                "duration_seconds": record.duration_seconds,
                "created_at": record.created_at.isoformat(),
            }
            for record in repo.list_sessions(db)
        ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    cells = [
        (row["id"], escape(row["title"]), escape(row["program"] or ""), row["date"] or "",
         _clock(row["duration_seconds"]) if row["duration_seconds"] else "", row["status"])
        for row in rows
    ]
    table = _listing({"id": False, "title": True, "program": True, "date": False, "duration": False, "status": False}, cells)
    out.print(table if rows else "No sessions yet. Add one with `insightcap process RECORDING`.")


def _listing(columns: dict[str, bool], rows: list[tuple[str, ...]]) -> Table:
    """A table whose ids, dates and counts are never cut or wrapped in a narrow terminal (users copy
    them into the next command); only the columns marked True, free text, fold onto more lines."""
    table = Table()
    for index, (name, folds) in enumerate(columns.items()):
        widest = max((len(row[index]) for row in rows), default=0)
        table.add_column(name, no_wrap=not folds, overflow="fold", min_width=None if folds else max(widest, len(name)))
    for row in rows:
        table.add_row(*row)
    return table


@app.command()
def show(
    session: Annotated[str, typer.Argument(help="Session id (or its first characters).")],
    transcript_lines: Annotated[int, typer.Option("--lines", help="Transcript lines to show (0: all).")] = 0,
) -> None:
    """Show a session's speakers (talk time, share, turns), transcript and insights."""
    from insightcap.insights.schema import SessionInsights
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    with session_scope(get_settings()) as db:
        record = _session_or_fail(db, session)
        transcript = repo.load_output(db, record.id, "transcript", Transcript)
        insights = repo.load_output(db, record.id, "insights", SessionInsights)
        titles = _theme_titles(db, record.id)
        jobs = repo.jobs_for_session(db, record.id)
        names = record.speaker_names or {}
        header = f"[bold]{escape(record.title)}[/] ({record.id}) — {record.status}"
    out.print(header)
    if jobs and jobs[-1].error:
        out.print(f"[red]Last error:[/] {escape(jobs[-1].error)}")
    if transcript and transcript.speakers:
        out.print(_speaker_table(transcript, names))
    if transcript:
        out.rule("Transcript")
        segments = transcript.segments[:transcript_lines] if transcript_lines else transcript.segments
        for segment in segments:
            speaker = names.get(segment.speaker or "", segment.speaker) or ""
            out.print(f"[dim]{_clock(segment.start)}[/] [bold]{escape(speaker)}[/] {escape(segment.text.strip())}",
                      highlight=False)
    if insights:
        for topic in insights.topics:
            out.rule(f"Theme: {escape(titles.get(topic.index, topic.title))}")
            for insight in insights.for_topic(topic.index):
                speaker = names.get(insight.speaker or "", insight.speaker) or "?"
                out.print(
                    f"[cyan]{insight.section.value:<11}[/] {escape(insight.statement)} "
                    f"[dim]— {escape(speaker)}, {_clock(insight.start)}[/]",
                    highlight=False,
                )


def _speaker_table(transcript: Transcript, names: dict[str, str]) -> Table:
    """Who took part how much: a facilitator checks here that everyone had a voice."""
    table = Table("speaker", "talk time", "share", "turns", title="Who spoke", title_justify="left")
    for stat in speaker_stats(transcript):
        table.add_row(escape(names.get(stat.speaker, stat.speaker)), _clock(stat.talk_seconds),
                      f"{stat.share:.0%}", str(stat.turns))
    return table


@app.command()
def memo(
    session: Annotated[str, typer.Argument(help="Session id (or its first characters).")],
    fmt: Annotated[MemoFormat, typer.Option("--format", "-f", help="md, html, docx or pdf.")] = MemoFormat.md,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of printing (missing folders are made); "
                                                       "given a folder, to <title>-memo.<format> in it.")] = None,
) -> None:
    """Print or write a session's debrief memo (the latest saved version): md, html, docx or pdf."""
    from insightcap.memo.export import MemoMissing, export_memo_file
    from insightcap.storage.repository import NotFound

    if output is None and fmt in (MemoFormat.docx, MemoFormat.pdf):
        _fail(f"--format {fmt.value} is a binary file: add --output memo.{fmt.value}")
    try:
        content = export_memo_file(get_settings(), session, fmt.value)
    except (NotFound, MemoMissing) as error:
        _fail(str(error))
    if output is None:
        sys.stdout.write(content.decode("utf-8"))
        return
    target = output / _memo_file_name(session, fmt) if output.is_dir() else output
    _write_output(target, content)
    err.print(f"Memo written to {target}")


def _memo_file_name(session_ref: str, fmt: MemoFormat) -> str:
    """The name the web app gives the memo's download, for a memo written into a folder."""
    from insightcap.memo.export import memo_file_name
    from insightcap.storage.db import session_scope

    with session_scope(get_settings()) as db:
        title = _session_or_fail(db, session_ref).title
    return memo_file_name(title, fmt.value)


def _write_output(path: Path, content: bytes) -> None:
    """Write a file the user named, making the folders it needs; when the system refuses (no
    permission, a file where a folder should be, a full disk), say so and what to do, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as error:
        reason = f"{error.filename}: {error.strerror}" if error.filename else str(error)
        _fail(f"Could not write {path} ({reason}). Give another file name.")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words or a question, e.g. 'how do we keep new members engaged'.")],
    program: ProgramOption = None,
    section: Annotated[Optional[str], typer.Option(
        help="Only this section: context, idea, strategy, resource, action_item (or commitments), question, "
             "reaction; or transcript for what was said, without insights.")] = None,
    speaker: Annotated[Optional[str], typer.Option(
        help="Only this speaker's insights, and stretches of transcript where they speak (any case or accents).")] = None,
    date_from: Annotated[Optional[str], typer.Option(help="Only sessions on or after this day, YYYY-MM-DD.")] = None,
    date_to: Annotated[Optional[str], typer.Option(help="Only sessions on or before this day, YYYY-MM-DD.")] = None,
    limit: Annotated[int, typer.Option(help="How many results, 1 to 100.")] = 10,
) -> None:
    """Search insights and transcripts of all sessions (keyword and meaning combined)."""
    from pydantic import ValidationError

    from insightcap.search.documents import snippet
    from insightcap.search.hybrid import search as run_search
    from insightcap.search.schema import (
        MOST_RESULTS,
        NO_QUERY_WORDS,
        QUERY_NEEDED,
        TRANSCRIPT,
        checked_filters,
        filter_problems,
        only_by_meaning,
    )
    from insightcap.storage.db import session_scope
    from insightcap.storage.repository import list_programs
    from insightcap.themes.index import IndexMismatch

    if not query.strip():
        _fail(QUERY_NEEDED)
    if not 1 <= limit <= MOST_RESULTS:
        _fail(f"--limit must be from 1 to {MOST_RESULTS}.")
    settings = get_settings()
    with session_scope(settings) as db:
        programs = [known.name for known in list_programs(db)]
    try:
        filters = checked_filters(programs, program=program, section=section, speaker=speaker,
                                  date_from=date_from, date_to=date_to)
    except ValidationError as invalid:
        _fail(filter_problems(invalid))
    try:
        hits = run_search(settings, query, filters, limit)
    except IndexMismatch as stale:
        _fail(str(stale))
    if not hits:
        out.print("No matches. Try other words, or fewer filters.")
    elif only_by_meaning(hits):
        out.print(f"[yellow]{NO_QUERY_WORDS}[/]")
    for hit in hits:
        label = hit.section or TRANSCRIPT
        out.print(
            f"[bold]{escape(hit.session_title)}[/] [dim]({hit.session_id} at {_clock(hit.opens_at)})[/] [cyan]{label}[/] "
            f"{escape(hit.said_by or 'unnamed speaker')}: {escape(hit.statement or snippet(hit.quote, query))}",
            highlight=False,
        )


@app.command()
def themes(program: Annotated[str, typer.Argument(help="The program's name.")]) -> None:
    """A program's themes, most frequent first: those recurring across its sessions, then those seen once."""
    from insightcap.storage.repository import NotFound
    from insightcap.themes.program import list_program_themes, program_session_days

    try:
        found = list_program_themes(get_settings(), program)
        days = program_session_days(get_settings(), program)
    except NotFound as error:
        _fail(str(error))
    if not found:
        out.print(f"No themes yet for '{program}': they appear once its sessions have insights.")
    for theme in sorted(found, key=lambda theme: not theme.recurring):
        # Printed, not a rule's title: a rule cuts what does not fit, and the dates come last.
        out.print(f"\n[bold]{escape(theme.label)}[/]", highlight=False)
        sessions = f"{len(theme.session_ids)} sessions" if theme.recurring else "1 session only (not recurring yet)"
        # By the sessions, not the theme's stored days: those are upload days for undated sessions.
        seen = [day for session_id, day in days.items() if session_id in theme.session_ids]
        first, last = (seen[0], seen[-1]) if seen else (theme.first_seen or "?", theme.last_seen or "?")
        out.print(f"{sessions}, {theme.count} insights, {theme.trend}, seen {first} → {last}", highlight=False)
        if theme.description:
            out.print(escape(theme.description), highlight=False)
        for quote in theme.quotes[:3]:
            out.print(f"  “{escape(quote.text)}” [dim]— {escape(quote.speaker or '?')}, {escape(quote.session_title)} "
                      f"{_clock(quote.start)}[/]", highlight=False)


@app.command()
def programs() -> None:
    """List the programs and how many sessions each has."""
    from collections import Counter

    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    with session_scope(get_settings()) as db:
        counts = Counter(record.program_id for record in repo.list_sessions(db))
        cells = [(escape(program.name), str(counts[program.id])) for program in repo.list_programs(db)]
    if not cells:
        out.print("No programs yet. A session joins one when it is added with --program.")
        return
    out.print(_listing({"program": True, "sessions": False}, cells))


@app.command()
def template(program: Annotated[str, typer.Argument(help="The program's name.")]) -> None:
    """Give a program its own memo templates: copies of the defaults to edit, used for its next memos."""
    from insightcap.memo.render import start_program_templates
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    settings = get_settings()
    with session_scope(settings) as db:
        try:
            repo.program_by_name(db, program)
        except repo.NotFound as error:
            err.print(f"Note: {error} These templates are for a new program '{program}': "
                      "its memos use them once a session is added to it.")
    for path, copied in start_program_templates(settings.data_dir, program).items():
        out.print(f"{path} ({'a copy of the default' if copied else 'already there, left as it is'})", highlight=False)
    out.print(
        "Edit them (Jinja2; the copies use every field a memo has, and the README's section \"A program's own "
        "memo template\" describes them); the program's next memos use them. "
        "Delete a file to go back to the default; memos already drafted are not changed."
    )


@app.command()
def reindex() -> None:
    """Rebuild the search indexes and program themes from the database (e.g. after changing the embedding model)."""
    from insightcap.search.indexing import rebuild_indexes
    from insightcap.storage.folder_lock import FolderBusy, working

    settings = get_settings()
    try:
        with working(settings.data_dir), err.status("Rebuilding search indexes…"):
            report = rebuild_indexes(settings)
    except FolderBusy as busy:
        _fail(str(busy))
    out.print(f"Indexed {report.passages} passages and {report.insights} insights from {report.sessions} sessions.")


@app.command()
def backup(
    destination: Annotated[Path, typer.Argument(help="A folder (created if missing) to write a dated .tar.gz file "
                                                "into, or a new file name ending in .tar.gz.")],
) -> None:
    """Save a consistent copy of every session, memo, account and recording (safe while the server runs)."""
    from insightcap.storage.backup import BackupError
    from insightcap.storage.backup import backup as make_backup

    try:
        with err.status("Backing up…"):
            report = make_backup(get_settings(), destination)
    except BackupError as error:
        _fail(str(error))
    for missing in report.missing_files:
        err.print(f"[yellow]Missing from the data folder, not in the backup:[/] {escape(missing)}")
    out.print(f"Backed up {report.sessions} sessions, {report.memo_versions} memo versions and {report.files} files "
              f"({report.bytes / 1e6:.1f} MB) to")
    print(report.archive)


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="A file made by `insightcap backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a data folder that already has sessions "
                                        "(it is moved aside, not deleted).")] = False,
) -> None:
    """Bring a backup back. Refused while `insightcap serve` or another command works on the data folder:
    the whole folder is replaced."""
    from insightcap.search.indexing import rebuild_indexes
    from insightcap.storage.backup import BackupError
    from insightcap.storage.backup import restore as restore_backup
    from insightcap.storage.folder_lock import FolderBusy, working

    settings = get_settings()
    try:
        report = restore_backup(settings, archive, force=force)
    except BackupError as error:
        _fail(str(error))
    if report.previous_data_dir:
        out.print(f"Your previous data is kept in {report.previous_data_dir}")
    # The rebuild holds the restored folder shared, from right after the restore. Not inside the
    # restore's exclusive lock: that lock is on the folder it replaced, which moved aside with it, so it
    # would keep no one off the restored one. Nor exclusively: like `reindex`, a rebuild may share the
    # folder with the server or a job (the index files have locks of their own); what it must not meet
    # is another restore moving the folder away while it writes.
    try:
        with working(settings.data_dir), err.status("Rebuilding the search index…"):
            rebuild_indexes(settings)
    except FolderBusy:
        _fail(f"The backup was restored, but another restore of {report.data_dir} began before its search index "
              "was rebuilt. That restore rebuilds the index when it finishes; if it fails, run `insightcap reindex`.")
    out.print(f"Restored {report.sessions} sessions and {report.files} files from the backup of "
              f"{report.backup_created_at:%Y-%m-%d %H:%M} into {report.data_dir}.")


@app.command()
def forget(
    session: Annotated[str, typer.Argument(help="Session id (or its first characters).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a session everywhere: recording, transcript, insights, memos, search index and themes."""
    from insightcap.auth import audit
    from insightcap.auth.schema import local_operator
    from insightcap.forget import ForgetRefused, forget_session
    from insightcap.storage.db import session_scope

    settings = get_settings()
    with session_scope(settings) as db:
        record = _session_or_fail(db, session)
        session_id, title = record.id, record.title
    if not yes and not typer.confirm(f"Delete “{title}” ({session_id}) and everything derived from it, for good?"):
        raise typer.Exit(code=1)
    try:
        forget_session(settings, session_id)
    except ForgetRefused as error:
        _fail(str(error))
    with session_scope(settings) as db:
        audit.record(db, local_operator(), "delete_session", session_id)
    out.print(f"Deleted session {session_id} everywhere.")


@app.command()
def retry(session: Annotated[str, typer.Argument(help="Session id (or its first characters).")]) -> None:
    """Run a failed session's processing again, from the stage that failed."""
    from insightcap.jobs.runner import RECORDING_NOT_KEPT, job_owner, original_discarded
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.storage.folder_lock import other_server

    settings = get_settings()
    server = other_server(settings.data_dir)
    with session_scope(settings) as db:
        record = _session_or_fail(db, session)
        jobs = repo.jobs_for_session(db, record.id)
        if not jobs or jobs[-1].status == "done":
            _fail(f"Session {record.id} has nothing to retry (status: {record.status}).")
        job, session_id = jobs[-1], record.id
    if owner := job_owner(job, server):
        _fail(_in_hand(session_id, job.status, job.stage, owner, server))
    if original_discarded(settings, session_id):
        _fail(RECORDING_NOT_KEPT)
    _run_with_progress(settings, job.id)
    _summarise(settings, session_id)


def _in_hand(session_id: str, status: str, stage: str | None, owner: str, server: str | None) -> str:
    """Why `retry` leaves a job alone: another live process has it, and which."""
    who = f"the running server (insightcap serve, {owner})" if owner == server else f"process {owner}"
    if status == "queued":
        return (f"Session {session_id} is waiting in the queue of {who}, which will process it: nothing to retry. "
                "`insightcap sessions` shows its status.")
    return (f"Session {session_id} is being processed right now (stage: {stage or 'starting'}) by {who}: nothing to "
            "retry. Wait until it has finished or failed (`insightcap sessions` shows its status).")


@app.command()
def resume() -> None:
    """Finish jobs that a crash or kill interrupted (also done automatically by `process` and `import`)."""
    from insightcap.jobs.runner import interrupted_jobs

    settings = get_settings()
    if not interrupted_jobs(settings):
        out.print("Nothing to resume.")
        return
    _resume_interrupted(settings)


@app.command()
def models(
    check: Annotated[bool, typer.Option("--check", help="Assemble and verify the packaged weights now.")] = False,
) -> None:
    """List the models insightcap uses, where their weights come from, and their licenses."""
    from insightcap.weights import ModelUnavailable, load_manifest, model_path

    settings = get_settings()
    chosen = {settings.asr_model, settings.embedding_model, settings.nlp_model, settings.speaker_model}
    if settings.generator.strip().lower() not in ("none", "openai"):  # those draft without the local model
        chosen.add(settings.generator_model)
    table = Table("name", "task", "weights from", "license", "in use", "check")
    failures = 0
    for spec in load_manifest().values():
        status = ""
        if check and spec.source == "pypi" and spec.runtime != "spacy":
            try:
                status = f"ok: {model_path(spec.name, settings.model_cache_dir)}"
            except ModelUnavailable as error:
                status, failures = f"missing: {error}", failures + (spec.name in chosen and spec.task != "generator")
        table.add_row(spec.name, spec.task, _weights_source(spec), spec.license, "yes" if spec.name in chosen else "", status)
    out.print(table)
    if failures:
        raise typer.Exit(code=1)


def _weights_source(spec: ModelSpec) -> str:
    """The PyPI packages a model's weights ship in (one a line), else its hub id or folder."""
    if spec.source == "pypi":
        return "\n".join(spec.packages)
    return f"hub: {spec.hub_id}" if spec.source == "hub" else f"folder: {spec.path}"


@app.command("convert-whisper")
def convert_whisper(
    out_file: Annotated[Path, typer.Argument(help="Where to write the openai-whisper checkpoint, e.g. base.pt "
                                             "(given a folder, <model>.pt in it).")],
    model: Annotated[str, typer.Option(help="CTranslate2 Whisper model from models/manifest.toml, or its folder.")] = "whisper-base",
) -> None:
    """Convert a packaged Whisper model into an openai-whisper checkpoint, to run the reference implementation."""
    from insightcap.transcript.runtimes.ct2_checkpoint import convert_model
    from insightcap.weights import ModelUnavailable

    if out_file.is_dir():  # else the conversion would end by failing to replace the folder with the file
        out_file = out_file / f"{Path(model).name}.pt"
    try:
        written = convert_model(model, out_file, get_settings().model_cache_dir)
    except ModelUnavailable as error:
        _fail(str(error))
    out.print(f"Wrote {written}. Transcribe with it: INSIGHTCAP_ASR_MODEL={written.resolve()} insightcap process …")


def _ensure_an_admin(settings: Settings) -> None:
    """Nobody could sign in without an admin: create the first one now, or say how."""
    from insightcap.accounts_cli import create_account, read_password
    from insightcap.auth.accounts import count_admins
    from insightcap.auth.schema import Role
    from insightcap.storage.db import session_scope

    with session_scope(settings) as db:
        if count_admins(db):
            return
    if not sys.stdin.isatty():
        _fail("There is no admin account yet, so nobody could sign in. Create one first:\n"
              "  insightcap user add you@example.org --role admin")
    err.print("There is no admin account yet. Create the first one (it can add the others).")
    email = typer.prompt("Admin email")
    create_account(email, Role.ADMIN, [], read_password(False))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it private to this computer.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_upload_gb: Annotated[float, typer.Option("--max-upload-gb", help="Largest upload accepted, in GB.")] = 4.0,
) -> None:
    """Start the web app: upload recordings, follow processing, read transcripts, edit memos, search."""
    import uvicorn

    from insightcap.storage.folder_lock import FolderBusy, serving
    from insightcap.web.app import create_app

    settings = get_settings()
    _ensure_an_admin(settings)
    try:
        # Held until the server stops: jobs queued in the folder are this server's, and a restore is refused.
        with serving(settings.data_dir):
            web_app = create_app(settings, max_upload_bytes=int(max_upload_gb * 1024**3))
            err.print(f"insightcap is running at [bold]http://{host}:{port}[/] (data: {settings.data_dir}). "
                      "Ctrl+C stops it.")
            uvicorn.run(web_app, host=host, port=port, log_level="warning")
    except FolderBusy as busy:
        _fail(str(busy))


app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.command("audit")(audit_command)
