"""Timed words grouped into transcript segments at sentence ends and pauses.

Batched decoding yields one stream of words per 30 s chunk; readers and the later stages want
sentence-sized segments, so words are regrouped by what the speech itself shows: a sentence that
ends, or a pause long enough to be a turn change.
"""

from __future__ import annotations

from collections.abc import Iterable

from insightcap.transcript.runtimes.whisper_batch import TimedWord
from insightcap.transcript.schema import Segment, Word

# A pause this long is a new segment even mid-sentence (people hand over without finishing).
PAUSE_SECONDS = 1.5
# Whisper's own segments are at most 30 s; a run-on with no full stop is cut at that length too.
MAX_SEGMENT_SECONDS = 30.0
# Past this length a segment is too long to read and seek as one transcript line: it also ends at a
# clause mark or a short breath.
LINE_SECONDS = 6.0
BREATH_SECONDS = 0.3
_SENTENCE_END = (".", "?", "!", "。", "？", "！")
_CLAUSE_END = (",", ";", ":", "，", "；")


def _segment(words: list[TimedWord]) -> Segment:
    return Segment(
        start=words[0].word.start,
        end=words[-1].word.end,
        text="".join(word.raw for word in words).strip(),
        words=[word.word for word in words],
    )


def _monotonic(words: Iterable[TimedWord]) -> list[TimedWord]:
    """Words whose times never go backwards: alignment can overlap neighbours by a frame or two."""
    ordered: list[TimedWord] = []
    previous_end = 0.0
    for timed in words:
        start = max(timed.word.start, previous_end)
        end = max(timed.word.end, start)
        ordered.append(TimedWord(timed.raw, Word(text=timed.word.text, start=start, end=end,
                                                 probability=timed.word.probability)))  # fmt: skip
        previous_end = end
    return ordered


def segments_from_words(words: Iterable[TimedWord]) -> list[Segment]:
    segments: list[Segment] = []
    current: list[TimedWord] = []
    for timed in _monotonic(words):
        if current:
            pause = timed.word.start - current[-1].word.end
            long_line = current[-1].word.end - current[0].word.start >= LINE_SECONDS
            if (
                pause >= PAUSE_SECONDS
                or timed.word.end - current[0].word.start > MAX_SEGMENT_SECONDS
                or (long_line and (pause >= BREATH_SECONDS or current[-1].word.text.endswith(_CLAUSE_END)))
            ):
                segments.append(_segment(current))
                current = []
        current.append(timed)
        if timed.word.text.endswith(_SENTENCE_END):
            segments.append(_segment(current))
            current = []
    if current:
        segments.append(_segment(current))
    return segments
