"""openai-whisper (PyTorch), the reference implementation, for a `.pt` checkpoint on this machine.

No checkpoint can be downloaded here and none ships on PyPI: the file is either the user's own or
one converted from the packaged CTranslate2 weights (`insightcap convert-whisper`, ct2_checkpoint.py).
faster-whisper stays the default.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from insightcap.audio.decode import SAMPLE_RATE
from insightcap.config import Settings
from insightcap.progress import ProgressCallback, ignore_progress
from insightcap.transcript.runtimes.common import (
    build_transcript,
    language_for,
    load_speech,
    position_message,
)
from insightcap.transcript.schema import Segment, Transcript, Word
from insightcap.weights import ModelUnavailable, model_path

if TYPE_CHECKING:
    from whisper.model import Whisper


@lru_cache(maxsize=1)
def load_checkpoint(checkpoint: str) -> Whisper:
    """The model, with the alignment heads a converted checkpoint carries (see ct2_checkpoint.py).

    `whisper.load_model` does the same but knows alignment heads only for OpenAI's named downloads,
    so word timestamps from a checkpoint file would use a coarser default set of heads.
    """
    import torch  # imported late: torch is slow to import
    from whisper.model import ModelDimensions, Whisper

    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = Whisper(ModelDimensions(**saved["dims"]))
    model.load_state_dict(saved["model_state_dict"])
    if "alignment_heads" in saved:
        model.set_alignment_heads(saved["alignment_heads"])
    return model


def _checkpoint_path(model_name: str, settings: Settings) -> Path:
    if model_name.endswith(".pt"):
        return Path(model_name).expanduser()
    return model_path(model_name, settings.model_cache_dir)


class OpenAIWhisperTranscriber:
    def __init__(self, settings: Settings, model_name: str | None = None) -> None:
        self.name = model_name or settings.asr_model
        checkpoint = _checkpoint_path(self.name, settings)
        if not checkpoint.is_file():
            raise ModelUnavailable(
                f"The Whisper checkpoint {checkpoint} (model '{self.name}') is not on this machine, and "
                "openai-whisper checkpoints cannot be downloaded here. Copy the .pt file to that path, or "
                "set INSIGHTCAP_ASR_MODEL=whisper-base to use the packaged model."
            )
        self._model = load_checkpoint(str(checkpoint))
        self._language = language_for(self.name, self._model.is_multilingual, settings.asr_language)
        self._beam_size = settings.asr_beam_size

    def transcribe(self, audio_path: Path, progress: ProgressCallback = ignore_progress) -> Transcript:
        import whisper

        samples = load_speech(audio_path)
        duration = len(samples) / SAMPLE_RATE
        # openai-whisper reports no progress while it works: only the start and the end are known.
        progress(0.0, position_message(0.0, duration))
        result = whisper.transcribe(
            self._model,
            samples,
            verbose=None,
            language=self._language,
            beam_size=self._beam_size,
            best_of=self._beam_size,
            fp16=False,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        segments = [
            Segment(
                start=piece["start"],
                end=piece["end"],
                text=piece["text"].strip(),
                words=[
                    Word(
                        text=word["word"].strip(),
                        start=word["start"],
                        end=word["end"],
                        probability=word["probability"],
                    )
                    for word in piece.get("words", [])
                ],
            )
            for piece in result["segments"]
        ]
        progress(1.0, position_message(duration, duration))
        return build_transcript(audio_path, segments, result["language"], duration, self.name)
