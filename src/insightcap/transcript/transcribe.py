"""Speech to a timed transcript: one small interface, the runtime chosen by the model's manifest entry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from insightcap.config import Settings
from insightcap.progress import ProgressCallback
from insightcap.transcript.runtimes.faster_whisper import FasterWhisperTranscriber
from insightcap.transcript.runtimes.openai_whisper import OpenAIWhisperTranscriber
from insightcap.transcript.schema import Transcript
from insightcap.weights import ModelUnavailable, get_spec

__all__ = ["FasterWhisperTranscriber", "OpenAIWhisperTranscriber", "Transcriber", "get_transcriber"]


class Transcriber(Protocol):
    name: str

    def transcribe(self, audio_path: Path, progress: ProgressCallback) -> Transcript:
        """The recording's speech; raises MediaError when the file is unusable or has no speech."""


# Hub ids and model folders have no runtime in their spec: they are CTranslate2 Whisper models.
_RUNTIMES: dict[str, Callable[[Settings, str], Transcriber]] = {
    "faster-whisper": FasterWhisperTranscriber,
    "": FasterWhisperTranscriber,
    "openai-whisper": OpenAIWhisperTranscriber,
}


def get_transcriber(settings: Settings) -> Transcriber:
    """The transcriber for `settings.asr_model`, with its model loaded."""
    name = settings.asr_model
    if name.endswith(".pt"):
        return OpenAIWhisperTranscriber(settings, name)
    spec = get_spec(name)
    if spec.task != "asr":
        raise ModelUnavailable(
            f"'{name}' is not a speech recognition model (its task is {spec.task}): set "
            "INSIGHTCAP_ASR_MODEL to whisper-base or whisper-tiny-en."
        )
    runtime = _RUNTIMES.get(spec.runtime)
    if runtime is None:
        raise ModelUnavailable(
            f"Model '{name}' needs the '{spec.runtime}' runtime, which insightcap cannot run; "
            "use a faster-whisper or openai-whisper model."
        )
    return runtime(settings, name)
