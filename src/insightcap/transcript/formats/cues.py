"""What every format reader produces, and the text clean-up they all need.

A `Cue` is one timed piece of text as the file wrote it. Readers keep them close to the file; the
importer does the sorting, end-time filling and merging, so those rules live in one place.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

ACCEPTED_FORMATS = (
    "expected WebVTT (.vtt), SRT (.srt), or a Zoom or Microsoft Teams transcript saved as text"
)


class TranscriptFormatError(ValueError):
    """The file is not a transcript insightcap can read; the message says why and what would work."""


@dataclass(frozen=True)
class Cue:
    start: float
    # None when the format only writes start times (Zoom and Teams text exports).
    end: float | None
    text: str
    speaker: str | None = None


_MARKUP = re.compile(r"<[^<>\n]*>|\{\\[^{}\n]*\}")  # WebVTT/HTML tags and SRT {\an8}-style overrides
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s+")
_CLOCK = re.compile(r"^(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
# "Jane Doe: text" as Zoom writes cues. A name starts with a letter, has no sentence punctuation
# and at most six words, so "Note: ..." can match but "Why? Because: ..." cannot.
_SPEAKER_PREFIX = re.compile(r"^([^\W\d][^:?!;\"\n]{0,59}?)\s*:\s+(\S.*)$", re.DOTALL)
_MAX_NAME_WORDS = 6


def clean_text(text: str) -> str:
    """Cue text as a reader wants it: no tags, no entities, no control characters, single spaces."""
    text = html.unescape(_MARKUP.sub("", text))
    return _WHITESPACE.sub(" ", _CONTROL.sub(" ", text)).strip()


def parse_clock(value: str) -> float:
    """Seconds from `H:MM:SS`, `M:SS` or either with a `.mmm` fraction, as transcript exports write times."""
    match = _CLOCK.match(value.strip())
    if match is None:
        raise TranscriptFormatError(f"{value!r} is not a time like 0:03 or 01:02:03")
    hours, minutes, seconds, fraction = match.groups()
    return (
        int(hours or 0) * 3600
        + int(minutes) * 60
        + int(seconds)
        + (int(fraction.ljust(3, "0")) / 1000 if fraction else 0.0)
    )


def label_speakers_from_prefixes(cues: list[Cue]) -> list[Cue]:
    """Move `Name: text` prefixes into `speaker` when the file labels its cues that way.

    Only when most unlabelled cues carry such a prefix: then the file is speaker-labelled (Zoom
    does it on every cue), and a colon in ordinary caption text is not mistaken for a name.
    """
    split = [_split_prefix(cue.text) if cue.speaker is None else None for cue in cues]
    unlabelled = sum(cue.speaker is None for cue in cues)
    if unlabelled == 0 or sum(parts is not None for parts in split) * 2 < unlabelled:
        return cues
    return [
        replace(cue, speaker=parts[0], text=parts[1]) if parts else cue
        for cue, parts in zip(cues, split)
    ]


def _split_prefix(text: str) -> tuple[str, str] | None:
    match = _SPEAKER_PREFIX.match(text)
    if match is None or len(match.group(1).split()) > _MAX_NAME_WORDS:
        return None
    return clean_text(match.group(1)), match.group(2)
