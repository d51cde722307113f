"""What the JSON API takes and returns. These models are the API's documentation (FastAPI's
OpenAPI at /docs) and what the HTML pages render, so pages and API can never disagree."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from insightcap.search.schema import SearchHit
from insightcap.storage.statuses import JobStatus, MemoStatus, SessionStatus
from insightcap.themes.schema import ProgramTheme


class Submitted(BaseModel):
    id: str = Field(description="The new session's id.")
    job_id: str = Field(description="Follow processing at GET /api/jobs/{job_id}.")


class StageState(BaseModel):
    name: str
    label: str
    state: Literal["done", "running", "waiting", "failed", "not_run"] = Field(
        description="not_run: after a failed stage, until the job is retried.")


class JobOut(BaseModel):
    id: str
    session_id: str = Field(description="The session being made (deleted with it if its recording is refused).")
    session_title: str
    status: JobStatus
    stage: str | None = Field(description="The stage running now (None when queued or finished).")
    stage_label: str | None
    progress: float = Field(ge=0, le=1, description="Of the whole job, 0 to 1.")
    stage_progress: float = Field(ge=0, le=1, description="Of the current stage, 0 to 1.")
    message: str
    error: str | None = Field(description="What went wrong, in plain words, when status is failed.")
    jobs_ahead: int | None = Field(None, description="While queued: how many jobs run before this one.")
    can_retry: bool = Field(False, description="Failed, and a retry can help. Not when the recording was refused "
                                                "as unusable: it is deleted with its session, and `error` says why "
                                                "for a week. Upload another recording.")
    stages: list[StageState]

    @computed_field(description="What the job page shows: its status, except that a failure no retry can help (the "
                                "recording was refused) is unusable.")
    @property
    def phase(self) -> Literal["queued", "running", "done", "failed", "unusable"]:
        return "unusable" if self.status == JobStatus.FAILED and not self.can_retry else self.status.value

    @computed_field(description="Where the job is, in a sentence for people (the job page's line under the bar).")
    @property
    def summary(self) -> str:
        if self.phase == "running":
            detail = f": {self.message}" if self.message and self.message != self.stage_label else ""
            return f"{self.stage_label or 'Starting'}{detail}"
        if self.phase == "queued":
            return _waiting(self.jobs_ahead)
        return _FINISHED[self.phase]


_FINISHED = {
    "done": "Done: the transcript, insights and a draft memo are ready.",
    "failed": "Stopped.",
    "unusable": "Stopped: nothing can be made of this recording.",
}


def _waiting(jobs_ahead: int | None) -> str:
    """Sessions are processed one at a time, each using the whole computer: say how many go first."""
    if jobs_ahead is None:
        return "Waiting to start…"
    if jobs_ahead == 0:
        return "Waiting to start: this session is next."
    if jobs_ahead == 1:
        return "Waiting to start: another session is being processed first."
    return f"Waiting to start: {jobs_ahead} other sessions go first, as sessions are processed one at a time."


class RefusedOut(BaseModel):
    """A recording refused as unusable lately: its session is deleted, this is what is left."""

    job_id: str
    title: str
    reason: str
    refused_at: datetime


class SessionSummary(BaseModel):
    id: str
    title: str
    program: str | None
    date: date | None
    duration_seconds: float | None
    status: SessionStatus
    participants: list[str]
    created_at: datetime
    memo_status: MemoStatus | None = Field(None, description="The memo's latest version: draft or approved. For "
                                           "the program's facilitators only (null for members, who see only sessions "
                                           "with an approved memo), and null while there is no memo.")
    members_read_version: int | None = Field(None, description="The approved version the program's members read; "
                                             "null when they cannot read the session. For facilitators only.")


class SegmentOut(BaseModel):
    start: float
    end: float
    text: str
    speaker: str | None = Field(description="The speaker label in the transcript, e.g. 'Speaker 1'.")
    speaker_name: str | None = Field(description="The label, or the name it was renamed to.")


class InsightOut(BaseModel):
    section: str
    statement: str
    quote: str
    speaker: str | None
    speaker_name: str | None
    start: float
    end: float


class SpeakerStatOut(BaseModel):
    """How much one speaker took part: whether everyone had a voice."""

    speaker: str = Field(description="The speaker label in the transcript, e.g. 'Speaker 1'.")
    speaker_name: str = Field(description="The label, or the name it was renamed to.")
    talk_seconds: float = Field(description="Time speaking, summed over the speaker's transcript segments.")
    share: float = Field(ge=0, le=1, description="Fraction of all speakers' talk time, 0 to 1.")
    turns: int = Field(description="Times the speaker took the floor (runs of consecutive segments).")
    words: int


class SessionDetail(SessionSummary):
    source_kind: Literal["media", "transcript"]
    original_filename: str
    media_url: str | None = Field(description="The original recording, served with HTTP Range support; null when there "
                                  "is none to play (an imported transcript, a refused or missing recording).")
    media_type: str | None
    language: str | None
    speaker_names: dict[str, str]
    speakers: list[str]
    transcript: list[SegmentOut]
    speaker_stats: list[SpeakerStatOut] = Field(
        default_factory=list, description="Talk time and turns per speaker, in order of first appearance."
    )
    insights: list[InsightOut]
    job_id: str | None = Field(description="The session's latest processing job.")
    can_edit: bool = Field(description="Whether the caller facilitates this session's program.")


_AUTHOR = Field(description="Who wrote this version's text; for a version made by renaming a speaker, "
                            "'speaker names updated by' and who renamed.")
_APPROVED_BY = Field(None, description="Who approved this version (often not its author); null unless approved.")
_APPROVED_AT = Field(None, description="When this version was approved; null unless approved.")


class MemoOut(BaseModel):
    session_id: str
    markdown: str
    status: MemoStatus
    version: int
    author: str = _AUTHOR
    created_at: datetime
    approved_by: str | None = _APPROVED_BY
    approved_at: datetime | None = _APPROVED_AT


class QuotedSession(BaseModel):
    """Another session of the program that a memo links to (a recurring theme's "Last time, in …"
    quotes it), which members cannot read yet: approving the memo shows them what it quotes."""

    id: str
    title: str
    date: date | None


_QUOTES_UNAPPROVED = Field(default_factory=list, description="Other sessions of the program this version links to "
                           "whose memo is not approved: once this version is approved, members read what it quotes "
                           "from them, though they cannot open those sessions.")


class MemoStatusOut(MemoOut):
    """The version just approved or reopened, with what approving it shows members beyond this session."""

    quotes_unapproved: list[QuotedSession] = _QUOTES_UNAPPROVED


class MemoSave(BaseModel):
    markdown: str
    version: int = Field(description="The version this edit was based on (optimistic locking).")


class MemoConflictOut(BaseModel):
    detail: str
    current: MemoOut | None


class MemoStatusIn(BaseModel):
    status: MemoStatus
    version: int = Field(description="The version being approved or reopened; must be the latest.")


class MemoWithdraw(BaseModel):
    version: int = Field(description="The approved version to take back from members (any version, not only the "
                         "latest); they then read the newest version still approved, if any.")


class MemoRestore(BaseModel):
    restore_version: int
    version: int = Field(description="The latest version the user saw (optimistic locking).")


class MemoVersionOut(BaseModel):
    version: int
    status: MemoStatus
    author: str = _AUTHOR
    created_at: datetime
    approved_by: str | None = _APPROVED_BY
    approved_at: datetime | None = _APPROVED_AT


class MemoReview(BaseModel):
    """What the editor tells facilitators about members before they approve: which version members
    read now, and which other sessions the latest version quotes that members cannot read yet."""

    members_read: MemoVersionOut | None
    quotes_unapproved: list[QuotedSession] = _QUOTES_UNAPPROVED


class DiffLine(BaseModel):
    kind: Literal["same", "added", "removed", "gap"]
    text: str


class SpeakerRename(BaseModel):
    speaker: str = Field(description="The transcript's label, e.g. 'Speaker 1'.")
    name: str = Field(description="The name to show everywhere; empty to restore the label.")


class PreviewIn(BaseModel):
    markdown: str
    session_id: str | None = Field(None, description="The memo's session: each time then links to it at that moment.")


class PreviewOut(BaseModel):
    html: str


class ProgramOut(BaseModel):
    name: str
    sessions: int = Field(description="Sessions of the program the caller can see.")
    can_upload: bool = Field(description="Whether the caller facilitates the program.")


class Me(BaseModel):
    """The signed-in account: who it is and its role in each of its programs."""

    email: str
    is_admin: bool
    programs: dict[str, str]


class SearchOut(BaseModel):
    query: str
    hits: list[SearchHit]


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Problem(BaseModel):
    detail: str


class Link(BaseModel):
    url: str
    text: str = Field(description="What the link opens, in words (a session by its title and date).")


class UploadProblem(Problem):
    link: Link | None = Field(None, description="Where to go instead: the session the same file already made.")


class ThemeLabelIn(BaseModel):
    label: str = Field(max_length=500, description="The theme's new name; empty gives it back its keyphrase name.")


class ThemeLabelOut(BaseModel):
    id: int
    label: str = Field(description="The name the theme has now (kept when the program's themes are re-clustered).")


class ThemeTimeline(BaseModel):
    """A program's themes against its sessions in date order: which theme came up when."""

    program: str
    sessions: list[SessionSummary]
    themes: list[ProgramTheme] = Field(description="Recurring themes (seen in two sessions or more) first, then "
                                       "those seen once; each group most frequent first.")
