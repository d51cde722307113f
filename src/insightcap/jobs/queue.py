"""Where jobs run. The embedded default runs them in this process; the interface is one method so an
existing distributed task engine (Celery, RQ, Dramatiq) can run the same `run_job` later."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol

from insightcap.config import Settings
from insightcap.jobs.runner import JobUnavailable, run_job

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    def submit(self, job_id: str) -> None:
        """Schedule the job; returns at once or when it is done, depending on the queue."""


class ThreadQueue:
    """One background worker thread, in-process: the web app's embedded default.

    One job at a time, because each job already uses every core for its models.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pending: queue.Queue[str] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="insightcap-worker", daemon=True)
        self._worker.start()

    def submit(self, job_id: str) -> None:
        self._pending.put(job_id)

    def _work(self) -> None:
        """One job at a time, forever: a job that cannot run (its session was deleted meanwhile, or an
        error run_job could not store) is logged and skipped, never allowed to stop the worker."""
        while True:
            job_id = self._pending.get()
            try:
                run_job(self.settings, job_id)
            except JobUnavailable as taken:  # e.g. a command line run took it first: not a fault
                log.info("job %s skipped: %s", job_id, taken)
            except Exception:
                log.exception("job %s could not run; the worker carries on with the next one", job_id)
