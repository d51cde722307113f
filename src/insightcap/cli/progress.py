"""Following a job in the terminal: a bar per stage, kept apart from the commands that start jobs
because what a bar may claim (100% only once the runner has recorded the stage) is its own concern.
When standard error is not a terminal (piped to `tee`, a CI log), where rich would draw the bars
only once the job has ended, the same report is written as plain lines as the job goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from insightcap.cli.common import err, fail
from insightcap.config import Settings
from insightcap.progress import time_left_words
from insightcap.storage.statuses import JobStatus


class _TimeLeftColumn(ProgressColumn):
    """The running stage's time left, from how fast its bar moved over the last half minute. Blank
    until there is an estimate, once the stage has ended, and when its message already says it
    (transcription reports its own, from the audio left)."""

    def render(self, task: Task) -> Text:
        left = task.time_remaining
        if task.stop_time is not None or left is None or task.fields["message"].endswith(" left"):
            return Text("")
        return Text(time_left_words(left), style="progress.remaining")


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
        _TimeLeftColumn(),
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


def _clock_time(seconds: float) -> str:
    """H:MM:SS, as the bars' clock shows it."""
    return str(timedelta(seconds=int(seconds)))


class _StageLines:
    """The bars' report as lines of text: a line when a stage starts, one when it ends with its time,
    and between them its progress and message at each further tenth of the stage, but at most one
    every half minute. A stage whose bar does not move still gets a line every couple of minutes,
    so a log never looks stuck. As with the bars, 100% is claimed only once the stage is recorded."""

    STEP = 0.1
    AT_MOST_EVERY_SECONDS = 30.0
    STILL_WORKING_SECONDS = 120.0

    def __init__(self, console: Console, stage_names: list[str], done_before: set[str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        from insightcap.jobs.stages import STAGES

        self.console, self.clock = console, clock
        self.labels = {name: STAGES[name].label for name in stage_names}
        self.done_before = done_before
        self.started: list[str] = []
        self.started_at = self.last_line_at = 0.0
        self.last_fraction = 0.0
        for name in stage_names:
            if name in done_before:
                self._line(name, "done in an earlier run")

    def report(self, stage: str, fraction: float, message: str) -> None:
        """The job runner's listener."""
        now = self.clock()
        if stage not in self.started:
            if self.started:
                self._end(self.started[-1], "done in")
            self.started.append(stage)
            self.started_at = self.last_line_at = now
            self.last_fraction = 0.0
            self._line(stage, "started")
            return
        since_last = now - self.last_line_at
        moved = fraction - self.last_fraction >= self.STEP
        # The stage's end (1.0) gets its own line, with its time.
        if fraction < 1.0 and since_last >= self.AT_MOST_EVERY_SECONDS and (
                moved or since_last >= self.STILL_WORKING_SECONDS):
            self.last_line_at, self.last_fraction = now, fraction
            shown = min(fraction, _StageBars.UNCONFIRMED)
            self._line(stage, f"{shown:.0%} {message}".rstrip())

    def settle(self, completed_stages: list[str]) -> None:
        """How the run ended, as _StageBars.settle shows it."""
        if self.started:
            last = self.started[-1]
            if last in completed_stages:
                self._end(last, "done in")
            else:
                self._end(last, "failed after", ", see the error below")
        for name in self.labels:
            if name not in self.done_before and name not in self.started:
                self._line(name, "not run")

    def _end(self, stage: str, outcome: str, after: str = "") -> None:
        self._line(stage, f"{outcome} {_clock_time(self.clock() - self.started_at)}{after}")

    def _line(self, stage: str, text: str) -> None:
        # Not rich markup: a message may quote a theme title with brackets in it.
        self.console.print(f"{self.labels[stage]}: {text}", markup=False, highlight=False, soft_wrap=True)


def run_with_progress(settings: Settings, job_id: str) -> None:
    """Run the job with a bar per stage. A session whose recording is refused as unusable (no speech,
    not audio) is deleted whole by the runner: the message says so."""
    from insightcap.jobs.runner import JobUnavailable, refused, run_job
    from insightcap.storage import repository as repo
    from insightcap.storage.db import session_scope
    from insightcap.storage.folder_lock import FolderBusy

    with session_scope(settings) as db:
        job = repo.get_job(db, job_id)
        stage_names, done_before = list(job.stages), set(job.completed_stages)
    try:
        if err.is_terminal:
            with Progress(*_StageBars.COLUMNS, console=err, transient=False) as bar:
                stages = _StageBars(bar, stage_names, done_before)
                finished = run_job(settings, job_id, stages.report)
                stages.settle(finished.completed_stages)
        else:
            lines = _StageLines(err, stage_names, done_before)
            finished = run_job(settings, job_id, lines.report)
            lines.settle(finished.completed_stages)
    except (JobUnavailable, FolderBusy) as error:
        fail(str(error))
    if finished.status == JobStatus.FAILED:
        if refused(settings, job_id):
            fail(f"{finished.error} Nothing of the recording was kept; its title and this reason stay listed in "
                 f"Sessions on the web for a week (`insightcap forget {finished.session_id}` removes them now).")
        fail(finished.error or f"Processing failed. Run `insightcap retry {finished.session_id}` to try again.")

