"""The statuses of jobs, sessions and memo versions: the one place their values are named.

The columns stay plain strings holding these values (no database Enum type, so no migration): a row
read back holds a str, which compares equal to its member, and the API and `--json` output show the
same strings as before. A module of their own, free of SQLAlchemy: the API models and the command
line use them as well as the tables.

jobs/runner.py moves jobs and their sessions between statuses (a retry in the web app is
web/views.py); storage/repository.py approves and reopens memos. The docstrings below are also the
API's description of these values (OpenAPI at /docs).
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a processing job is; its session's status follows it.

    - queued: waiting to start (sessions are processed one at a time): just created, or sent back by a
      retry in the web app.
    - running: claimed by one worker process (`worker`, `heartbeat_at`), stage by stage.
    - done: every stage completed. Final: it is never claimed again.
    - failed: a stage failed (or its recording is no longer kept); `error` says why, in plain words.

    Moves: queued -> running when a worker claims it; running -> done, or -> failed; failed -> queued
    (retry in the web app) or -> running (`insightcap retry` claims it directly); running -> running
    when the worker died and another process resumes the job.
    """

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SessionStatus(StrEnum):
    """A session's processing, mirroring its latest job for quick listing (set with the job's status).

    - queued: its job is queued (a new session, or one retried in the web app).
    - processing: its job is running.
    - ready: its job is done: transcript, insights and memo are there.
    - failed: its job failed.

    Moves: queued -> processing -> ready, or -> failed; failed -> queued (retry in the web app) or
    -> processing (`insightcap retry`); processing -> processing when an interrupted job is resumed.
    """

    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class MemoStatus(StrEnum):
    """A memo version's review state.

    - draft: every new version (drafted by the pipeline, edited, restored, renamed speakers) is a
      draft; only the program's facilitators see drafts.
    - approved: a facilitator signed this text off; members see the newest approved version.

    Moves: the latest version goes draft -> approved (approving) or approved -> draft (reopening,
    which clears the approver). Editing an approved memo adds a new draft version and leaves the
    approved one as it is, until it is withdrawn (approved -> draft, whichever version is latest).
    """

    DRAFT = "draft"
    APPROVED = "approved"
