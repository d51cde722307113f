"""Plain-text transcripts as Zoom and Microsoft Teams export them.

Both write a header line per turn (who spoke and when it started) followed by what was said, and
no end times; the importer fills those in. Layouts, from files the apps write:

- Zoom, saved live transcript or closed captions: `[Jane Doe] 00:01:02` then the text on the next
  lines; or one line per turn, `00:01:02 Jane Doe: text` (also with the time in brackets). Saved
  closed captions give the time of day (`[Jane Doe] 14:03:22`): see from_session_start.
- Teams, transcript downloaded as text/copied from the .docx: a title, date and length, then
  `Jane Doe   0:03` (name, several spaces, `M:SS` or `H:MM:SS`) and the text on the next lines,
  with notices such as `Jane Doe started transcription` in between.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from insightcap.transcript.formats.cues import Cue, clean_text, parse_clock

# The stamp Teams ends a transcript's name with: "Circle-20240312_150212-Meeting Transcript".
_TEAMS_NAME_STAMP = re.compile(r"-(?P<day>\d{8})_\d{6}-Meeting Transcript$")
# How Teams writes the day on the second line, by the locale it ran in: "12 March 2024, 03:02pm",
# "March 12, 2024, 3:02 PM".
_TEAMS_DAY_FORMATS = ("%d %B %Y", "%B %d, %Y")
# A first turn this late is a time of day, not a time into the recording.
CLOCK_TIME_FROM = 3600.0
DAY = 86400.0


def from_session_start(starts: list[float]) -> list[float]:
    """Turn times counted from the session's start. Zoom's saved closed captions stamp each turn
    with the time of day ("[Jane Doe] 14:03:22"); read as is, a one-hour session starting at 14:00
    would last 15 hours. Times into the recording, whose first turn comes within the hour, are kept."""
    if not starts or starts[0] < CLOCK_TIME_FROM:
        return starts
    days, previous, counted = 0.0, starts[0], []
    for start in starts:
        if start < previous - DAY / 2:  # past midnight
            days += DAY
        previous = start
        counted.append(start + days - starts[0])
    return counted


@dataclass(frozen=True)
class TextExport:
    """One app's plain-text layout: the header lines that start a turn and lines that are not speech."""

    headers: tuple[re.Pattern[str], ...]
    notices: re.Pattern[str] | None = None

    def header_count(self, text: str) -> int:
        """How many lines look like this layout's turn headers; the importer picks the best fit."""
        return sum(self._header(line) is not None for line in text.splitlines())

    def read(self, text: str) -> list[Cue]:
        """One cue per header with the text that follows it; lines before the first header are the title."""
        turns: list[tuple[float, str, list[str]]] = []
        for line in text.splitlines():
            header = self._header(line)
            if header is not None:
                turns.append(
                    (parse_clock(header["time"]), header["speaker"], [header.groupdict().get("text") or ""])
                )
            elif turns and not (self.notices and self.notices.match(line)):
                turns[-1][2].append(line)
        starts = from_session_start([start for start, _, _ in turns])
        return [
            Cue(start=start, end=None, text=clean_text(" ".join(lines)), speaker=clean_text(speaker) or None)
            for start, (_, speaker, lines) in zip(starts, turns)
        ]

    def _header(self, line: str) -> re.Match[str] | None:
        for pattern in self.headers:
            match = pattern.match(line.strip())
            if match is not None:
                return match
        return None


@dataclass(frozen=True)
class Heading:
    """What a transcript file says about its meeting before the first turn."""

    title: str | None = None
    day: date | None = None


def teams_heading(text: str) -> Heading:
    """The meeting's name and day from a Teams export's first lines (its title, then day and time);
    Teams' stamp is taken off the name, and gives the day when the second line does not."""
    lines = [line.strip() for line in text.splitlines()[:3] if line.strip()]
    if not lines or TEAMS._header(lines[0]) is not None or TEAMS.notices.match(lines[0]):
        return Heading()
    stamp = _TEAMS_NAME_STAMP.search(lines[0])
    title = (lines[0][: stamp.start()] if stamp else lines[0]).strip() or None
    written = [_day(lines[1].rsplit(",", 1)[0], fmt) for fmt in _TEAMS_DAY_FORMATS] if len(lines) > 1 else []
    stamped = [_day(stamp["day"], "%Y%m%d")] if stamp else []
    return Heading(title=title, day=next((day for day in [*written, *stamped] if day), None))


def _day(text: str, fmt: str) -> date | None:
    try:
        return datetime.strptime(text.strip(), fmt).date()
    except ValueError:
        return None


ZOOM = TextExport(
    headers=(
        re.compile(r"^\[(?P<speaker>[^\[\]]{1,80})\]\s+(?P<time>\d{1,2}:\d\d:\d\d)$"),
        re.compile(r"^\[?(?P<time>\d{1,2}:\d\d:\d\d)\]?\s+(?P<speaker>[^:\[\]]{1,80}?)\s*:\s*(?P<text>.*)$"),
    ),
)

TEAMS = TextExport(
    headers=(re.compile(r"^(?P<speaker>[^\d\s][^\t]{0,79}?)(?:\t|\s{2,})(?P<time>\d{1,2}(?::\d\d){1,2})$"),),
    notices=re.compile(r"^.{1,80} (?:started|stopped) transcription\s*$"),
)
