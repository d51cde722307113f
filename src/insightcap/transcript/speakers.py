"""What is known about a session's speakers beside the transcript: how many the user says there are
(a hint the diarization honours), and how much each one took part, so a facilitator can see
whether everyone had a voice."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from insightcap.transcript.schema import Transcript

# More people than this in one recording is a conference, not a peer-learning circle; a larger
# number is far more likely a typo, and diarization from one microphone cannot tell so many apart.
MOST_SPEAKERS = 20


class SpeakerHintError(ValueError):
    """The speaker count a user gave cannot be used; the message says what to give instead."""


def _checked(value: int | None, what: str) -> None:
    if value is not None and not 1 <= value <= MOST_SPEAKERS:
        raise SpeakerHintError(f"The {what} must be between 1 and {MOST_SPEAKERS} (got {value}).")


@dataclass(frozen=True)
class SpeakerBounds:
    """How many speakers the recording has, as far as the user knows: an exact count (min == max),
    a range, one end of it, or nothing (the count is then found from the voices alone)."""

    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self) -> None:
        _checked(self.min_speakers, "minimum number of speakers")
        _checked(self.max_speakers, "maximum number of speakers")
        if self.min_speakers is not None and self.max_speakers is not None and self.min_speakers > self.max_speakers:
            raise SpeakerHintError(
                f"The minimum number of speakers ({self.min_speakers}) cannot be more than the maximum ({self.max_speakers})."
            )

    @classmethod
    def from_hint(
        cls, exact: int | None = None, min_speakers: int | None = None, max_speakers: int | None = None
    ) -> SpeakerBounds:
        """From the user's options: `exact` (--speakers N) or the min/max bounds, not both."""
        if exact is None:
            return cls(min_speakers, max_speakers)
        if min_speakers is not None or max_speakers is not None:
            raise SpeakerHintError(
                "Give either the exact number of speakers or a minimum and maximum, not both."
            )
        _checked(exact, "number of speakers")
        return cls(exact, exact)

    def clamp(self, count: int) -> int:
        """The speaker count nearest to `count` that the bounds allow."""
        if self.max_speakers is not None:
            count = min(count, self.max_speakers)
        if self.min_speakers is not None:
            count = max(count, self.min_speakers)
        return count


class SpeakerStats(BaseModel):
    speaker: str
    talk_seconds: float
    # Fraction (0-1) of all labelled talk time.
    share: float
    # Times the speaker took the floor: maximal runs of consecutive segments by them.
    turns: int
    words: int


def speaker_stats(transcript: Transcript) -> list[SpeakerStats]:
    """One entry per labelled speaker, in order of first appearance; unlabelled segments are not counted."""
    talk: dict[str, float] = {speaker: 0.0 for speaker in transcript.speakers}
    turns = dict.fromkeys(talk, 0)
    words = dict.fromkeys(talk, 0)
    previous: str | None = None
    for segment in transcript.segments:
        speaker = segment.speaker
        if speaker:
            talk[speaker] += max(0.0, segment.end - segment.start)
            words[speaker] += len(segment.text.split())
            turns[speaker] += speaker != previous
        previous = speaker
    total = sum(talk.values())
    return [
        SpeakerStats(
            speaker=speaker,
            talk_seconds=round(talk[speaker], 2),
            share=talk[speaker] / total if total > 0 else 0.0,
            turns=turns[speaker],
            words=words[speaker],
        )
        for speaker in talk
    ]
