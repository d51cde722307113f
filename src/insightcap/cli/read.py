"""The commands that read what is stored, and change nothing: `sessions`, `show`, `memo`, `search`,
`themes` and `programs`. Results go to standard output (scripts read them); what they print names
sessions, moments and themes as the memo and the web app do."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from insightcap.cli.common import (
    SessionArgument,
    clock,
    err,
    fail,
    listing,
    out,
    record_in_audit_log,
    session_or_fail,
    theme_titles,
    whole_number,
)
from insightcap.config import get_settings
from insightcap.transcript.schema import Transcript
from insightcap.transcript.speakers import speaker_stats


class MemoFormat(StrEnum):
    md = "md"
    html = "html"
    docx = "docx"
    pdf = "pdf"


# The format a file name ending so holds: `-o memo.docx` alone asks for Word.
_FORMAT_OF_EXTENSION = {f".{fmt.value}": fmt for fmt in MemoFormat} | {".markdown": MemoFormat.md, ".htm": MemoFormat.html}
# Names `-o` may end in without a format of their own: Markdown is plain text, so it goes there as it is.
_PLAIN_TEXT_EXTENSIONS = ("", ".txt")
_FORMAT_NAMES = ", ".join(fmt.value for fmt in MemoFormat)


def _memo_format(value: str | MemoFormat | None) -> MemoFormat | None:
    """-f's value. Typer's own refusal is pydantic's wording ("Value error, 'doc' is not one of…"),
    which reads like a crash to a facilitator; this one says what to type."""
    if value is None or isinstance(value, MemoFormat):
        return value  # the default, which typer passes through here too
    try:
        return MemoFormat(value.strip().lower().removeprefix("."))
    except ValueError:
        raise typer.BadParameter(f"'{value}' is not a memo format: -f takes one of {_FORMAT_NAMES}.") from None


def sessions(as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False) -> None:
    """List sessions, newest first."""
    from insightcap.jobs.runner import interrupted_sessions
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    settings = get_settings()
    interrupted = set(interrupted_sessions(settings).values())
    with session_scope(settings) as db:
        rows = [
            {
                "id": record.id,
                "title": record.title,
                "status": record.status,
                "interrupted": record.id in interrupted,
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
         clock(row["duration_seconds"]) if row["duration_seconds"] else "", INTERRUPTED if row["interrupted"] else row["status"])
        for row in rows
    ]
    table = listing({"id": False, "title": True, "program": True, "date": False, "duration": False, "status": False}, cells)
    # Naming the folder: one set by mistake (another INSIGHTCAP_DATA_DIR, a typo) would look like lost sessions.
    out.print(table if rows else f"No sessions yet in {escape(str(settings.data_dir))}. "
              "Add one with `insightcap process RECORDING` (or `insightcap import TRANSCRIPT`).")
    if interrupted:
        out.print(RESUME_HINT)


# A session whose processing stopped with its process (killed, crashed, the computer restarted).
INTERRUPTED = "interrupted"
RESUME_HINT = "Processing was interrupted: run `insightcap resume` to finish it from where it stopped."


def show(
    session: SessionArgument,
    transcript_lines: Annotated[int, typer.Option("--lines", parser=whole_number(
        "--lines takes how many transcript lines to show, e.g. 40 (0 shows them all)"),
                                                  help="Transcript lines to show (0: all).")] = 0,
) -> None:
    """Show a session's speakers (talk time, share, turns), transcript and insights."""
    from insightcap.insights.schema import SessionInsights
    from insightcap.jobs.runner import interrupted_sessions
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope

    settings = get_settings()
    with session_scope(settings) as db:
        record = session_or_fail(db, session)
        transcript = repo.load_output(db, record.id, "transcript", Transcript)
        insights = repo.load_output(db, record.id, "insights", SessionInsights)
        titles = theme_titles(db, record.id)
        jobs = repo.jobs_for_session(db, record.id)
        names = record.speaker_names or {}
        session_id, title, status = record.id, record.title, record.status
    record_in_audit_log("view_session", session_id)
    interrupted = session_id in interrupted_sessions(settings).values()
    out.print(f"[bold]{escape(title)}[/] ({session_id}) — {INTERRUPTED if interrupted else status}")
    if interrupted:
        out.print(RESUME_HINT)
    if jobs and jobs[-1].error:
        out.print(f"[red]Last error:[/] {escape(jobs[-1].error)}")
    if transcript and transcript.speakers:
        out.print(_speaker_table(transcript, names))
    if transcript:
        out.rule("Transcript")
        segments = transcript.segments[:transcript_lines] if transcript_lines else transcript.segments
        for segment in segments:
            speaker = names.get(segment.speaker or "", segment.speaker) or ""
            out.print(f"[dim]{clock(segment.start)}[/] [bold]{escape(speaker)}[/] {escape(segment.text.strip())}",
                      highlight=False)
    if insights:
        for topic in insights.topics:
            out.rule(f"Theme: {escape(titles.get(topic.index, topic.title))}")
            for insight in insights.for_topic(topic.index):
                speaker = names.get(insight.speaker or "", insight.speaker) or "?"
                out.print(
                    f"[cyan]{insight.section.value:<11}[/] {escape(insight.statement)} "
                    f"[dim]— {escape(speaker)}, {clock(insight.start)}[/]",
                    highlight=False,
                )


def _speaker_table(transcript: Transcript, names: dict[str, str]) -> Table:
    """Who took part how much: a facilitator checks here that everyone had a voice."""
    table = Table("speaker", "talk time", "share", "turns", title="Who spoke", title_justify="left")
    for stat in speaker_stats(transcript):
        table.add_row(escape(names.get(stat.speaker, stat.speaker)), clock(stat.talk_seconds),
                      f"{stat.share:.0%}", str(stat.turns))
    return table


def memo(
    session: SessionArgument,
    fmt: Annotated[MemoFormat | None, typer.Option(
        "--format", "-f", parser=_memo_format,
        help="md, html, docx or pdf (default: from the --output file's extension, else md).")] = None,
    # Text, not a Path: a Path drops the trailing slash that says `out/` is a folder to make.
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="<path>",
        help="Write to this file instead of printing (missing folders are made); given a folder (or a name ending "
             "in /), to <title>-memo.<format> in it.")] = None,
) -> None:
    """Print or write a session's debrief memo (the latest saved version): md, html, docx or pdf."""
    from insightcap.jobs.runner import interrupted_sessions
    from insightcap.memo.export import MemoMissing, export_memo_file, memo_file_name
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.storage.statuses import MemoStatus

    folder = _output_folder(output)
    if output is not None and folder is None:
        fmt = _format_for_file(Path(output), fmt)
    fmt = fmt or MemoFormat.md
    if output is None and fmt in (MemoFormat.docx, MemoFormat.pdf):
        fail(f"--format {fmt.value} is a binary file: add --output memo.{fmt.value}")
    settings = get_settings()
    # The session and its version are read once: the file holds the version its name describes.
    with session_scope(settings) as db:
        record = session_or_fail(db, session)
        latest = repo.latest_memo(db, record.id)
        session_id, title = record.id, record.title
        version, draft = (latest.version, latest.status != MemoStatus.APPROVED) if latest else (None, True)
    try:
        content = export_memo_file(settings, session_id, fmt.value, version=version)
    except MemoMissing as error:
        interrupted = session_id in interrupted_sessions(settings).values()
        fail(escape(f"{error} {RESUME_HINT}" if interrupted else str(error)))
    record_in_audit_log("view_memo" if output is None else "export_memo", session_id, fmt.value)
    if output is None:
        sys.stdout.write(content.decode("utf-8"))
        return
    # Into a folder, named as the web app names the download ("-draft" while not approved).
    target = folder / memo_file_name(title, fmt.value, draft=draft) if folder else Path(output)
    _write_output(target, content)
    err.print(f"Memo written to {escape(str(target))}")


def _output_folder(output: str | None) -> Path | None:
    """The folder -o names, if it names one: an existing folder, or a name ending in a slash (the
    folder is made). None for a file name."""
    if output is None:
        return None
    if output.endswith(tuple(filter(None, (os.sep, os.altsep)))) or Path(output).is_dir():
        return Path(output)
    return None


def _format_for_file(path: Path, asked: MemoFormat | None) -> MemoFormat:
    """The format to write into `path`: the one its extension names, unless -f asks for another,
    which is refused (a .docx holding Markdown does not open in Word). A name with an extension of no
    known format is refused without -f, for the same reason; without an extension, or ending in .txt,
    it gets Markdown, which is plain text."""
    extension = path.suffix.lower()
    named = _FORMAT_OF_EXTENSION.get(extension)
    if named and asked and asked != named:
        fail(f"-f {asked.value} does not match {path.name}, whose {extension} is the {named.value} format. "
             f"Give -f {named.value} (or leave -f out), or name the file {path.with_suffix(f'.{asked.value}').name}.")
    if named or asked:
        return asked or named
    if extension not in _PLAIN_TEXT_EXTENSIONS:
        fail(f"{path.name} ends in {extension}, which is not a memo format. End the file name in one of "
             f"{', '.join(f'.{fmt.value}' for fmt in MemoFormat)} (e.g. {path.with_suffix('.docx').name} for Word), "
             f"or give -f with one of {_FORMAT_NAMES}.")
    return MemoFormat.md


def _write_output(path: Path, content: bytes) -> None:
    """Write a file the user named, making the folders it needs; when the system refuses (no
    permission, a file where a folder should be, a full disk), say so and what to do, not a traceback."""
    from insightcap.memo.export import write_memo_file

    try:
        write_memo_file(get_settings(), path, content)
    except OSError as error:
        reason = f"{error.filename}: {error.strerror}" if error.filename else str(error)
        fail(f"Could not write {path} ({reason}). Give another file name.")


def search(
    query: Annotated[str, typer.Argument(help="Words or a question, e.g. 'how do we keep new members engaged'.")],
    program: Annotated[str | None, typer.Option(help="Only sessions of this program (group, cohort).")] = None,
    section: Annotated[str | None, typer.Option(
        help="Only this section: context, idea, strategy, resource, action_item (or commitments), question, "
             "reaction; or transcript for what was said, without insights.")] = None,
    speaker: Annotated[str | None, typer.Option(
        help="Only this speaker's insights, and stretches of transcript where they speak (any case or accents).")] = None,
    date_from: Annotated[str | None, typer.Option(help="Only sessions on or after this day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option(help="Only sessions on or before this day, YYYY-MM-DD.")] = None,
    limit: Annotated[int, typer.Option(help="How many results, 1 to 100.", parser=whole_number(
        "--limit takes how many results to show, 1 to 100, e.g. 10"))] = 10,
) -> None:
    """Search insights and transcripts of all sessions (keyword and meaning combined)."""
    from pydantic import ValidationError

    from insightcap.search.documents import snippet, speaker_filter_problem
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
        fail(QUERY_NEEDED)
    if not 1 <= limit <= MOST_RESULTS:
        fail(f"--limit must be from 1 to {MOST_RESULTS}.")
    settings = get_settings()
    with session_scope(settings) as db:
        programs = [known.name for known in list_programs(db)]
    try:
        filters = checked_filters(programs, program=program, section=section, speaker=speaker,
                                  date_from=date_from, date_to=date_to)
    except ValidationError as invalid:
        fail(filter_problems(invalid))
    with session_scope(settings) as db:
        unknown = speaker_filter_problem(db, filters)
    if unknown:
        fail(unknown)
    try:
        hits = run_search(settings, query, filters, limit)
    except IndexMismatch as stale:
        fail(str(stale))
    record_in_audit_log("search", "", query[:200])
    if not hits:
        out.print("No matches. Try other words, or fewer filters.")
    elif only_by_meaning(hits):
        out.print(f"[yellow]{NO_QUERY_WORDS}[/]")
    for hit in hits:
        label = hit.section or TRANSCRIPT
        out.print(
            f"[bold]{escape(hit.session_title)}[/] [dim]({hit.session_id} at {clock(hit.opens_at)})[/] [cyan]{label}[/] "
            f"{escape(hit.said_by or 'unnamed speaker')}: {escape(hit.statement or snippet(hit.quote, query))}",
            highlight=False,
        )


def themes(program: Annotated[str, typer.Argument(help="The program's name.")]) -> None:
    """A program's themes, most frequent first: those recurring across its sessions, then those seen once."""
    from insightcap.storage.repository import NotFound
    from insightcap.themes.program import list_program_themes, program_session_days

    try:
        found = list_program_themes(get_settings(), program)
        days = program_session_days(get_settings(), program)
    except NotFound as error:
        fail(str(error))
    if not found:
        out.print(f"No themes yet for '{program}': they appear once its sessions have insights.")
        return
    recurring = sum(theme.recurring for theme in found)
    out.print(f"[bold]Themes of {escape(program)}[/] across {len(days)} session{'s' if len(days) != 1 else ''}: "
              f"{recurring} recurring, {len(found) - recurring} seen once.", highlight=False)
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
                      f"{clock(quote.start)}[/]", highlight=False)


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
    out.print(listing({"program": True, "sessions": False}, cells))
