"""Following a job in the terminal: a bar per stage, kept apart from the commands that start jobs
because what a bar may claim (100% only once the runner has recorded the stage) is its own concern."""

from __future__ import annotations

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from insightcap.cli.common import err, fail
from insightcap.config import Settings
from insightcap.storage.statuses import JobStatus


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


def run_with_progress(settings: Settings, job_id: str, *, forget_if_refused: bool = False) -> None:
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
        fail(str(error))
    if finished.status == JobStatus.FAILED:
        if forget_if_refused and original_discarded(settings, finished.session_id):
            forget_session(settings, finished.session_id)
            fail(f"{finished.error} Nothing was kept.")
        fail(finished.error or f"Processing failed. Run `insightcap retry {finished.session_id}` to try again.")

