"""Turn a QMSum meeting into a Teams-style WebVTT file, so evals can feed real meetings through import.

QMSum has speaker turns but no audio and no times, so the times here are synthetic: each turn
lasts as long as reading it at a typical meeting pace would take. The text loses QMSum's
transcription markers (`{vocalsound}`, `{disfmarker}`, `{gap}`, ...), which no caption file
would contain, and its tokenised spacing (`Okay , so we 're`). Each cue is named `turn-<idx>`
after its QMSum turn, so results can be traced back to the gold spans.

    python -m eval.qmsum_to_vtt --meeting ES2006a --out /tmp/ES2006a.vtt [--max-turns 200]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import webvtt
from webvtt.models import Timestamp

from eval.common import argument_parser

WORDS_PER_SECOND = 2.6
GAP_SECONDS = 0.3
MEETING_FILES = ("qmsum/meetings.jsonl", "qmsum/train_extra/meetings.jsonl")

_MARKER = re.compile(r"\{[^{}]*\}")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,!?;:%)\]]|n't\b|'(?:s|re|ve|ll|d|m)\b)")
_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w")


def clean_turn_text(text: str) -> str:
    """A QMSum turn as a captioner would write it: no markers, normal spacing; "" if nothing was said."""
    text = _WHITESPACE.sub(" ", _MARKER.sub(" ", text)).strip()
    text = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)
    return text if _WORD.search(text) else ""


class TimedTurn(NamedTuple):
    idx: int
    speaker: str
    text: str
    start: float
    end: float


def timed_turns(meeting: dict[str, Any], max_turns: int | None = None) -> Iterator[TimedTurn]:
    """The meeting's spoken turns (turns with only markers are left out) timed at reading pace:
    the one timing every eval uses, so a VTT import and a direct transcript line up."""
    clock = 0.0
    for turn in meeting["turns"][:max_turns]:
        text = clean_turn_text(turn["text"])
        if not text:
            continue
        end = clock + len(text.split()) / WORDS_PER_SECOND
        yield TimedTurn(int(turn["idx"]), turn["speaker"], text, clock, end)
        clock = end + GAP_SECONDS


def qmsum_meeting_to_vtt(meeting: dict[str, Any], max_turns: int | None = None) -> str:
    """The WebVTT text for the meeting's first `max_turns` turns (all when None), one cue per spoken turn."""
    captions = [
        webvtt.Caption(
            start=str(Timestamp.from_seconds(turn.start)),
            end=str(Timestamp.from_seconds(turn.end)),
            text=f"<v {re.sub(r'[<>&]', '', turn.speaker).strip() or 'Unknown'}>{_escape(turn.text)}</v>",
            identifier=f"turn-{turn.idx}",
        )
        for turn in timed_turns(meeting, max_turns)
    ]
    return webvtt.WebVTT(captions=captions).content


def load_meeting(data: Path, meeting_id: str) -> dict[str, Any]:
    """The meeting from the validation set or, failing that, the training extras."""
    for name in MEETING_FILES:
        path = data / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                meeting = json.loads(line)
                if meeting["meeting_id"] == meeting_id:
                    return meeting
    raise SystemExit(f"meeting {meeting_id!r} is in none of {', '.join(MEETING_FILES)} under {data}")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main() -> None:
    parser = argument_parser("Write a QMSum meeting as a WebVTT transcript with synthetic times.")
    parser.add_argument("--meeting", required=True, help="QMSum meeting id, e.g. ES2006a")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .vtt file")
    parser.add_argument("--max-turns", type=int, default=None, help="only the first N turns")
    args = parser.parse_args()
    vtt = qmsum_meeting_to_vtt(load_meeting(args.data, args.meeting), args.max_turns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(vtt, encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
