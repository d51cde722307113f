"""Caption files with `start --> end` timings: WebVTT (Teams, Zoom), SRT, and Teams' text export.

Parsing is left to the well-kept `webvtt-py` and `srt` libraries; this module only reads speakers
out of what they return. Both libraries skip cue blocks they cannot read, so every reader counts
the timing lines itself and says how many cues were lost rather than dropping them in silence.
"""

from __future__ import annotations

import logging
import re

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
_TIMING_LINE = re.compile(r"^[^\n]*-->[^\n]*$", re.MULTILINE)
_TIMESTAMP = re.compile(r"(?<![\d.:])(?:(\d+):)?(\d+):(\d+)\.(\d{1,3})(?![\d.:])")


def read_webvtt(text: str) -> list[Cue]:
    """Cues of a WebVTT file; the speaker comes from a `<v Name>` voice tag or a `Name:` prefix."""
    # Not strict, so one broken cue block does not lose the whole file; `_check_all_read` reports it.
    # Blank lines before the header are harmless, though WebVTT's grammar does not allow them.
    captions = webvtt.from_string(_TIMING_LINE.sub(_padded_timing, text.lstrip())).captions
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


def _padded_timing(line: re.Match[str]) -> str:
    """A timing line with every timestamp written out as `HH:MM:SS.mmm`.

    Teams prints the milliseconds as a bare number, so `0:0:2.90` is 2.090 s, not 2.9 s as a
    WebVTT reader would take it. Standard timestamps always have three digits and are unchanged.
    """
    return _TIMESTAMP.sub(
        lambda stamp: "{:02d}:{:02d}:{:02d}.{:03d}".format(*(int(part or 0) for part in stamp.groups())),
        line.group(0),
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

