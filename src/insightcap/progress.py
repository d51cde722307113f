"""How long-running stages report progress without knowing who listens (CLI bar, job row, web page)."""

from __future__ import annotations

from typing import Protocol


class ProgressCallback(Protocol):
    def __call__(self, fraction: float, message: str = "") -> None:
        """`fraction` is 0..1 of the current stage; `message` is a short human-readable status."""


def ignore_progress(fraction: float, message: str = "") -> None:
    """The callback for callers that do not show progress."""


def time_left_words(seconds: float) -> str:
    """How a progress message says the time still to wait (as the web app's job page says it)."""
    return "less than a minute left" if seconds < 60 else f"about {round(seconds / 60)} min left"
