"""Reads and writes behind every page and API call, in plain functions over the storage layer.

Pages and the JSON API both call these, so a rename, a save or a search behaves the same whichever
the user (or a script) goes through.
"""

from __future__ import annotations

import difflib
import mimetypes
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from insightcap.auth import audit, policy
from insightcap.auth.schema import Principal
from insightcap.config import Settings
from insightcap.forget import ForgetRefused, forget_refusal, forget_session
from insightcap.jobs.runner import RECORDING_NOT_KEPT, recording_missing
from insightcap.jobs.stages import STAGES
from insightcap.memo.export import (
    MemoFileFormat,
    export_memo_file,
    memo_file_name,
)
from insightcap.search.documents import speaker_filter_problem
from insightcap.search.hybrid import search as hybrid_search
from insightcap.search.schema import (
    SearchFilters,
    SearchHit,
    checked_filters,
)
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.statuses import JobStatus, MemoStatus, SessionStatus
from insightcap.storage.tables import (
    JobRecord,
    MemoVersion,
    RefusedRecording,
    SessionRecord,
)
from insightcap.themes.index import IndexMismatch
from insightcap.themes.program import (
    list_program_themes,
    program_session_days,
    rename_program_theme,
)
from insightcap.transcript.schema import Transcript
from insightcap.transcript.speakers import speaker_stats
from insightcap.web.models import (
    DiffLine,
    InsightOut,
    JobOut,
    Me,
    MemoOut,
    MemoReview,
    MemoStatusOut,
    MemoVersionOut,
    ProgramOut,
    QuotedSession,
    RefusedOut,
    SegmentOut,
    SessionDetail,
    SessionSummary,
    SpeakerStatOut,
    StageState,
    ThemeTimeline,
)


@dataclass(frozen=True)
class Caller:
    """Who is asking, and the installation they ask: every read and write below acts for a caller."""

    settings: Settings
    principal: Principal


class NotRetryable(ValueError):
    """Only a failed job can be retried."""


class SearchUnavailable(RuntimeError):
    """The search index no longer fits the configured model; the message says how to rebuild it."""


class MemoNotReady(LookupError):
    """The session has no memo yet; the message says why."""


STILL_PROCESSING = "This session is still being processed; you can delete it once it has finished or failed."


class StillProcessing(ForgetRefused):
    """ForgetRefused in the web app's words: its own message points to the CLI and names the worker."""

    def __init__(self) -> None:
        super().__init__(STILL_PROCESSING)


class MemoEditConflict(Exception):
    """repo.MemoConflict with the latest version read out before its database session closed."""

    def __init__(self, message: str, current: MemoOut | None) -> None:
        super().__init__(message)
        self.current = current


@contextmanager
def _conflicts_read_out() -> Iterator[None]:
    """Use inside a session_scope block: the rollback that follows would detach the conflict's row."""
    try:
        yield
    except repo.MemoConflict as conflict:
        raise MemoEditConflict(str(conflict), memo_out(conflict.current) if conflict.current else None) from None


def job_out(job: JobRecord, jobs_ahead: int | None = None, can_retry: bool = False, session_title: str = "") -> JobOut:
    done = set(job.completed_stages)
    running = job.stage if job.status in (JobStatus.RUNNING, JobStatus.FAILED) else None

    def state(name: str) -> str:
        if name in done:
            return "done"
        if name == running:
            return "failed" if job.status == JobStatus.FAILED else "running"
        # After a failure nothing runs until a retry: "waiting" would promise otherwise (the CLI says so too).
        return "not_run" if job.status == JobStatus.FAILED else "waiting"

    current = job.progress if running and running not in done else 0.0
    overall = 1.0 if job.status == JobStatus.DONE else (len(done) + current) / max(len(job.stages), 1)
    return JobOut(
        id=job.id,
        session_id=job.session_id,
        session_title=session_title,
        status=job.status,
        stage=running,
        stage_label=STAGES[running].label if running in STAGES else running,
        progress=round(min(overall, 1.0), 4),
        stage_progress=round(current, 4),
        message=job.message or "",
        error=job.error,
        jobs_ahead=jobs_ahead,
        can_retry=can_retry,
        stages=[StageState(name=name, label=STAGES[name].label if name in STAGES else name, state=state(name))
                for name in job.stages],
    )


def _job_for_editing(db: Session, caller: Caller, job_id: str) -> JobRecord:
    """Jobs are the facilitators' business: a job of an unreadable session does not exist for the caller."""
    job = db.get(JobRecord, job_id)
    if job is None:
        raise repo.NotFound("There is no job at this address, or you do not have access to it.")
    policy.editable_session(db, caller.principal, job.session_id)
    return job


def _job_or_refusal(db: Session, caller: Caller, job_id: str) -> JobRecord | RefusedRecording:
    """The job, or what is left of it once its recording was refused and its session deleted (for the
    program's facilitators, as the job was)."""
    if db.get(JobRecord, job_id) is None:
        refused = repo.refusal(db, job_id)
        if refused is not None and caller.principal.facilitates(refused.program_id):
            return refused
    return _job_for_editing(db, caller, job_id)


def _refused_job(refused: RefusedRecording) -> JobOut:
    """A refused recording's job as it stopped: the job itself went with its session."""
    stopped = JobRecord(id=refused.job_id, session_id=refused.session_id, status=JobStatus.FAILED, stage=refused.stage,
                        progress=0.0, message="", error=refused.reason, stages=refused.stages,
                        completed_stages=refused.completed_stages)
    return job_out(stopped, session_title=refused.title)


def _retry_can_help(caller: Caller, db: Session, job: JobRecord) -> bool:
    """Not once its recording was refused (recorded before its session is deleted) or is gone."""
    return (job.status == JobStatus.FAILED and repo.refusal(db, job.id) is None
            and not recording_missing(caller.settings, repo.get_session(db, job.session_id)))


def _job_in_queue(caller: Caller, db: Session, job: JobRecord) -> JobOut:
    """The job as pages and the API show it: while queued, with how many jobs run before it; failed,
    whether a retry can help."""
    db.flush()  # a job just queued again counts from now
    return job_out(
        job,
        repo.jobs_ahead(db, job) if job.status == JobStatus.QUEUED else None,
        can_retry=_retry_can_help(caller, db, job),
        session_title=repo.get_session(db, job.session_id).title,
    )


def get_job(caller: Caller, job_id: str) -> JobOut:
    with session_scope(caller.settings) as db:
        found = _job_or_refusal(db, caller, job_id)
        return _refused_job(found) if isinstance(found, RefusedRecording) else _job_in_queue(caller, db, found)


def mark_for_retry(caller: Caller, job_id: str) -> JobOut:
    """A failed job goes back to the queue; it resumes at the stage that failed. One whose recording
    was refused cannot run again, and keeps saying why it was refused."""
    with session_scope(caller.settings) as db:
        job = _job_or_refusal(db, caller, job_id)
        if isinstance(job, RefusedRecording) or (job.status == JobStatus.FAILED and not _retry_can_help(caller, db, job)):
            raise NotRetryable(RECORDING_NOT_KEPT)
        if job.status != JobStatus.FAILED:
            raise NotRetryable(f"This job is {job.status}; only a failed job can be retried.")
        job.status, job.error, job.message = JobStatus.QUEUED, None, "waiting to retry"
        repo.get_session(db, job.session_id).status = SessionStatus.QUEUED
        audit.record(db, caller.principal, "retry_job", job.session_id)
        return _job_in_queue(caller, db, job)


def _summary(record: SessionRecord, participants: list[str], memo: repo.MemoState | None = None) -> SessionSummary:
    """`memo` only for the program's facilitators: members are not told that drafts exist."""
    names = record.speaker_names or {}
    return SessionSummary(
        id=record.id,
        title=record.title,
        program=record.program.name if record.program else None,
        date=record.session_date,
        duration_seconds=record.duration_seconds,
        status=record.status,
        participants=[names.get(speaker, speaker) for speaker in participants],
        created_at=record.created_at,
        memo_status=memo.status if memo else None,
        members_read_version=memo.approved if memo else None,
    )


def _facilitated_memo_states(db: Session, caller: Caller, records: list[SessionRecord]) -> dict[str, repo.MemoState]:
    """The memo states of those `records` the caller facilitates, so lists show them what members can read."""
    facilitated = [record.id for record in records if caller.principal.facilitates(record.program_id)]
    return repo.memo_states(db, facilitated) if facilitated else {}


def recent_refusals(caller: Caller) -> list[RefusedOut]:
    """Recordings of the caller's programs refused lately. Their sessions are gone, and whoever left the
    job page before it said why would otherwise find no trace of them in Sessions."""
    with session_scope(caller.settings) as db:
        return [RefusedOut(job_id=row.job_id, title=row.title, reason=row.reason, refused_at=row.refused_at)
                for row in repo.recent_refusals(db) if caller.principal.facilitates(row.program_id)]


def list_sessions(caller: Caller) -> list[SessionSummary]:
    with session_scope(caller.settings) as db:
        speakers = repo.speakers_by_session(db)
        records = policy.visible_sessions(db, caller.principal)
        memos = _facilitated_memo_states(db, caller, records)
        return [_summary(record, speakers.get(record.id, []), memos.get(record.id)) for record in records]


def session_id_for_prefix(caller: Caller, session_ref: str) -> str | None:
    """The full id of the one readable session whose id starts with `session_ref` (the CLI accepts
    such prefixes, so people use them in addresses too); None if none does, NotFound if several do."""
    with session_scope(caller.settings) as db:
        matches = repo.session_ids_starting_with(db, session_ref, policy.visible_sessions_condition(caller.principal))
    if len(matches) > 1:
        raise repo.NotFound(f"'{session_ref}' is the start of more than one session's id; "
                            "use more characters of the id, or open the session from Sessions.")
    return matches[0] if matches else None


def me(caller: Caller) -> Me:
    with session_scope(caller.settings) as db:
        names = {program.id: program.name for program in policy.visible_programs(db, caller.principal)}
    return Me(email=caller.principal.email, is_admin=caller.principal.is_admin,
              programs={names[pid]: role.value for pid, role in caller.principal.roles.items() if pid in names})


def list_programs(caller: Caller) -> list[ProgramOut]:
    """The caller's programs, each counting only the sessions the caller can see."""
    with session_scope(caller.settings) as db:
        visible = Counter(record.program_id for record in policy.visible_sessions(db, caller.principal))
        return [ProgramOut(name=program.name, sessions=visible[program.id], can_upload=caller.principal.facilitates(program.id))
                for program in policy.visible_programs(db, caller.principal)]


def theme_timeline(caller: Caller, program: str) -> ThemeTimeline:
    with session_scope(caller.settings) as db:
        name = policy.facilitated_program(db, caller.principal, program).name
    # Recurring themes first, as `insightcap themes` lists them: a theme seen once has not recurred yet.
    themes = sorted(list_program_themes(caller.settings, name), key=lambda theme: not theme.recurring)
    # The sessions the themes were made of: one still waiting or stopped early would be an empty column.
    analysed = program_session_days(caller.settings, name)
    sessions = [summary for summary in list_sessions(caller) if summary.id in analysed]
    sessions.sort(key=lambda summary: (summary.date or summary.created_at.date(), summary.created_at))
    return ThemeTimeline(program=name, sessions=sessions, themes=themes)


def rename_theme(caller: Caller, program: str, theme_id: int, label: str) -> str:
    """A facilitator's name for a program theme (empty: back to its keyphrases); audited."""
    with session_scope(caller.settings) as db:
        name = policy.facilitated_program(db, caller.principal, program).name
    given = rename_program_theme(caller.settings, name, theme_id, label)
    with session_scope(caller.settings) as db:
        audit.record(db, caller.principal, "rename_theme", str(theme_id), f"{name}: {given}")
    return given


def _media_type(stored_path: str) -> str:
    """For the player element and the Content-Type; browsers sniff what the extension does not say."""
    return mimetypes.guess_type(stored_path)[0] or "application/octet-stream"


def _has_recording(caller: Caller, record: SessionRecord) -> bool:
    """Whether there is a recording to play: not for an imported transcript, nor once a recording was
    refused (deleted) or went missing; a player for it would sit at 0:00."""
    return record.source_kind == "media" and not recording_missing(caller.settings, record)


def media_path(caller: Caller, session_id: str) -> tuple[Path, str]:
    """The stored original and its MIME type; NotFound for imported transcripts or a missing file."""
    with session_scope(caller.settings) as db:
        record = policy.readable_session(db, caller.principal, session_id)
        kind, stored = record.source_kind, record.stored_path
        audit.record(db, caller.principal, "download_media", record.id)
    path = caller.settings.data_dir / stored
    if kind != "media":
        raise repo.NotFound("This session has no recording to play (it was imported from a transcript).")
    if not path.is_file():
        raise repo.NotFound(f"The recording is missing from the data folder ({path}); restore it from a backup.")
    return path, _media_type(path.name)


def session_detail(caller: Caller, session_id: str, *, audited: bool = True) -> SessionDetail:
    """The session as the caller may see it. `audited=False` for pages that only show its title."""
    with session_scope(caller.settings) as db:
        record = policy.readable_session(db, caller.principal, session_id)
        transcript = repo.load_output(db, record.id, "transcript", Transcript)
        rows = repo.session_insight_rows(db, record.id)
        jobs = repo.jobs_for_session(db, record.id)
        names = dict(record.speaker_names or {})
        speakers = transcript.speakers if transcript else []
        summary = _summary(record, speakers, _facilitated_memo_states(db, caller, [record]).get(record.id)).model_dump()
        media_type = _media_type(record.stored_path) if _has_recording(caller, record) else None
        detail = SessionDetail(
            **summary,
            source_kind=record.source_kind,
            original_filename=record.original_filename,
            media_url=f"/api/sessions/{record.id}/media" if media_type else None,
            media_type=media_type,
            language=record.language,
            speaker_names=names,
            speakers=speakers,
            transcript=[
                SegmentOut(start=s.start, end=s.end, text=s.text.strip(), speaker=s.speaker,
                           speaker_name=names.get(s.speaker, s.speaker) if s.speaker else None)
                for s in (transcript.segments if transcript else [])
            ],
            speaker_stats=[
                SpeakerStatOut(**stat.model_dump(), speaker_name=names.get(stat.speaker, stat.speaker))
                for stat in (speaker_stats(transcript) if transcript else [])
            ],
            insights=[
                InsightOut(section=row.section, statement=row.statement, quote=row.quote, speaker=row.speaker,
                           speaker_name=names.get(row.speaker, row.speaker) if row.speaker else None,
                           start=row.start, end=row.end)
                for row in rows
            ],
            job_id=jobs[-1].id if jobs else None,
            can_edit=caller.principal.facilitates(record.program_id),
        )
        if audited:
            audit.record(db, caller.principal, "view_session", record.id)
    return detail


def rename_speaker(caller: Caller, session_id: str, speaker: str, name: str) -> dict[str, str]:
    with session_scope(caller.settings) as db:
        record = policy.editable_session(db, caller.principal, session_id)
        if speaker not in (record.speakers or []):  # kept with the transcript: see repo.save_output
            raise repo.NotFound(f"This session's transcript has no speaker called {speaker!r}.")
        audit.record(db, caller.principal, "rename_speaker", record.id, f"{speaker} -> {name[:200]}")
        return repo.rename_speaker(db, record.id, speaker, name[:200], by=caller.principal.email)


def memo_out(row: MemoVersion) -> MemoOut:
    return MemoOut(session_id=row.session_id, markdown=row.markdown, status=row.status, version=row.version,
                   author=row.author, created_at=row.created_at, approved_by=row.approved_by,
                   approved_at=row.approved_at)


def _readable_memo(db: Session, caller: Caller, session_id: str) -> tuple[SessionRecord, MemoVersion | None]:
    """The session and the memo version the caller may read: facilitators the latest, members only
    the latest approved one."""
    record = policy.readable_session(db, caller.principal, session_id)
    return record, repo.latest_memo(db, record.id, approved_only=not policy.sees_drafts(caller.principal, record))


def _why_no_memo(caller: Caller, record: SessionRecord) -> str:
    """What the memo's pages say instead of it: when it comes, or, if processing stopped, what to do;
    never that it comes when it will not."""
    if record.status != SessionStatus.FAILED:
        return f"“{record.title}” has no memo yet: it is drafted when processing finishes."
    if recording_missing(caller.settings, record):
        return f"“{record.title}” has no memo: its recording could not be used. Upload another recording."
    return (f"“{record.title}” has no memo yet: processing stopped before it was drafted. Retry from the "
            "session's page, and the memo is drafted when processing finishes.")


def get_memo(caller: Caller, session_id: str) -> MemoOut:
    with session_scope(caller.settings) as db:
        record, memo = _readable_memo(db, caller, session_id)
        if memo is None:
            raise MemoNotReady(_why_no_memo(caller, record))
        audit.record(db, caller.principal, "view_memo", session_id, f"version {memo.version}")
        return memo_out(memo)


def latest_memo_or_none(caller: Caller, session_id: str) -> MemoOut | None:
    with session_scope(caller.settings) as db:
        _, memo = _readable_memo(db, caller, session_id)
        return memo_out(memo) if memo else None


def save_memo(caller: Caller, session_id: str, markdown: str, based_on_version: int) -> MemoOut:
    """Raises MemoEditConflict (carrying the latest version) when someone saved in between."""
    markdown = markdown.replace("\r\n", "\n")
    try:
        with session_scope(caller.settings) as db, _conflicts_read_out():
            record = policy.editable_session(db, caller.principal, session_id)
            saved = repo.save_memo_edit(db, record.id, markdown, based_on_version, author=caller.principal.email)
            audit.record(db, caller.principal, "edit_memo", record.id, f"version {saved.version}")
            return memo_out(saved)
    except IntegrityError:  # a concurrent save took this version number between check and insert
        with session_scope(caller.settings) as db, _conflicts_read_out():
            raise repo.MemoConflict(repo.latest_memo(db, session_id)) from None


def set_memo_status(caller: Caller, session_id: str, status: MemoStatus | str, based_on_version: int) -> MemoStatusOut:
    """Approve or reopen the latest version. Approving is not refused when it quotes sessions members
    cannot read yet (that may be meant); the answer names them, as the editor did before."""
    with session_scope(caller.settings) as db, _conflicts_read_out():
        record = policy.editable_session(db, caller.principal, session_id)
        changed = repo.set_memo_status(db, record.id, status, based_on_version, by=caller.principal.email)
        audit.record(db, caller.principal, f"memo_{status}", record.id, f"version {changed.version}")
        return MemoStatusOut(**memo_out(changed).model_dump(),
                             quotes_unapproved=_quoted_unapproved(db, record, changed.markdown))


def withdraw_approval(caller: Caller, session_id: str, version: int) -> MemoOut:
    """Take approved `version` back from members, whichever version is the latest; audited like approving."""
    with session_scope(caller.settings) as db:
        record = policy.editable_session(db, caller.principal, session_id)
        withdrawn = repo.withdraw_approval(db, record.id, version)
        audit.record(db, caller.principal, "memo_withdrawn", record.id, f"version {withdrawn.version}")
        return memo_out(withdrawn)


# A link to a session of the app, as memos write them ("](/sessions/<id>?t=12)"), or made absolute by an export.
_SESSION_LINK = re.compile(r"/sessions/([A-Za-z0-9_-]+)")


def _quoted_unapproved(db: Session, record: SessionRecord, markdown: str) -> list[QuotedSession]:
    """The other sessions of `record`'s program that `markdown` links to and members cannot open yet
    (no approved memo): a recurring theme quotes them ("Last time, in …"), so approving this memo
    shows members their words. Only the program's own sessions: its recurring themes link nowhere
    else, and the editor must not name a session of a program its facilitators cannot see."""
    if record.program_id is None:  # no program, no members
        return []
    linked = [found for found in dict.fromkeys(_SESSION_LINK.findall(markdown)) if found != record.id]
    approved = {session_id for session_id, state in repo.memo_states(db, linked).items() if state.approved}
    others = (db.get(SessionRecord, session_id) for session_id in linked if session_id not in approved)
    return [QuotedSession(id=other.id, title=other.title, date=other.session_date)
            for other in others if other is not None and other.program_id == record.program_id]


def memo_review(caller: Caller, session_id: str) -> MemoReview:
    """What members read of the memo now, and which sessions its latest version would show them
    quotes of: the editor says both next to Approve."""
    with session_scope(caller.settings) as db:
        record = policy.editable_session(db, caller.principal, session_id)
        latest = repo.latest_memo(db, record.id)
        members_read = repo.latest_memo(db, record.id, approved_only=True)
        return MemoReview(members_read=_version_out(members_read) if members_read else None,
                          quotes_unapproved=_quoted_unapproved(db, record, latest.markdown) if latest else [])


def restore_memo(caller: Caller, session_id: str, restore_version: int, based_on_version: int) -> MemoOut:
    """Restoring is saving an old text as the newest version: history is never rewritten."""
    old = memo_version(caller, session_id, restore_version).markdown
    return save_memo(caller, session_id, old, based_on_version)


def _version_out(row: MemoVersion) -> MemoVersionOut:
    return MemoVersionOut(version=row.version, status=row.status, author=row.author, created_at=row.created_at,
                          approved_by=row.approved_by, approved_at=row.approved_at)


def memo_versions(caller: Caller, session_id: str) -> list[MemoVersionOut]:
    with session_scope(caller.settings) as db:
        record = policy.editable_session(db, caller.principal, session_id)
        return [_version_out(row) for row in repo.memo_versions(db, record.id)]


def memo_version(caller: Caller, session_id: str, version: int) -> MemoOut:
    with session_scope(caller.settings) as db:
        record = policy.editable_session(db, caller.principal, session_id)
        return memo_out(repo.memo_version(db, record.id, version))


def export_memo(caller: Caller, session_id: str, fmt: MemoFileFormat) -> tuple[bytes, str]:
    """The memo the caller may read, as file bytes, and a download name made from the session title,
    ending in "-draft" for a version not approved. The version is chosen once, here, so the file holds
    the version its name describes even if someone approves or saves meanwhile."""
    with session_scope(caller.settings) as db:
        record, chosen = _readable_memo(db, caller, session_id)
        if chosen is None:
            raise MemoNotReady(_why_no_memo(caller, record))
        version, draft, title = chosen.version, chosen.status != MemoStatus.APPROVED, record.title
        audit.record(db, caller.principal, "export_memo", record.id, fmt)
    return export_memo_file(caller.settings, session_id, fmt, version=version), memo_file_name(title, fmt, draft=draft)


def delete_session(caller: Caller, session_id: str) -> None:
    """Forget the session everywhere (recording, transcript, insights, vectors, memos); audited."""
    with session_scope(caller.settings) as db:
        session_id = policy.editable_session(db, caller.principal, session_id).id
    try:
        forget_session(caller.settings, session_id)
    except ForgetRefused:
        raise StillProcessing() from None
    with session_scope(caller.settings) as db:
        # The id only: the title of a forgotten session must not outlive it in the log.
        audit.record(db, caller.principal, "delete_session", session_id)


def delete_refusal(caller: Caller, job_id: str) -> None:
    """Delete the note of a refused recording (its title and reason) before its week is up; audited.
    Its program's facilitators may, as they may delete a session."""
    with session_scope(caller.settings) as db:
        refused = repo.refusal(db, job_id)
        if refused is None or not caller.principal.facilitates(refused.program_id):
            raise repo.NotFound("There is no such note of a refused recording, or you do not have access to it.")
    forget_refusal(caller.settings, job_id)
    with session_scope(caller.settings) as db:
        audit.record(db, caller.principal, "delete_refusal", job_id)


def diff_lines(before: str, after: str, context: int = 3) -> list[DiffLine]:
    """A line diff with a few lines of context, as rows a page can colour and a screen reader can read."""
    kinds = {" ": "same", "+": "added", "-": "removed"}
    lines: list[DiffLine] = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=context):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine(kind="gap", text="…"))
        else:
            lines.append(DiffLine(kind=kinds[line[0]], text=line[1:]))
    return lines


def search_filters(caller: Caller, **asked: object) -> SearchFilters:
    """The filters the caller asked for (ValidationError if they make no sense). A program must be one they
    may see, and only those are offered for a wrong one: the answer never reveals a program of others."""
    with session_scope(caller.settings) as db:
        programs = [program.name for program in policy.visible_programs(db, caller.principal)]
    return checked_filters(programs, **asked)


def speaker_problem(caller: Caller, filters: SearchFilters) -> str | None:
    """Why the speaker filter would find nothing in the sessions the caller may read within the other
    filters, naming only speakers of those sessions; None when it names one of them (or is empty)."""
    with session_scope(caller.settings) as db:
        scope = policy.visible_session_ids(db, caller.principal)
        return speaker_filter_problem(db, filters.model_copy(update={"within_sessions": scope}))


def search(caller: Caller, query: str, filters: SearchFilters, limit: int = 30) -> list[SearchHit]:
    """Hybrid search over the sessions the caller may read (hits name speakers by their given names)."""
    with session_scope(caller.settings) as db:
        scope = policy.visible_session_ids(db, caller.principal)
        audit.record(db, caller.principal, "search", "", query[:200])
    try:
        return hybrid_search(caller.settings, query, filters.model_copy(update={"within_sessions": scope}), limit)
    except IndexMismatch as stale:
        raise SearchUnavailable(str(stale)) from stale
