"""Whisper on CTranslate2 (faster-whisper): the default runtime, int8 on a CPU with Silero VAD."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from insightcap.config import Settings
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.transcript.runtimes.common import (
    build_transcript,
    language_for,
    load_speech,
    position_message,
)
from insightcap.transcript.schema import Segment, Transcript, Word
from insightcap.weights import model_path

if TYPE_CHECKING:
    from faster_whisper import WhisperModel


@lru_cache(maxsize=2)
def _load_model(model_dir: str, compute_type: str, cpu_threads: int) -> WhisperModel:
    from faster_whisper import WhisperModel  # imported late: CTranslate2 is slow to import

    return WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)


class FasterWhisperTranscriber:
    def __init__(self, settings: Settings, model_name: str | None = None) -> None:
        self.name = model_name or settings.asr_model
        model_dir = model_path(self.name, settings.model_cache_dir)
        self._model = _load_model(str(model_dir), settings.asr_compute_type, settings.cpu_threads)
        self._language = language_for(self.name, self._model.model.is_multilingual, settings.asr_language)
        self._beam_size = settings.asr_beam_size

    def transcribe(self, audio_path: Path, progress: ProgressCallback = ignore_progress) -> Transcript:
        samples = load_speech(audio_path)
        pieces, info = self._model.transcribe(
            samples,
            language=self._language,
            beam_size=self._beam_size,
            # Silero VAD skips silence, which is both faster and where Whisper invents text.
            vad_filter=True,
            word_timestamps=True,
            # Conditioning on earlier text is how Whisper gets stuck repeating one line for minutes.
            condition_on_previous_text=False,
        )
        progress(0.0, position_message(0.0, info.duration))
        segments: list[Segment] = []
        for piece in pieces:  # a lazy generator: each step decodes the next stretch of audio
            words = [
                Word(text=word.word.strip(), start=word.start, end=word.end, probability=word.probability)
                for word in piece.words or []
            ]
            segments.append(Segment(start=piece.start, end=piece.end, text=piece.text.strip(), words=words))
            progress(min(piece.end / info.duration, 1.0), position_message(piece.end, info.duration))
        progress(1.0, position_message(info.duration, info.duration))
        return build_transcript(audio_path, segments, info.language, info.duration, self.name)
