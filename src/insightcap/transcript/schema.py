"""What the transcript stage hands to the rest of the pipeline.

A transcript is the same whether it came from Whisper or from an imported caption file, so every
later stage works on either. Times are seconds from the start of the recording.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field


class Word(BaseModel):
    text: str
    start: float
    end: float
    probability: float | None = None


class Segment(BaseModel):
    """One stretch of speech by one speaker: a Whisper segment or one caption cue."""

    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] = Field(default_factory=list)


class Transcript(BaseModel):
    segments: list[Segment]
    language: str | None = None
    duration: float = 0.0
    source: Literal["asr", "import"] = "asr"
    # The manifest name of the ASR model, or the imported file's format ("vtt", "srt", "zoom", ...).
    produced_by: str = ""
    # The meeting's name and day as an imported file states them (a Teams export's first lines): the
    # session's title and date when the user gives none.
    title: str | None = None
    recorded_on: date | None = None

    @property
    def speakers(self) -> list[str]:
        """Speakers in order of first appearance."""
        seen: dict[str, None] = {}
        for segment in self.segments:
            if segment.speaker:
                seen.setdefault(segment.speaker, None)
        return list(seen)

    @property
    def text(self) -> str:
        return " ".join(segment.text.strip() for segment in self.segments)
