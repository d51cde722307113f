"""The transcribe stage: real Whisper on real speech, and the choice of runtime by configuration."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from insightcap import weights
from insightcap.audio.decode import MediaError
from insightcap.transcript.runtimes.common import clock
from insightcap.transcript.schema import Transcript
from insightcap.transcript.transcribe import (
    FasterWhisperTranscriber,
    OpenAIWhisperTranscriber,
    get_transcriber,
)
from insightcap.weights import ModelSpec, ModelUnavailable

JFK_REFERENCE = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def _jfk(shared_eval: Path) -> Path:
    return shared_eval / "asr" / "audio" / "jfk_inaugural_1961.flac"


def _assert_well_timed(transcript: Transcript) -> None:
    previous_end = 0.0
    for segment in transcript.segments:
        assert previous_end - 0.01 <= segment.start <= segment.end <= transcript.duration + 0.01
        previous_end = segment.end
        for word in segment.words:
            assert segment.start - 0.01 <= word.start <= word.end <= segment.end + 0.01


@pytest.mark.slow
def test_whisper_tiny_en_transcribes_the_jfk_clip(settings, shared_eval: Path) -> None:
    from nltk.metrics.distance import edit_distance
    from whisper.normalizers import EnglishTextNormalizer

    transcriber = get_transcriber(settings)
    calls: list[tuple[float, str]] = []

    transcript = transcriber.transcribe(
        _jfk(shared_eval), lambda fraction, message="": calls.append((fraction, message))
    )

    assert isinstance(transcriber, FasterWhisperTranscriber)
    normalize = EnglishTextNormalizer()
    reference, hypothesis = normalize(JFK_REFERENCE).split(), normalize(transcript.text).split()
    assert edit_distance(reference, hypothesis) / len(reference) < 0.2
    assert (transcript.language, transcript.source, transcript.produced_by) == (
        "en",
        "asr",
        "whisper-tiny-en",
    )
    assert transcript.duration == pytest.approx(11.0, abs=0.01)
    assert all(segment.words for segment in transcript.segments)
    _assert_well_timed(transcript)
    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions) and len(fractions) >= 3
    assert fractions[-1] == pytest.approx(1.0)
    assert calls[-1][1] == "0:11 / 0:11 of audio"


@pytest.mark.slow
def test_model_is_loaded_once_per_process(settings) -> None:
    first, second = FasterWhisperTranscriber(settings), FasterWhisperTranscriber(settings)

    assert first._model is second._model


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("anoisesrc=d=4:c=pink:a=0.1", r"No speech was found in sound\.wav"),
        ("anullsrc=r=16000:cl=mono", r"sound\.wav contains no audible sound"),
    ],
)
def test_recording_without_speech_is_refused(settings, tmp_path: Path, source: str, message: str) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to make the test recording")
    path = tmp_path / "sound.wav"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", source, "-t", "4", str(path)], check=True
    )

    with pytest.raises(MediaError, match=message):
        get_transcriber(settings).transcribe(path, lambda fraction, message="": None)


@pytest.mark.slow
def test_english_only_model_refuses_another_language(settings) -> None:
    with pytest.raises(ModelUnavailable, match="English only.*whisper-base"):
        FasterWhisperTranscriber(settings.model_copy(update={"asr_language": "fr"}))


def test_a_model_for_another_task_is_not_a_transcriber(settings) -> None:
    with pytest.raises(ModelUnavailable, match="'minilm' is not a speech recognition model"):
        get_transcriber(settings.model_copy(update={"asr_model": "minilm"}))


def test_missing_openai_whisper_checkpoint_says_how_to_fix_it(settings, tmp_path: Path) -> None:
    missing = tmp_path / "large-v3.pt"

    with pytest.raises(ModelUnavailable, match=r"large-v3\.pt .*cannot be downloaded here.*whisper-base"):
        get_transcriber(settings.model_copy(update={"asr_model": str(missing)}))


def _random_whisper_checkpoint(path: Path) -> Path:
    """A randomly initialised, very small Whisper in openai-whisper's checkpoint format.

    Random weights make Whisper repeat one token, which triggers all six temperature fallbacks on
    every 30 s window (minutes of CPU). Large random positional embeddings (Whisper leaves them
    uninitialised until a checkpoint loads) and a sharpened output make each position pick a
    different token confidently, so the first decoding attempt is accepted. A 64-token context
    caps each attempt at 32 tokens.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(1)
    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
        n_vocab=51865, n_text_ctx=64, n_text_state=32, n_text_head=2, n_text_layer=1,
    )  # fmt: skip
    model = Whisper(dims)
    with torch.no_grad():
        torch.nn.init.normal_(model.decoder.positional_embedding, std=30.0)
        model.decoder.ln.weight.mul_(10.0)
    torch.save({"dims": dataclasses.asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


@pytest.mark.slow
def test_manifest_runtime_openai_whisper_runs_a_checkpoint(
    settings, shared_eval: Path, tmp_path, monkeypatch
) -> None:
    checkpoint = _random_whisper_checkpoint(tmp_path / "random.pt")
    entry = ModelSpec(
        name="my-whisper", task="asr", runtime="openai-whisper", source="path", path=str(checkpoint)
    )
    manifest = {**weights.load_manifest(), "my-whisper": entry}
    monkeypatch.setattr(weights, "load_manifest", lambda: manifest)
    fractions: list[float] = []

    transcriber = get_transcriber(
        settings.model_copy(update={"asr_model": "my-whisper", "asr_language": "en", "asr_beam_size": 1})
    )
    # The weights are random, so the words are nonsense: only the plumbing is checked.
    transcript = transcriber.transcribe(
        _jfk(shared_eval), lambda fraction, message="": fractions.append(fraction)
    )

    assert isinstance(transcriber, OpenAIWhisperTranscriber)
    assert isinstance(transcript, Transcript) and transcript.segments
    assert (transcript.source, transcript.produced_by, transcript.language) == ("asr", "my-whisper", "en")
    assert transcript.duration == pytest.approx(11.0, abs=0.01)
    assert all(isinstance(word.start, float) for segment in transcript.segments for word in segment.words)
    _assert_well_timed(transcript)
    assert fractions == [0.0, 1.0]


def test_clock_reads_like_a_media_player() -> None:
    assert [clock(0), clock(750.4), clock(3490), clock(3723)] == ["0:00", "12:30", "58:10", "1:02:03"]
