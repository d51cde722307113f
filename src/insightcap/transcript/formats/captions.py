"""Caption files with `start --> end` timings: WebVTT (Teams, Zoom), SRT, and Teams' text export.

Parsing is left to the well-kept `webvtt-py` and `srt` libraries; this module only reads speakers
out of what they return. `webvtt-py` skips cue blocks it cannot read, so the WebVTT reader counts
the timing lines itself and refuses the file, naming the first it could not read, rather than lose
what was said there in silence; SRT-style files are refused at the first block `srt` cannot read.
Both libraries read a block that lost its timing line or the blank line before it as more text of
the cue before, which would put one speaker's words in another's mouth, and both accept a cue that
ends before it starts: files with either are refused with the cue to fix.
"""

from __future__ import annotations

import re

import srt
import webvtt

from insightcap.transcript.formats.cues import (
    Cue,
    TranscriptFormatError,
    clean_text,
    label_speakers_from_prefixes,
)

_ARROW = "-->"
_TIMING_LINE = re.compile(r"^[^\n]*-->[^\n]*$", re.MULTILINE)
_TIMESTAMP = re.compile(r"(?<![\d.:])(?:(\d+):)?(\d+):(\d+)\.(\d{1,3})(?![\d.:])")
# A cue's timing line that ended up inside another cue's text: a clock, then the arrow.
_GLUED_TIMING = re.compile(r"^\s*\d+:\d+\S*\s*-->")


def read_webvtt(text: str) -> list[Cue]:
    """Cues of a WebVTT file; the speaker comes from a `<v Name>` voice tag or a `Name:` prefix."""
    # Not strict: `_check_all_read` then names the first timing it could not read, rather than the
    # library's bare parse error. Blank lines before the header are harmless, though WebVTT's grammar
    # does not allow them.
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
    for caption in captions:
        _check_not_glued(int(caption.identifier) if (caption.identifier or "").isdecimal() else None, caption.text)
        _check_ends_after_start(
            caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds(),
            f"{caption.start} --> {caption.end}", caption.text,
        )
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
    """Start, end and text of every cue block, refusing the file at the first block it cannot read."""
    try:
        subtitles = list(srt.parse(text))
    except srt.SRTParseError as error:
        raise TranscriptFormatError(_unreadable_block(text, error.expected_start)) from error
    for subtitle in subtitles:
        _check_not_glued(subtitle.index, subtitle.content)
        _check_ends_after_start(
            subtitle.start.total_seconds(), subtitle.end.total_seconds(),
            f"{srt.timedelta_to_srt_timestamp(subtitle.start)} --> {srt.timedelta_to_srt_timestamp(subtitle.end)}",
            subtitle.content,
        )
    return [
        (subtitle.start.total_seconds(), subtitle.end.total_seconds(), subtitle.content)
        for subtitle in subtitles
    ]


def _unreadable_block(text: str, offset: int) -> str:
    """What is wrong with the block `srt` could not match at `offset`, by its number and line."""
    start = len(text) - len(text[offset:].lstrip())
    lines = [line.strip() for line in _nonempty_lines(text[start:])[:2]]
    numbered = bool(lines) and lines[0].isdecimal()
    name, timing = (f"cue {lines[0]}", lines[1:]) if numbered else ("the cue", lines[:1])
    shown = f" ({timing[0]!r})" if timing else ""
    line_number = text.count("\n", 0, start) + 1
    return (
        f"{name} at line {line_number} has no timing line it can read{shown}; write it like "
        "00:00:05,000 --> 00:00:08,000, or delete that cue, and import the file again"
    )


def _check_not_glued(number: int | None, content: str) -> None:
    """Refuse a cue whose text holds the start of another cue that lost its timing or blank line.

    Both libraries read such a block as more lines of the cue before it, so its words would be
    put in the mouth of whoever spoke that cue. Numbered cues give the next block away by its number.
    """
    next_number = None if number is None else str(number + 1)
    for line in _nonempty_lines(content):
        if line.strip() == next_number:
            problem = f"cue {next_number} has no timing line it can read, so it would become part of cue {number}"
        elif _GLUED_TIMING.match(line):
            problem = f"the timing line {line.strip()!r} has no blank line before it, so it would be read as text"
        else:
            continue
        raise TranscriptFormatError(
            f"{problem}; give every cue a blank line before it and its own timing line, "
            "then import the file again"
        )


def _check_ends_after_start(start: float, end: float, timing: str, text: str) -> None:
    """Refuse a cue that ends before it starts rather than clamp it.

    Which of its two times is wrong cannot be known, and an import has no way to show the user a
    warning: a clamped cue would sit on the timeline with a made-up length and no sign of it.
    """
    if end < start:
        raise TranscriptFormatError(
            f"the cue timed {timing} ({clean_text(text)[:60]!r}) ends before it starts; "
            "correct its end time, or delete that cue, and import the file again"
        )


def _check_all_read(text: str, read: int) -> None:
    """Refuse a file with cues that could not be read, naming the first: skipping them would lose what
    was said there without a word to the user (an import has no way to show a warning)."""
    lines = text.splitlines()
    timings = [number for number, line in enumerate(lines, start=1) if _ARROW in line]
    if read == 0:
        raise TranscriptFormatError(
            f"none of its {len(timings)} cue timings could be read" if timings else "it has no caption cues"
        )
    if read < len(timings):
        unreadable = next((number for number in timings if len(_TIMESTAMP.findall(lines[number - 1])) < 2), None)
        first = f" (the first at line {unreadable}: {lines[unreadable - 1].strip()!r})" if unreadable else ""
        raise TranscriptFormatError(
            f"{len(timings) - read} of its {len(timings)} cue timings could not be read{first}; write them like "
            "00:00:05.000 --> 00:00:08.000, or delete those cues, and import the file again"
        )


def _nonempty_lines(content: str) -> list[str]:
    return [line for line in content.splitlines() if line.strip()]

