"""Whisper on CTranslate2 (faster-whisper): the default runtime, int8 on a CPU.

A long meeting is streamed, never held whole: audio is decoded block by block, Silero VAD keeps
only the speech, the speech is packed into 30 s chunks and decoded in batches (see whisper_batch
for how). Decoding audio and computing spectrograms run on a second thread,
one batch ahead of Whisper, so memory stays flat however long the recording is.

The cores are shared out between whole batches rather than inside each matrix product: two
CTranslate2 workers with half the threads each decode two batches at the same time. Whisper base's
decoder multiplies small matrices (a few rows of 512), which two threads split badly; two
independent batches keep both cores busy. On a 10-minute meeting this took 8% less CPU time.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from insightcap.audio.decode import check_has_sound, iter_audio, probe_media
from insightcap.config import Settings
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.transcript.runtimes.common import (
    build_transcript,
    language_for,
    position_message,
)
from insightcap.transcript.runtimes.prefetch import prefetch
from insightcap.transcript.runtimes.speech_chunks import (
    AudioTally,
    SpeechChunk,
    speech_chunks,
)
from insightcap.transcript.runtimes.whisper_batch import BatchDecoder, TimedWord
from insightcap.transcript.runtimes.word_segments import segments_from_words
from insightcap.transcript.schema import Transcript
from insightcap.weights import model_path

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

# Four 30 s chunks per batch, two batches at a time: the same eight chunks in flight as one batch
# of eight on one worker, at the same CPU time, but a peak RSS of 1.0-1.1 GB instead of 1.4 GB on a
# 10-minute meeting (a batch's cross-attention keys and values take ~37 MB per chunk).
BATCH_SIZE = 4
CHUNK_SECONDS = 30.0
# Audio is read in blocks of this length; the voice detector runs on each block as it arrives.
_BLOCK_SECONDS = 120.0
# Batches decoded at the same time, each by its own CTranslate2 worker (see the module docstring).
_MAX_DECODE_WORKERS = 2


def decode_workers(cpu_threads: int) -> int:
    return max(1, min(_MAX_DECODE_WORKERS, cpu_threads))


@lru_cache(maxsize=2)
def _load_model(model_dir: str, compute_type: str, cpu_threads: int) -> WhisperModel:
    from faster_whisper import (
        WhisperModel,  # imported late: CTranslate2 is slow to import
    )

    workers = decode_workers(cpu_threads)
    return WhisperModel(
        model_dir, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads // workers,
        num_workers=workers,
    )  # fmt: skip


def _batches(
    chunks: Iterator[SpeechChunk], decoder: BatchDecoder
) -> Iterator[tuple[list[SpeechChunk], np.ndarray]]:
    """Batches of chunks with their spectrograms, computed here so they can be ready ahead of Whisper."""
    batch: list[SpeechChunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == BATCH_SIZE:
            yield batch, decoder.features(batch)
            batch = []
    if batch:
        yield batch, decoder.features(batch)


class FasterWhisperTranscriber:
    def __init__(self, settings: Settings, model_name: str | None = None) -> None:
        self.name = model_name or settings.asr_model
        model_dir = model_path(self.name, settings.model_cache_dir)
        self._model = _load_model(str(model_dir), settings.asr_compute_type, settings.cpu_threads)
        self._language = language_for(self.name, self._model.model.is_multilingual, settings.asr_language)
        self._beam_size = settings.asr_beam_size
        self._workers = decode_workers(settings.cpu_threads)

    def transcribe(self, audio_path: Path, progress: ProgressCallback = ignore_progress) -> Transcript:
        total = probe_media(audio_path).duration_seconds or 0.0
        decoder = BatchDecoder(self._model, self._beam_size, self._language)
        tally = AudioTally()
        chunks = speech_chunks(iter_audio(audio_path, _BLOCK_SECONDS), tally, CHUNK_SECONDS)
        words: list[TimedWord] = []
        started = time.monotonic()
        progress(0.0, position_message(0.0, total))

        def collect(batch: list[SpeechChunk], decoded: Future[list[TimedWord]]) -> None:
            words.extend(decoded.result())
            done = batch[-1].source_end
            left = (time.monotonic() - started) / done * max(total - done, 0.0)
            progress(min(done / total, 1.0) if total else 0.0, position_message(done, max(total, done), left))

        # Batches are collected in recording order; the first alone, since it settles the language.
        in_flight: deque[tuple[list[SpeechChunk], Future[list[TimedWord]]]] = deque()
        with ThreadPoolExecutor(self._workers, thread_name_prefix="insightcap-whisper") as pool:
            for batch, features in prefetch(_batches(chunks, decoder)):
                in_flight.append((batch, pool.submit(decoder.decode, batch, features)))
                if len(in_flight) >= self._workers or not decoder.started:
                    collect(*in_flight.popleft())
            while in_flight:
                collect(*in_flight.popleft())
        segments = segments_from_words(words)
        if not segments:
            check_has_sound(audio_path)  # a silent recording gets its own message; otherwise "no speech"
        duration = tally.seconds
        progress(1.0, position_message(duration, duration))
        return build_transcript(audio_path, segments, decoder.language, duration, self.name)
