"""Cutting a transcript into overlapping passages: the unit keyword and semantic search return.

A single caption cue is too short to match a question ("what did we decide about onboarding?")
and a whole topic too long to point at a moment, so a passage is a window of consecutive segments
of about a paragraph. Windows overlap so an answer that straddles a boundary is still whole in one
of them; a long segment is split evenly (at word timings when it has them) into pieces no longer
than the overlap, so no passage is a lone "Alright ." stranded before a long turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

from insightcap.transcript.schema import Segment, Transcript

# Chosen on QMSum (eval/retrieval.py): 100/40 beat 70/30 and 40/15 for keyword and hybrid recall;
# 200/80 (about 80 seconds of speech) then beat 100/40 on the 162 train_extra meetings (hybrid
# recall@10 over all meetings 0.501 → 0.522, within a program 0.792 → 0.818) and on the 35 dev
# meetings, as one question's answer is often spread over several turns. A hit still opens the
# recording where its passage starts. Scoring a passage by the mean of its own cosine and its best
# 50-word window's (MiniLM reads at most 256 word pieces) lifted train_extra hybrid MRR 0.332 →
# 0.351 but lowered dev recall@10 0.637 → 0.620, so passages keep one vector.
TARGET_WORDS = 200
OVERLAP_WORDS = 80


@dataclass(frozen=True)
class Passage:
    text: str
    # Everyone speaking in it, in the order they first speak: a passage of about 80 seconds of talk
    # usually holds several people's words, so it is never credited to one of them alone.
    speakers: list[str]
    start: float
    end: float
    first_segment: int
    last_segment: int


@dataclass(frozen=True)
class _Piece:
    """A segment, or a part of one too long for a single passage."""

    words: list[str]
    speaker: str | None
    start: float
    end: float
    segment: int


def _pieces(index: int, segment: Segment, most_words: int) -> list[_Piece]:
    words = segment.text.split()
    if len(words) <= most_words:
        return [_Piece(words, segment.speaker, segment.start, segment.end, index)] if words else []
    pieces = []
    duration = segment.end - segment.start
    timed = len(segment.words) == len(words)
    count = math.ceil(len(words) / most_words)
    bounds = [round(i * len(words) / count) for i in range(count + 1)]
    for first, stop in pairwise(bounds):
        last = stop - 1
        if timed:
            start, end = segment.words[first].start, segment.words[last].end
        else:  # no word timings: spread the segment's time evenly over its words
            start = segment.start + duration * first / len(words)
            end = segment.start + duration * (last + 1) / len(words)
        pieces.append(_Piece(words[first : last + 1], segment.speaker, start, end, index))
    return pieces


def _passage(pieces: list[_Piece]) -> Passage:
    speakers = list(dict.fromkeys(piece.speaker for piece in pieces if piece.speaker))
    return Passage(
        text=" ".join(word for piece in pieces for word in piece.words),
        speakers=speakers,
        start=pieces[0].start,
        end=pieces[-1].end,
        first_segment=pieces[0].segment,
        last_segment=pieces[-1].segment,
    )


def build_passages(
    transcript: Transcript, target_words: int = TARGET_WORDS, overlap_words: int = OVERLAP_WORDS
) -> list[Passage]:
    """Windows of at least `target_words` words (the last may be shorter), each sharing up to
    `overlap_words` words with the one before."""
    # Pieces no longer than the overlap, so every window can share its tail with the next one.
    piece_words = max(1, min(overlap_words, target_words) if overlap_words > 0 else target_words)
    pieces = [piece for i, segment in enumerate(transcript.segments) for piece in _pieces(i, segment, piece_words)]
    passages: list[Passage] = []
    first = 0
    while first < len(pieces):
        last, words = first, len(pieces[first].words)
        while last + 1 < len(pieces) and words < target_words:
            last += 1
            words += len(pieces[last].words)
        passages.append(_passage(pieces[first : last + 1]))
        if last + 1 >= len(pieces):
            break
        # Step back from the window's end while the shared tail stays within the overlap.
        next_first, shared = last + 1, 0
        while next_first - 1 > first and shared + len(pieces[next_first - 1].words) <= overlap_words:
            next_first -= 1
            shared += len(pieces[next_first].words)
        first = next_first
    return passages
