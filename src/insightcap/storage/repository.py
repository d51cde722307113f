"""The one storage layer: every read and write of sessions, stage outputs, insights, memos and jobs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, case, delete, func, select
from sqlalchemy.orm import Session

from insightcap.insights.schema import SessionInsights
from insightcap.memo.rename import rename_outside_quotes
from insightcap.storage.search_tables import (
    PassageRecord,
    ThemeMemberRecord,
    ThemeRecord,
)
from insightcap.storage.statuses import JobStatus, MemoStatus
from insightcap.storage.tables import (
    InsightRecord,
    JobRecord,
    MemoVersion,
    Program,
    RefusedRecording,
    SessionRecord,
    StageOutput,
    utcnow,
)
from insightcap.transcript.schema import Transcript
from insightcap.wording import did_you_mean

if TYPE_CHECKING:
    from insightcap.search.passages import Passage

ModelT = TypeVar("ModelT", bound=BaseModel)
# How long the reason a recording was refused stays to be read, on its job page and in Sessions.
REFUSALS_KEPT = timedelta(days=7)


class NotFound(LookupError):
    """No such session/job; the message says how to list the ones that exist."""


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def get_or_create_program(db: Session, name: str | None) -> Program | None:
    """The program called `name`, created if no program has that name in any capitalisation or
    spacing: "mentoring  cohort" joins 'Mentoring cohort' instead of starting a second program."""
    cleaned = " ".join((name or "").split())
    if not cleaned:
        return None
    program = find_program(db, cleaned)
    if program is None:
        program = Program(name=cleaned)
        db.add(program)
        db.flush()
    return program


def program_key(name: str) -> str:
    """What two program names must share to be the same program: case and spacing do not count."""
    return " ".join(name.split()).casefold()


def find_program(db: Session, name: str) -> Program | None:
    """The program whose name matches `name` but for case and spacing; the oldest if a database from
    before this rule holds several. Compared in Python: SQLite's lower() folds only ASCII letters,
    and an installation has a few dozen programs at most."""
    key = program_key(name)
    return next((p for p in db.scalars(select(Program).order_by(Program.id)) if program_key(p.name) == key), None)


def create_session(
    db: Session,
    *,
    session_id: str,
    title: str,
    source_kind: str,
    original_filename: str,
    stored_path: str,
    program: str | None = None,
    session_date: date | None = None,
) -> SessionRecord:
    record = SessionRecord(
        id=session_id,
        title=title,
        source_kind=source_kind,
        original_filename=original_filename,
        stored_path=stored_path,
        program=get_or_create_program(db, program),
        session_date=session_date,
        speaker_names={},
    )
    db.add(record)
    db.flush()
    return record


def get_session(db: Session, session_ref: str) -> SessionRecord:
    """A session by id or by an unambiguous id prefix (users copy the first few characters)."""
    if not session_ref.strip():  # a prefix of every id, but nobody means "any session"
        raise NotFound("Give a session id (or its first characters). Run `insightcap sessions` to list them.")
    record = db.get(SessionRecord, session_ref)
    if record is not None:
        return record
    matches = session_ids_starting_with(db, session_ref)
    if len(matches) == 1:
        return db.get(SessionRecord, matches[0])
    if len(matches) > 1:
        raise NotFound(_ambiguous_prefix(db, session_ref, matches))
    raise NotFound(f"No session '{session_ref}'. Run `insightcap sessions` to list them.")


# How many of the sessions an ambiguous id prefix matches are named, for the user to pick from.
_MOST_NAMED_MATCHES = 5


def _ambiguous_prefix(db: Session, prefix: str, matches: list[str]) -> str:
    """Which sessions `prefix` could mean, by id and title: the user sees which one they meant and how
    many characters tell it apart, without a trip to `insightcap sessions`. Plain text, no markup."""
    shown = sorted(matches)[:_MOST_NAMED_MATCHES]
    records = db.scalars(select(SessionRecord).where(SessionRecord.id.in_(shown)).order_by(SessionRecord.id))
    lines = [f"  {record.id}  {record.title}" for record in records]
    if len(matches) > len(shown):
        lines.append(f"  and {len(matches) - len(shown)} more")
    return "\n".join([f"'{prefix}' matches {len(matches)} sessions; give more characters of the id:", *lines])


def session_with_content(db: Session, content_sha256: str, program: str | None) -> SessionRecord | None:
    """The session of the program (or of no program) whose file has this sha256, if one was added.
    Within the program only: the same file in another program would name a session the person
    adding it may not be allowed to see."""
    program_id = None
    if program and program.strip():
        found = find_program(db, program)
        if found is None:
            return None  # a new program has no sessions yet
        program_id = found.id
    same_program = SessionRecord.program_id.is_(None) if program_id is None else SessionRecord.program_id == program_id
    query = select(SessionRecord).where(SessionRecord.content_sha256 == content_sha256, same_program)
    return db.scalars(query.limit(1)).first()


def list_sessions(db: Session) -> list[SessionRecord]:
    return list(db.scalars(select(SessionRecord).order_by(SessionRecord.created_at.desc())))


def save_output(db: Session, session_id: str, stage: str, output: BaseModel) -> None:
    db.merge(StageOutput(session_id=session_id, stage=stage, payload=output.model_dump_json()))
    if isinstance(output, Transcript):
        get_session(db, session_id).speakers = output.speakers
    db.flush()


def load_output(db: Session, session_id: str, stage: str, model: type[ModelT]) -> ModelT | None:
    row = db.get(StageOutput, (session_id, stage))
    return None if row is None else model.model_validate_json(row.payload)


def replace_insights(db: Session, session_id: str, insights: SessionInsights) -> list[InsightRecord]:
    """Insight rows mirror the structure output; re-running the stage replaces them, never duplicates."""
    db.execute(delete(InsightRecord).where(InsightRecord.session_id == session_id))
    rows = [
        InsightRecord(
            session_id=session_id,
            position=position,
            section=insight.section.value,
            statement=insight.statement,
            quote=insight.quote,
            speaker=insight.speaker,
            start=insight.start,
            end=insight.end,
            topic_index=insight.topic_index,
        )
        for position, insight in enumerate(insights.insights)
    ]
    db.add_all(rows)
    db.flush()
    return rows


def session_insight_rows(db: Session, session_id: str) -> list[InsightRecord]:
    return list(
        db.scalars(select(InsightRecord).where(InsightRecord.session_id == session_id).order_by(InsightRecord.position))
    )


def latest_memo(db: Session, session_id: str, *, approved_only: bool = False) -> MemoVersion | None:
    """The newest version, or with `approved_only` the newest one a facilitator approved."""
    query = select(MemoVersion).where(MemoVersion.session_id == session_id)
    if approved_only:
        query = query.where(MemoVersion.status == MemoStatus.APPROVED)
    return db.scalar(query.order_by(MemoVersion.version.desc()).limit(1))


@dataclass(frozen=True)
class MemoState:
    """Where a session's memo stands: its newest version, and the newest approved one, which is what
    the program's members read (None: they cannot read the session at all)."""

    latest: int
    approved: int | None

    @property
    def status(self) -> MemoStatus:
        return MemoStatus.APPROVED if self.approved == self.latest else MemoStatus.DRAFT


def memo_states(db: Session, session_ids: Sequence[str] | None = None) -> dict[str, MemoState]:
    """The memo state of each session with a memo (of `session_ids` only, if given), in one query:
    lists of sessions show it for every row."""
    approved = func.max(case((MemoVersion.status == MemoStatus.APPROVED, MemoVersion.version)))
    query = select(MemoVersion.session_id, func.max(MemoVersion.version), approved).group_by(MemoVersion.session_id)
    if session_ids is not None:
        query = query.where(MemoVersion.session_id.in_(session_ids))
    return {session_id: MemoState(latest, approved) for session_id, latest, approved in db.execute(query)}


def add_memo_version(
    db: Session, session_id: str, markdown: str, *, status: MemoStatus = MemoStatus.DRAFT, author: str = "insightcap"
) -> MemoVersion:
    current = db.scalar(select(func.max(MemoVersion.version)).where(MemoVersion.session_id == session_id)) or 0
    version = MemoVersion(session_id=session_id, version=current + 1, markdown=markdown, status=status, author=author)
    db.add(version)
    db.flush()
    return version


def create_job(db: Session, session_id: str, stages: list[str]) -> JobRecord:
    job = JobRecord(id=new_id(), session_id=session_id, stages=stages, completed_stages=[], status=JobStatus.QUEUED)
    db.add(job)
    db.flush()
    return job


def get_job(db: Session, job_id: str) -> JobRecord:
    job = db.get(JobRecord, job_id)
    if job is None:
        raise NotFound(f"No job '{job_id}': it may have been deleted with its session. "
                       "Run `insightcap sessions` to list the sessions and their status.")
    return job


def unfinished_jobs(db: Session) -> list[JobRecord]:
    """Jobs a killed process left queued or running: the next start resumes them."""
    return list(
        db.scalars(select(JobRecord).where(JobRecord.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])).order_by(JobRecord.created_at))
    )


def jobs_for_session(db: Session, session_id: str) -> list[JobRecord]:
    return list(db.scalars(select(JobRecord).where(JobRecord.session_id == session_id).order_by(JobRecord.created_at)))


def record_refusal(db: Session, job: JobRecord, reason: str) -> None:
    """Keep why the job's recording was refused, before its session is deleted. Notes older than
    REFUSALS_KEPT go now: they were kept to be read, not to keep the titles of deleted recordings."""
    record = get_session(db, job.session_id)
    db.execute(delete(RefusedRecording).where(RefusedRecording.refused_at < utcnow() - REFUSALS_KEPT))
    db.merge(RefusedRecording(job_id=job.id, session_id=record.id, program_id=record.program_id, title=record.title,
                              reason=reason, stages=list(job.stages), completed_stages=list(job.completed_stages),
                              stage=job.stage, refused_at=utcnow()))


def refusal(db: Session, job_id: str) -> RefusedRecording | None:
    """Why the job's recording was refused, while that is kept (see record_refusal)."""
    row = db.get(RefusedRecording, job_id)
    return row if row is not None and row.refused_at >= utcnow() - REFUSALS_KEPT else None


def refusal_of_session(db: Session, session_ref: str) -> RefusedRecording | None:
    """The note kept about the refused recording of the (deleted) session whose id is or starts with
    `session_ref`, if exactly one matches."""
    query = select(RefusedRecording).where(RefusedRecording.session_id.startswith(session_ref, autoescape=True))
    rows = list(db.scalars(query.limit(2)))
    return rows[0] if len(rows) == 1 else None


def recent_refusals(db: Session) -> list[RefusedRecording]:
    """The refusals still kept, newest first."""
    query = select(RefusedRecording).where(RefusedRecording.refused_at >= utcnow() - REFUSALS_KEPT)
    return list(db.scalars(query.order_by(RefusedRecording.refused_at.desc())))


# --- Passages and program themes (search across sessions) -------------------------------------


def replace_passages(db: Session, session_id: str, passages: Sequence[Passage]) -> list[PassageRecord]:
    """Passage rows mirror the session's transcript; re-indexing replaces them, never duplicates."""
    db.execute(delete(PassageRecord).where(PassageRecord.session_id == session_id))
    rows = [
        PassageRecord(
            session_id=session_id,
            position=position,
            text=passage.text,
            speakers=passage.speakers,
            start=passage.start,
            end=passage.end,
            first_segment=passage.first_segment,
            last_segment=passage.last_segment,
        )
        for position, passage in enumerate(passages)
    ]
    db.add_all(rows)
    db.flush()
    return rows


def session_passage_rows(db: Session, session_id: str) -> list[PassageRecord]:
    return list(
        db.scalars(select(PassageRecord).where(PassageRecord.session_id == session_id).order_by(PassageRecord.position))
    )


def program_by_name(db: Session, name: str) -> Program:
    program = find_program(db, name)
    if program is None:
        raise NotFound(unknown_program_message(db, name))
    return program


def unknown_program_message(db: Session, name: str) -> str:
    """Says which program was probably meant (a typo is the usual cause) and which ones exist."""
    names = [program.name for program in list_programs(db)]
    if not names:
        return f"No program '{name}': there are no programs yet. A session joins one when it is added with --program."
    guess = did_you_mean(program_key(name), {program_key(existing): existing for existing in names})
    listed = ", ".join(f"'{existing}'" for existing in names)
    return f"No program '{name}'.{guess} The programs are: {listed}."


def analysed_program_sessions(db: Session, program_id: int) -> list[SessionRecord]:
    """The program's sessions with insights or transcript passages: those its themes are made of. A
    session still waiting, or stopped before that stage, has nothing to cluster yet."""
    analysed = (select(InsightRecord.session_id).union(select(PassageRecord.session_id))).subquery()
    query = select(SessionRecord).where(SessionRecord.program_id == program_id, SessionRecord.id.in_(select(analysed)))
    return list(db.scalars(query))


def program_theme_rows(db: Session, program_id: int, *, active_only: bool = True) -> list[ThemeRecord]:
    query = select(ThemeRecord).where(ThemeRecord.program_id == program_id)
    if active_only:
        query = query.where(ThemeRecord.active.is_(True))
    return list(db.scalars(query.order_by(ThemeRecord.count.desc(), ThemeRecord.id)))


def theme_member_rows(db: Session, theme_id: int) -> list[ThemeMemberRecord]:
    return list(
        db.scalars(
            select(ThemeMemberRecord)
            .where(ThemeMemberRecord.theme_id == theme_id)
            .order_by(ThemeMemberRecord.similarity.desc())
        )
    )


def replace_theme_members(db: Session, theme_id: int, members: Sequence[ThemeMemberRecord]) -> None:
    db.execute(delete(ThemeMemberRecord).where(ThemeMemberRecord.theme_id == theme_id))
    db.add_all(members)
    db.flush()


# --- Editing memos, naming speakers and listing programs (used by the web app) ---

_SAVE_CONFLICT = (
    "Someone saved this memo while you were editing it (latest version: {latest}). Compare both texts, then save again."
)


class MemoConflict(Exception):
    """A save or status change was based on a memo version that is no longer the latest.

    Carries the latest version so the user can see both texts and nothing is lost. `message` has a
    {latest} placeholder: a save and an approval call for different next steps.
    """

    def __init__(self, current: MemoVersion | None, message: str = _SAVE_CONFLICT) -> None:
        self.current = current
        super().__init__(message.format(latest=current.version if current else "none"))


# The author of a memo version a speaker rename made: nobody wrote its text, so pages say what happened
# and who did it ("version 3, speaker names updated by sam@example.org"). Versions made before this
# say only OLD_RENAME_AUTHOR.
RENAMED_BY = "speaker names updated by "
OLD_RENAME_AUTHOR = "speaker rename"


class EmptyMemo(ValueError):
    """A memo with no text: saving it would replace the memo with nothing, approving it would publish nothing."""


class SpeakerNameTaken(ValueError):
    """The name already belongs to another speaker of the session: the two people could no longer be
    told apart in the memo, and undoing the rename would turn both into one."""


def memo_versions(db: Session, session_id: str) -> list[MemoVersion]:
    """Every saved version, newest first."""
    return list(
        db.scalars(select(MemoVersion).where(MemoVersion.session_id == session_id).order_by(MemoVersion.version.desc()))
    )


# SQLite integers are 64-bit: a larger number asked for (a typo, a fuzzer) cannot be a version.
_LARGEST_VERSION = 2**63 - 1


def memo_version(db: Session, session_id: str, version: int) -> MemoVersion:
    row = (
        db.scalar(select(MemoVersion).where(MemoVersion.session_id == session_id, MemoVersion.version == version))
        if abs(version) <= _LARGEST_VERSION
        else None
    )
    if row is None:
        raise NotFound(f"Session {session_id} has no memo version {version}.")
    return row


def _require_latest(
    db: Session, session_id: str, based_on_version: int, conflict_message: str = _SAVE_CONFLICT
) -> MemoVersion:
    latest = latest_memo(db, session_id)
    if latest is None or latest.version != based_on_version:
        raise MemoConflict(latest, conflict_message)
    return latest


def _refuse_empty(markdown: str, verb: str) -> None:
    if not markdown.strip():
        raise EmptyMemo(
            f"An empty memo cannot be {verb}; the latest version is unchanged. Write the memo's text, "
            "or restore an earlier version from the memo's history."
        )


def save_memo_edit(
    db: Session, session_id: str, markdown: str, based_on_version: int, author: str = "facilitator"
) -> MemoVersion:
    """Optimistic locking: the edit becomes a new draft version only if it was based on the latest
    one. Saving unchanged text creates no version. Two saves racing past the check both try to
    insert the same version number; the unique constraint rejects the second (IntegrityError).
    An empty text is refused (EmptyMemo)."""
    _refuse_empty(markdown, "saved")
    latest = _require_latest(db, session_id, based_on_version)
    if latest.markdown == markdown:
        return latest
    return add_memo_version(db, session_id, markdown, status=MemoStatus.DRAFT, author=author)


def set_memo_status(
    db: Session, session_id: str, status: MemoStatus | str, based_on_version: int, *, by: str
) -> MemoVersion:
    """Approve (or reopen) the latest version; approving a version the user has not seen is a conflict.

    The approver (`by`) is recorded apart from the author: who wrote a text and who signed it off are
    often different people. Reopening clears the approval; approving twice keeps the first approver.
    """
    if status not in tuple(MemoStatus):  # a form's field arrives as a plain string
        raise ValueError(f"Memo status must be one of {', '.join(MemoStatus)}, not {status!r}.")
    status = MemoStatus(status)
    action = "approving" if status == MemoStatus.APPROVED else "reopening"
    latest = _require_latest(db, session_id, based_on_version, (
        "This memo changed since you opened it (latest version: {latest}). "
        f"Review the latest version before {action} it."
    ))
    if status == MemoStatus.APPROVED:
        _refuse_empty(latest.markdown, "approved")
    _change_status(db, latest, status, by)
    return latest


def withdraw_approval(db: Session, session_id: str, version: int) -> MemoVersion:
    """Take an approved version back from members, also once newer drafts exist (reopening acts on
    the latest version only, so an approved version behind a draft could otherwise never be taken
    back). Members then read the newest version still approved, if any. A version no longer approved
    is left as it is: someone withdrew it first, and the outcome is the one asked for."""
    row = memo_version(db, session_id, version)
    _change_status(db, row, MemoStatus.DRAFT, by=None)
    return row


def _change_status(db: Session, row: MemoVersion, status: MemoStatus, by: str | None) -> None:
    """Approving records who and when; taking an approval back clears both. Approving twice keeps the
    first approver."""
    if row.status != status:
        row.status = status
        row.approved_by, row.approved_at = (by, utcnow()) if status == MemoStatus.APPROVED else (None, None)
        db.flush()


def rename_speaker(db: Session, session_id: str, speaker: str, name: str, *, by: str) -> dict[str, str]:
    """Name a transcript speaker once for the whole session; an empty name restores the label.

    Transcript, insights and search show names through `speaker_names`; the memo is text, so a draft
    memo gets a new version with the old name replaced (an approved memo is left as approved), credited
    to the rename and to `by`, who did it (RENAMED_BY). A name another speaker already goes by is
    refused (SpeakerNameTaken).
    """
    record = get_session(db, session_id)
    names = dict(record.speaker_names or {})
    given = name.strip()
    _refuse_taken_name(db, record, speaker, given or speaker)
    old_display = names.get(speaker, speaker)
    if given and given != speaker:
        names[speaker] = given
    else:
        names.pop(speaker, None)
    record.speaker_names = names  # a new dict, so SQLAlchemy sees the JSON column change
    db.flush()
    _rename_in_draft_memo(db, record.id, old_display, names.get(speaker, speaker), by)
    return names


def _refuse_taken_name(db: Session, record: SessionRecord, speaker: str, shown_as: str) -> None:
    """Compared by label and given name, ignoring case and surrounding spaces, as people read names.
    The transcript's speakers are the list kept on the session (migration 0008 filled it in for every
    older session), so a rename does not parse the whole transcript."""
    names = record.speaker_names or {}
    others = {*(record.speakers or []), *names} - {speaker}
    wanted = shown_as.strip().casefold()
    for other in sorted(others):
        if wanted in (other.strip().casefold(), names.get(other, other).strip().casefold()):
            taken_by = f"{names[other]} (transcript label “{other}”)" if other in names else other
            raise SpeakerNameTaken(
                f"“{shown_as}” is taken: another speaker in this session is {taken_by}. Choose a name that "
                "tells the two apart, for example with a surname or an initial; or, if the name is this "
                f"speaker's, rename {other} first."
            )


def _rename_in_draft_memo(db: Session, session_id: str, old: str, new: str, by: str) -> None:
    latest = latest_memo(db, session_id)
    if latest is None or latest.status != MemoStatus.DRAFT or old == new:
        return
    renamed = rename_outside_quotes(latest.markdown, old, new)
    if renamed != latest.markdown:
        add_memo_version(db, session_id, renamed, author=f"{RENAMED_BY}{by}")


def list_programs(db: Session) -> list[Program]:
    return list(db.scalars(select(Program).order_by(Program.name)))


def speakers_by_session(db: Session) -> dict[str, list[str]]:
    """Everyone who spoke in each session's transcript, by label in order of first speaking. Insights
    quote only some speakers, so they cannot say who took part."""
    return {session_id: speakers or [] for session_id, speakers in db.execute(select(SessionRecord.id, SessionRecord.speakers))}


def session_ids_starting_with(db: Session, prefix: str, visible: ColumnElement[bool] | None = None) -> list[str]:
    """Ids of the sessions whose id starts with `prefix` (people copy the first few characters of an
    id), among those matching `visible` (None: all). "%" and "_" in it are characters, not wildcards."""
    query = select(SessionRecord.id).where(SessionRecord.id.startswith(prefix, autoescape=True))
    return list(db.scalars(query if visible is None else query.where(visible)))


def jobs_ahead(db: Session, job: JobRecord) -> int:
    """How many jobs the worker takes before this queued one: those running, and those queued before
    it. A retried job goes to the back of the queue, so the time it was last queued counts."""
    earlier = (JobRecord.status == JobStatus.QUEUED) & (JobRecord.updated_at < job.updated_at)
    return db.scalar(select(func.count()).where((JobRecord.status == JobStatus.RUNNING) | earlier, JobRecord.id != job.id)) or 0
