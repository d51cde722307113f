"""A recording's speech as Whisper-sized chunks, found block by block so a long meeting never sits in memory.

Silero VAD (bundled with faster-whisper) marks the speech; the silence between speech regions is cut
out and neighbouring regions are packed into chunks of at most `max_seconds`, the window Whisper
decodes in one pass. Cutting silence is what makes this fast (no work on pauses) and safe (Whisper
invents text in silence). Each chunk remembers where its pieces came from, so times found inside a
chunk map back to the recording.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from insightcap.audio.decode import SAMPLE_RATE

# A region still open this close to the end of the audio read so far may continue in the next
# block, so it waits for that block instead of being cut in two.
_OPEN_MARGIN_SECONDS = 2.0
# A pause shorter than this does not split speech: 160 ms (as faster-whisper's batched pipeline)
# keeps chunks full without cutting words.
_MIN_SILENCE_MS = 160


@dataclass(frozen=True)
class Span:
    """One stretch of speech inside a chunk: where it starts in the chunk and in the recording (seconds)."""

    chunk_start: float
    source_start: float
    length: float


@dataclass
class SpeechChunk:
    audio: np.ndarray
    spans: list[Span] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def source_end(self) -> float:
        last = self.spans[-1]
        return last.source_start + last.length

    def span_index(self, chunk_time: float) -> int:
        starts = [span.chunk_start for span in self.spans]
        return max(0, bisect.bisect_right(starts, chunk_time) - 1)

    def to_source(self, chunk_time: float, span_index: int) -> float:
        """A time inside the chunk as a time in the recording, kept inside the given span."""
        span = self.spans[span_index]
        offset = min(max(chunk_time - span.chunk_start, 0.0), span.length)
        return span.source_start + offset


@dataclass
class AudioTally:
    """What the stream has seen so far: its length and energy (for the silent-recording check)."""

    samples: int = 0
    energy: float = 0.0

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


def _speech_regions(audio: np.ndarray, max_seconds: float) -> list[tuple[int, int]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(max_speech_duration_s=max_seconds, min_silence_duration_ms=_MIN_SILENCE_MS)
    return [(region["start"], region["end"]) for region in get_speech_timestamps(audio, options)]


def _regions(
    blocks: Iterable[np.ndarray], tally: AudioTally, max_seconds: float
) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample in the recording, samples) of each speech region, in order."""
    margin = int(_OPEN_MARGIN_SECONDS * SAMPLE_RATE)
    pending = np.zeros(0, dtype=np.float32)
    pending_start = 0  # sample index of pending[0] in the recording
    for block in blocks:
        tally.samples += len(block)
        tally.energy += float(np.square(block, dtype=np.float64).sum())
        pending = np.concatenate([pending, block])
        if len(pending) < 4 * margin:
            continue
        keep_from = len(pending) - margin
        for start, end in _speech_regions(pending, max_seconds):
            if end > len(pending) - margin:  # may go on in the next block: decide then
                keep_from = min(keep_from, start)
                break
            yield pending_start + start, pending[start:end].copy()
        pending_start += keep_from
        pending = pending[keep_from:]
    if len(pending):
        for start, end in _speech_regions(pending, max_seconds):
            yield pending_start + start, pending[start:end]


def speech_chunks(
    blocks: Iterable[np.ndarray], tally: AudioTally, max_seconds: float = 30.0
) -> Iterator[SpeechChunk]:
    """Chunks of at most `max_seconds` of speech from consecutive 16 kHz mono blocks, in recording order."""
    limit = int(max_seconds * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    spans: list[Span] = []
    length = 0
    for start, samples in _regions(blocks, tally, max_seconds):
        if length and length + len(samples) > limit:
            yield SpeechChunk(np.concatenate(pieces), spans)
            pieces, spans, length = [], [], 0
        samples = samples[:limit]
        spans.append(Span(length / SAMPLE_RATE, start / SAMPLE_RATE, len(samples) / SAMPLE_RATE))
        pieces.append(samples)
        length += len(samples)
    if pieces:
        yield SpeechChunk(np.concatenate(pieces), spans)
