"""What every ASR runtime does the same way around its model: read the audio, check it, package the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from insightcap.audio.decode import MediaError, check_has_sound, decode_audio
from insightcap.progress import time_left_words
from insightcap.transcript.schema import Segment, Transcript
from insightcap.weights import ModelUnavailable


def load_speech(audio_path: Path) -> np.ndarray:
    """16 kHz mono samples of a recording that has sound in it; MediaError otherwise."""
    samples = decode_audio(audio_path)
    check_has_sound(audio_path, samples)
    return samples


def language_for(model_name: str, is_multilingual: bool, requested: str | None) -> str | None:
    """The language to decode in; None lets a multilingual model detect it."""
    if is_multilingual:
        return requested
    if requested not in (None, "en"):
        raise ModelUnavailable(
            f"The speech model '{model_name}' understands English only, but the language is set to "
            f"'{requested}'. Choose a multilingual model (INSIGHTCAP_ASR_MODEL=whisper-base) or set "
            "INSIGHTCAP_ASR_LANGUAGE=en."
        )
    return "en"


def clock(seconds: float) -> str:
    """12:30 or 1:02:03, the way a media player shows a position."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def position_message(position: float, duration: float, seconds_left: float | None = None) -> str:
    """"12:30 / 1:02:03 of audio", with the expected time still to wait when it is known."""
    message = f"{clock(position)} / {clock(duration)} of audio"
    if seconds_left is None:
        return message
    return f"{message}, {time_left_words(seconds_left)}"


def build_transcript(
    audio_path: Path, segments: list[Segment], language: str | None, duration: float, model_name: str
) -> Transcript:
    """The finished transcript; a recording with no recognised words is an error the user must see."""
    spoken = [segment for segment in segments if segment.text]
    if not spoken:
        raise MediaError(
            f"No speech was found in {audio_path.name}: it has sound, but nothing that sounds like "
            "people talking. Check that this is the right recording and that the voices are audible."
        )
    return Transcript(
        segments=spoken, language=language, duration=duration, source="asr", produced_by=model_name
    )
