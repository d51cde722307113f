"""Turn a caption or transcript file the user already has into a `Transcript`.

Many programs record their sessions in Zoom or Teams, which already transcribe them; importing
that file skips the slowest stage. The format is read from the content, not the file name, because
exports are often renamed (`transcript.txt` holding WebVTT is common). Whatever the format, cues
come out the same way: cleaned, sorted, with end times, and with the many short cues that Zoom and
Teams split one sentence into merged back into one segment per turn.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import srt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from insightcap.transcript.formats.captions import (
    is_teams_cue_layout,
    read_srt,
    read_teams_cues,
    read_webvtt,
)
from insightcap.transcript.formats.cues import (
    ACCEPTED_FORMATS,
    Cue,
    TranscriptFormatError,
)
from insightcap.transcript.formats.exports import TEAMS, ZOOM, Heading, teams_heading
from insightcap.transcript.schema import Segment, Transcript

__all__ = ["TranscriptFormatError", "import_transcript"]

# A ten-hour meeting's captions are a few megabytes; anything far larger is not a transcript.
MAX_FILE_BYTES = 50 * 1024 * 1024
# Consecutive cues of one speaker closer than this are one turn split by the captioner.
MERGE_GAP_SECONDS = 1.0
MERGE_MAX_CHARS = 400
# Speaking rate used to guess how long the last turn of a start-times-only export lasted.
WORDS_PER_SECOND = 2.5


@dataclass(frozen=True)
class _Format:
    produced_by: str
    label: str
    read: Callable[[str], list[Cue]]
    # How its timed lines look, shown when a file matches no format so the user can fix theirs.
    layout: str
    # The meeting's name and day, for a format that states them before the first turn.
    heading: Callable[[str], Heading] | None = None


_FORMATS = {
    "vtt": _Format(
        "vtt", "a WebVTT file", read_webvtt,
        "WebVTT (.vtt): a `WEBVTT` line, then cues timed `00:00:05.000 --> 00:00:08.000`",
    ),
    "srt": _Format(
        "srt", "an SRT file", read_srt,
        "SRT (.srt): numbered cues timed `00:00:05,000 --> 00:00:08,000`",
    ),
    "teams-cues": _Format(
        "teams", "a Teams transcript", read_teams_cues,
        "Teams cues: `0:0:5.0 --> 0:0:8.0`, then the speaker's name on a line, then the text",
    ),
    "teams": _Format(
        "teams", "a Teams transcript", TEAMS.read,
        "Teams text: `Jane Doe   0:05` (the name, a tab or several spaces, the time) on a line, then the text",
        teams_heading,
    ),
    "zoom": _Format(
        "zoom", "a Zoom transcript", ZOOM.read,
        "Zoom text: `00:00:05 Jane Doe: text` on each line, or `[Jane Doe] 00:00:05` on a line, then the text",
    ),
}
# Every layout with an example, for a file that matches none: a transcript without times is common.
_LAYOUTS = "; ".join(file_format.layout for file_format in _FORMATS.values())
_WEBVTT_HEADER = re.compile(r"\s*WEBVTT(?:[ \t]|$)", re.MULTILINE)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")  # not tab, newlines or form feed
# What to do with a recording given as a transcript. A constant, so that the command line can name
# its command for it (`insightcap process`) where the web app, which takes both, says this.
TRANSCRIBE_INSTEAD = "transcribe it instead of importing it"
# What a user is likely to pick by mistake, by the bytes such files start with.
_BINARY_KINDS = {
    b"PK\x03\x04": "a Word document or other zip file (save the Teams transcript as .vtt or plain text)",
    b"%PDF": "a PDF",
    b"{\\rtf": "an RTF document (save it as plain text)",
    b"ID3": f"an audio file ({TRANSCRIBE_INSTEAD})",
    b"fLaC": f"an audio file ({TRANSCRIBE_INSTEAD})",
    b"OggS": f"an audio file ({TRANSCRIBE_INSTEAD})",
    b"RIFF": f"an audio or video file ({TRANSCRIBE_INSTEAD})",
    b"\x1aE\xdf\xa3": f"a video file ({TRANSCRIBE_INSTEAD})",
}
# What the caption libraries raise for content they cannot parse (huge times overflow `timedelta`).
_UNREADABLE = (TranscriptFormatError, MalformedFileError, MalformedCaptionError, srt.SRTParseError, OverflowError)


def import_transcript(path: Path) -> Transcript:
    """Read a WebVTT, SRT, Zoom or Teams transcript; raise `TranscriptFormatError` for anything else."""
    text = _read_text(path)
    format_key = _detect_format(text)
    if format_key is None:
        raise TranscriptFormatError(
            f"{path.name} does not look like a transcript insightcap can read. Every turn needs its start "
            f"time, as in one of these layouts: {_LAYOUTS}"
        )
    file_format = _FORMATS[format_key]
    try:
        cues = file_format.read(text)
    except _UNREADABLE as error:
        raise TranscriptFormatError(
            f"{path.name} looks like {file_format.label} but {error}: {ACCEPTED_FORMATS}"
        ) from error
    segments = _segments(cues)
    if not segments:
        raise TranscriptFormatError(f"{path.name} has no caption cues with any text: {ACCEPTED_FORMATS}")
    heading = file_format.heading(text) if file_format.heading else Heading()
    return Transcript(
        segments=segments,
        language=None,
        duration=max(segment.end for segment in segments),
        source="import",
        produced_by=file_format.produced_by,
        title=heading.title,
        recorded_on=heading.day,
    )


def _detect_format(text: str) -> str | None:
    """The layout of this content (a key of `_FORMATS`), or None when it is none we know."""
    if _WEBVTT_HEADER.match(text):
        return "vtt"
    if "-->" in text:
        return "teams-cues" if is_teams_cue_layout(text) else "srt"
    counts = {"zoom": ZOOM.header_count(text), "teams": TEAMS.header_count(text)}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else None


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TranscriptFormatError(
                f"{path.name} is {size // 2**20} MB, far too large for a transcript: {ACCEPTED_FORMATS}"
            )
        data = path.read_bytes()
    except OSError as error:
        raise TranscriptFormatError(f"{path.name} could not be read ({error.strerror or error})") from error
    if not data.strip():
        raise TranscriptFormatError(f"{path.name} is empty: {ACCEPTED_FORMATS}")
    return _decode(path.name, data).replace("\r\n", "\n").replace("\r", "\n")


def _decode(name: str, data: bytes) -> str:
    """The file's text, refusing binary content with a word on what it seems to be instead.

    UTF-16 only with its byte-order mark (Windows "Unicode" text); otherwise UTF-8, then the
    Windows code page that older Zoom and Teams exports on Windows were saved in.
    """
    kind = next((kind for magic, kind in _BINARY_KINDS.items() if data.startswith(magic)), None)
    if kind is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    elif kind is None and b"\x00" not in data:
        encodings = ("utf-8-sig", "cp1252")
    else:
        raise _not_text(name, kind)
    text = next((decoded for decoded in (_try_decode(data, encoding) for encoding in encodings) if decoded), None)
    if text is None:
        raise TranscriptFormatError(
            f"{name} is not UTF-8, UTF-16 or Windows-1252 text; save it as UTF-8 and import it again "
            f"({ACCEPTED_FORMATS})"
        )
    if _mostly_control_characters(text):
        raise _not_text(name, None)
    return text


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _not_text(name: str, kind: str | None) -> TranscriptFormatError:
    return TranscriptFormatError(f"{name} is {kind or 'not a text file'}, not a transcript: {ACCEPTED_FORMATS}")


def _mostly_control_characters(text: str) -> bool:
    return len(_CONTROL_CHARACTERS.findall(text)) * 100 > len(text)


def _segments(cues: list[Cue]) -> list[Segment]:
    """Sorted, timed, merged segments from a reader's cues; empty cues are dropped."""
    ordered = sorted((cue for cue in cues if cue.text), key=lambda cue: cue.start)
    timed = [_with_end(cue, following) for cue, following in zip(ordered, [*ordered[1:], None])]
    merged: list[Cue] = []
    for cue in timed:
        if merged and _continues(merged[-1], cue):
            previous = merged[-1]
            end = max(previous.end or 0.0, cue.end or 0.0)
            merged[-1] = replace(previous, end=end, text=f"{previous.text} {cue.text}")
        else:
            merged.append(cue)
    return [
        Segment(start=cue.start, end=cue.end or cue.start, text=cue.text, speaker=cue.speaker) for cue in merged
    ]


def _with_end(cue: Cue, following: Cue | None) -> Cue:
    """Give a start-only cue the next cue's start as its end, or a reading-speed guess for the last."""
    if cue.end is not None:
        return cue  # the readers refuse a cue that ends before it starts
    end = following.start if following else cue.start + len(cue.text.split()) / WORDS_PER_SECOND
    return replace(cue, end=max(end, cue.start))


def _continues(previous: Cue, cue: Cue) -> bool:
    return (
        cue.speaker == previous.speaker
        and cue.start - (previous.end or previous.start) < MERGE_GAP_SECONDS
        and len(previous.text) + 1 + len(cue.text) <= MERGE_MAX_CHARS
    )
