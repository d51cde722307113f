"""Transcript segments → timed sentences, the unit every later step of the structure stage uses.

Sentences are split by spaCy's parser, not by punctuation alone, because ASR and caption
segments break mid-sentence and run sentences together. Each sentence keeps its parsed spaCy
span, so classification and action extraction reuse one parse instead of parsing again.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.language import Language
from spacy.tokens import Span

from insightcap.insights.nlp import content_words, word_tokens
from insightcap.insights.schema import Sentence
from insightcap.transcript.schema import Segment, Transcript

# A sentence worth classifying says something: at least this many words, one of them a content
# word (noun, verb, adjective, name, number). "Okay.", "Mm-hmm." and "Yeah, yeah." fall below it.
MIN_WORDS = 3
MIN_CONTENT_WORDS = 1


@dataclass(frozen=True)
class ParsedSentence:
    sentence: Sentence
    span: Span


def _word_offsets(segment: Segment) -> list[tuple[int, int, float, float]]:
    """Character range in the segment text of each timed word, found by scanning forward.

    Whisper's words concatenate to the segment text, but imported or edited text may differ: a
    word that cannot be found is skipped, and the caller falls back to proportional timing.
    """
    offsets: list[tuple[int, int, float, float]] = []
    cursor = 0
    for word in segment.words:
        needle = word.text.strip()
        if not needle:
            continue
        found = segment.text.find(needle, cursor)
        if found < 0:
            continue
        offsets.append((found, found + len(needle), word.start, word.end))
        cursor = found + len(needle)
    return offsets


def _span_times(
    segment: Segment,
    offsets: list[tuple[int, int, float, float]],
    start_char: int,
    end_char: int,
) -> tuple[float, float]:
    """Start/end of the characters [start_char, end_char) of the segment's text."""
    overlapping = [
        (word_start, word_end)
        for char_start, char_end, word_start, word_end in offsets
        if char_start < end_char and char_end > start_char
    ]
    if overlapping:
        return overlapping[0][0], overlapping[-1][1]
    # No word timings: assume a steady speaking rate across the segment.
    length = max(len(segment.text), 1)
    duration = segment.end - segment.start
    return (
        segment.start + duration * start_char / length,
        segment.start + duration * end_char / length,
    )


def _trimmed(span: Span) -> Span:
    """The span without the whitespace tokens spaCy keeps at its edges (" Hello." → "Hello.")."""
    start, end = span.start, span.end
    while start < end and span.doc[start].is_space:
        start += 1
    while end > start and span.doc[end - 1].is_space:
        end -= 1
    return span.doc[start:end]


def is_substantive(span: Span) -> bool:
    return (
        len(word_tokens(span)) >= MIN_WORDS
        and len(content_words(span)) >= MIN_CONTENT_WORDS
    )


def split_sentences(
    transcript: Transcript, nlp: Language, batch_size: int = 256
) -> list[ParsedSentence]:
    """Every substantive sentence of the transcript, in order, with times and speaker."""
    texts = [segment.text for segment in transcript.segments]
    parsed: list[ParsedSentence] = []
    for segment_index, (segment, doc) in enumerate(
        zip(transcript.segments, nlp.pipe(texts, batch_size=batch_size), strict=True)
    ):
        offsets = _word_offsets(segment)
        for span in map(_trimmed, doc.sents):
            if not is_substantive(span):
                continue
            start, end = _span_times(segment, offsets, span.start_char, span.end_char)
            sentence = Sentence(
                index=len(parsed),
                text=span.text,
                start=start,
                end=max(end, start),
                speaker=segment.speaker,
                segment_index=segment_index,
            )
            parsed.append(ParsedSentence(sentence=sentence, span=span))
    return parsed
