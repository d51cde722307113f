"""Caption files with `start --> end` timings: WebVTT (Teams, Zoom), SRT, and Teams' text export.

Parsing is left to the well-kept `webvtt-py` and `srt` libraries; this module only reads speakers
out of what they return. Both libraries skip cue blocks they cannot read, so every reader counts
the timing lines itself and says how many cues were lost rather than dropping them in silence.
"""

from __future__ import annotations

import logging

import srt
import webvtt

from insightcap.transcript.formats.cues import (
    Cue,
    TranscriptFormatError,
    clean_text,
    label_speakers_from_prefixes,
)

logger = logging.getLogger(__name__)

_ARROW = "-->"


def read_webvtt(text: str) -> list[Cue]:
    """Cues of a WebVTT file; the speaker comes from a `<v Name>` voice tag or a `Name:` prefix."""
    # Not strict: Teams writes timings such as `0:0:3.520`, which strict WebVTT rejects.
    captions = webvtt.from_string(text).captions
    cues = [
        Cue(
            start=caption.start_time.in_milliseconds() / 1000,
            end=caption.end_time.in_milliseconds() / 1000,
            text=clean_text(caption.text),
            speaker=clean_text(caption.voice) if caption.voice else None,
        )
        for caption in captions
    ]
    _check_all_read(text, len(cues))
    return label_speakers_from_prefixes(cues)


def read_srt(text: str) -> list[Cue]:
    """Cues of an SRT file; the speaker comes from a `Name:` prefix when the file uses them."""
    cues = [
        Cue(start=start, end=end, text=clean_text(content))
        for start, end, content in _srt_blocks(text)
    ]
    return label_speakers_from_prefixes(cues)


def read_teams_cues(text: str) -> list[Cue]:
    """Cues of the Teams text export that puts the speaker on the line after each timing.

    Teams writes it as `0:0:0.0 --> 0:0:4.520`, then `Jane Doe`, then what she said.
    """
    cues = []
    for start, end, content in _srt_blocks(text):
        name, _, said = content.strip().partition("\n")
        cues.append(Cue(start=start, end=end, text=clean_text(said), speaker=clean_text(name) or None))
    return cues


def is_teams_cue_layout(text: str) -> bool:
    """True when every cue is unnumbered and starts with a line of its own for the speaker.

    That is what tells Teams' export apart from SRT, which numbers its cues and puts the text
    (perhaps with a `Name:` prefix) right after the timing.
    """
    subtitles = list(srt.parse(text, ignore_errors=True))
    return bool(subtitles) and all(
        subtitle.index is None and len(_nonempty_lines(subtitle.content)) >= 2 for subtitle in subtitles
    )


def _srt_blocks(text: str) -> list[tuple[float, float, str]]:
    blocks = [
        (subtitle.start.total_seconds(), subtitle.end.total_seconds(), subtitle.content)
        for subtitle in srt.parse(text, ignore_errors=True)
    ]
    _check_all_read(text, len(blocks))
    return blocks


def _check_all_read(text: str, read: int) -> None:
    timings = sum(_ARROW in line for line in text.splitlines())
    if read == 0:
        raise TranscriptFormatError(
            f"none of its {timings} cue timings could be read" if timings else "it has no caption cues"
        )
    if read < timings:
        logger.warning("skipped %d of %d caption cues that could not be read", timings - read, timings)


def _nonempty_lines(content: str) -> list[str]:
    return [line for line in content.splitlines() if line.strip()]

