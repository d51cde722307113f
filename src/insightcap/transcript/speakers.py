"""How much each speaker took part, so a facilitator can see whether everyone had a voice."""

from __future__ import annotations

from pydantic import BaseModel

from insightcap.transcript.schema import Transcript


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
