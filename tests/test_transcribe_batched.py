"""The batched faster-whisper path: speech found block by block, batched decoding, words back in place."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile

from insightcap.audio.decode import SAMPLE_RATE, decode_audio
from insightcap.transcript.runtimes.common import position_message
from insightcap.transcript.runtimes.faster_whisper import FasterWhisperTranscriber
from insightcap.transcript.runtimes.prefetch import prefetch
from insightcap.transcript.runtimes.speech_chunks import AudioTally, speech_chunks
from insightcap.transcript.runtimes.whisper_batch import TimedWord, cut_repetition
from insightcap.transcript.runtimes.word_segments import segments_from_words
from insightcap.transcript.schema import Transcript, Word

JFK_REFERENCE = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
# "...my fellow Americans" ends at 2.3 s and "ask not" starts at 2.9 s.
JFK_PAUSE_SECONDS = 2.6


def _jfk(shared_eval: Path) -> Path:
    return shared_eval / "asr" / "audio" / "jfk_inaugural_1961.flac"


def _wer(text: str) -> float:
    from nltk.metrics.distance import edit_distance
    from whisper.normalizers import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    reference, hypothesis = normalize(JFK_REFERENCE).split(), normalize(text).split()
    return edit_distance(reference, hypothesis) / len(reference)


def _assert_well_timed(transcript: Transcript) -> None:
    previous_end = 0.0
    for segment in transcript.segments:
        assert previous_end <= segment.start <= segment.end <= transcript.duration + 0.01
        previous_end = segment.end
        for word in segment.words:
            assert segment.start <= word.start <= word.end <= segment.end


def _timed(text: str, start: float, end: float) -> TimedWord:
    return TimedWord(" " + text, Word(text=text, start=start, end=end))


@pytest.mark.slow
def test_jfk_through_the_batched_path(settings, shared_eval: Path) -> None:
    calls: list[tuple[float, str]] = []

    transcript = FasterWhisperTranscriber(settings).transcribe(
        _jfk(shared_eval), lambda fraction, message="": calls.append((fraction, message))
    )

    assert _wer(transcript.text) < 0.2
    assert all(segment.words for segment in transcript.segments)
    _assert_well_timed(transcript)
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert calls[-1][1] == "0:11 / 0:11 of audio"
    assert any("left" in message for _, message in calls[1:-1])


@pytest.mark.slow
def test_no_words_are_invented_in_a_long_quiet_pause(settings, shared_eval: Path, tmp_path: Path) -> None:
    samples = decode_audio(_jfk(shared_eval))
    cut = int(JFK_PAUSE_SECONDS * SAMPLE_RATE)
    # Room noise at about -50 dBFS, not digital silence: the case where Whisper hallucinates.
    quiet = np.random.default_rng(0).normal(0.0, 0.003, 20 * SAMPLE_RATE).astype(np.float32)
    path = tmp_path / "pause.flac"
    soundfile.write(path, np.concatenate([samples[:cut], quiet, samples[cut:]]), SAMPLE_RATE)

    transcript = FasterWhisperTranscriber(settings).transcribe(path, lambda fraction, message="": None)

    assert _wer(transcript.text) < 0.2
    _assert_well_timed(transcript)
    words = [word for segment in transcript.segments for word in segment.words]
    pause_start, pause_end = JFK_PAUSE_SECONDS + 0.5, JFK_PAUSE_SECONDS + 20 - 0.5
    assert not [word for word in words if word.end > pause_start and word.start < pause_end]
    assert words[-1].end > 20 + 9  # the second half kept its place after the pause


def test_speech_is_found_the_same_when_read_in_small_blocks(shared_eval: Path) -> None:
    samples = decode_audio(_jfk(shared_eval))
    whole_tally, block_tally = AudioTally(), AudioTally()
    blocks = [samples[start : start + SAMPLE_RATE] for start in range(0, len(samples), SAMPLE_RATE)]

    whole = list(speech_chunks([samples], whole_tally, max_seconds=4.0))
    streamed = list(speech_chunks(blocks, block_tally, max_seconds=4.0))

    assert block_tally.samples == whole_tally.samples == len(samples)
    for chunks in (whole, streamed):
        spans = [span for chunk in chunks for span in chunk.spans]
        assert all(chunk.seconds <= 4.0 for chunk in chunks)
        assert all(a.source_start + a.length <= b.source_start for a, b in itertools.pairwise(spans))
        speech = sum(span.length for span in spans)
        assert 8.0 < speech <= 11.0  # the clip is 11 s of almost continuous speech
    assert sum(chunk.seconds for chunk in streamed) == pytest.approx(
        sum(chunk.seconds for chunk in whole), abs=1.0
    )


def test_chunk_times_map_back_to_the_recording(shared_eval: Path) -> None:
    samples = decode_audio(_jfk(shared_eval))
    quiet = np.zeros(5 * SAMPLE_RATE, dtype=np.float32)
    chunk = next(speech_chunks([np.concatenate([samples[:40_000], quiet, samples[40_000:]])], AudioTally()))

    assert len(chunk.spans) >= 2
    second = chunk.spans[1]
    inside = second.chunk_start + second.length / 2
    assert chunk.span_index(inside) == 1
    assert chunk.to_source(inside, 1) == pytest.approx(second.source_start + second.length / 2)
    assert chunk.to_source(second.chunk_start + 100.0, 1) == second.source_start + second.length


def test_words_are_grouped_at_sentence_ends_and_pauses() -> None:
    words = [
        _timed("Hello", 0.0, 0.4),
        _timed("there.", 0.4, 0.8),
        _timed("So", 1.0, 1.2),
        _timed("anyway", 1.1, 1.6),  # overlaps its neighbour, as alignment sometimes does
        _timed("right", 4.0, 4.3),
    ]

    segments = segments_from_words(words)

    assert [segment.text for segment in segments] == ["Hello there.", "So anyway", "right"]
    assert segments[1].words[1].start == 1.2
    assert [(segment.start, segment.end) for segment in segments] == [(0.0, 0.8), (1.0, 1.6), (4.0, 4.3)]


def test_long_lines_break_at_a_clause_or_a_breath_but_short_ones_do_not() -> None:
    clause = [_timed(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(14)] + [_timed("end.", 7.0, 7.4)]
    clause[13] = _timed("w13,", 6.5, 6.9)
    breath = [_timed(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(14)] + [_timed("on", 7.3, 7.6)]
    short = [_timed("a", 0.0, 0.4), _timed("b,", 0.5, 0.9), _timed("c", 1.3, 1.6)]

    assert [len(segment.words) for segment in segments_from_words(clause)] == [14, 1]
    assert [len(segment.words) for segment in segments_from_words(breath)] == [14, 1]
    assert len(segments_from_words(short)) == 1


def test_a_repetition_loop_is_cut_to_one_copy() -> None:
    said, loop = [50, 51, 52], [7, 8, 9, 10]
    # A loop as the length limit leaves it: cut off in the middle of a copy.
    assert cut_repetition(said + loop * 5 + loop[:2]) == said + loop
    # Ordinary text, and a phrase said twice, are left alone.
    assert cut_repetition(said + loop) == said + loop
    assert cut_repetition(said + loop * 2) == said + loop * 2


def test_prefetch_keeps_order_and_hands_on_the_producers_error() -> None:
    def produce():
        yield from range(5)
        raise ValueError("damaged file")

    received: list[int] = []
    with pytest.raises(ValueError, match="damaged file"):
        received.extend(prefetch(produce(), depth=2))

    assert received == [0, 1, 2, 3, 4]


def test_progress_message_tells_how_long_is_left() -> None:
    assert position_message(750, 3723, 30) == "12:30 / 1:02:03 of audio, less than a minute left"
    assert position_message(750, 3723, 185) == "12:30 / 1:02:03 of audio, about 3 min left"
