"""The audio stage on real recordings: the JFK clip converted with ffmpeg into what users upload."""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from insightcap.audio.decode import (
    SAMPLE_RATE,
    MediaError,
    check_has_sound,
    decode_audio,
    iter_audio,
    probe_media,
)
from insightcap.audio.sniff import identify

JFK_SECONDS = 11.0
BLACK_VIDEO = ["-f", "lavfi", "-i", "color=black:s=64x64:r=5"]

# ffmpeg arguments (after `-i jfk.flac`) for each file a user might upload.
CONVERSIONS: dict[str, list[str]] = {
    # CD-quality stereo exercises both the resampler and the downmix.
    "jfk.wav": ["-ar", "44100", "-ac", "2", "-c:a", "pcm_s16le"],
    "jfk.mp3": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "jfk.m4a": ["-ar", "44100", "-ac", "2", "-c:a", "aac", "-b:a", "96k"],
    "jfk.ogg": ["-c:a", "libvorbis"],
    "jfk.webm": ["-c:a", "libopus"],
    "jfk.flac": ["-ar", "48000"],
    "jfk.mp4": [*BLACK_VIDEO, "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    # Written to a pipe, like a browser's MediaRecorder: no duration in the header.
    "jfk_live.webm": ["-c:a", "libopus", "-f", "webm", "pipe:1"],
}
FORMATS = [name for name in CONVERSIONS if name != "jfk_live.webm"]


def run_ffmpeg(*args: str) -> bytes:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is needed to make the test recordings")
    return subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *args], check=True, capture_output=True
    ).stdout


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture
def recording(shared_eval: Path, media_dir: Path) -> Callable[[str], Path]:
    """Makes (once per session) the JFK clip as `name`, converted by the arguments in CONVERSIONS."""

    def make(name: str) -> Path:
        target = media_dir / name
        if not target.exists():
            args = CONVERSIONS[name]
            source = str(shared_eval / "asr" / "audio" / "jfk_inaugural_1961.flac")
            if args[-1] == "pipe:1":
                target.write_bytes(run_ffmpeg("-i", source, *args))
            else:
                run_ffmpeg("-i", source, *args, str(target))
        return target

    return make


def _ffmpeg_reference(path: Path) -> np.ndarray:
    """ffmpeg's own 16 kHz mono float decode: an independent implementation to compare with."""
    raw = run_ffmpeg("-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1")
    return np.frombuffer(raw, dtype=np.float32)


def _envelope(samples: np.ndarray) -> np.ndarray:
    """RMS per 20 ms: the shape of the speech, blind to sub-frame shifts."""
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320)
    return np.sqrt(np.mean(np.square(frames), axis=1))


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_decodes_to_16k_mono_with_the_right_duration(recording, name: str) -> None:
    path = recording(name)

    samples = decode_audio(path)

    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) / SAMPLE_RATE == pytest.approx(JFK_SECONDS, abs=0.05)
    # Same speech at the same level as ffmpeg's decode. Not sample-exact for Opus: PyAV keeps
    # 4 ms of the encoder's priming samples that the ffmpeg command line trims.
    reference = _ffmpeg_reference(path)
    assert abs(len(samples) - len(reference)) <= 0.005 * SAMPLE_RATE
    ours, theirs = _envelope(samples), _envelope(reference)
    frames = min(len(ours), len(theirs))
    assert np.corrcoef(ours[:frames], theirs[:frames])[0, 1] > 0.99
    assert check_has_sound(path, samples) == pytest.approx(check_has_sound(path, reference), abs=0.1)
    # The content sniffer must never mistake a real recording for a document.
    kind = identify(path.read_bytes()[:4096])
    assert kind is None or kind.is_media


def test_stereo_44k_is_downmixed_and_resampled_exactly_as_ffmpeg_does(recording) -> None:
    path = recording("jfk.wav")

    samples = decode_audio(path)

    reference = _ffmpeg_reference(path)
    assert len(samples) == len(reference)
    assert np.abs(samples - reference).max() < 1e-5


def test_probe_reports_what_the_file_holds(recording) -> None:
    wav = probe_media(recording("jfk.wav"))
    assert (wav.container, wav.audio_codec, wav.sample_rate, wav.channels) == ("wav", "pcm_s16le", 44100, 2)
    assert wav.duration_seconds == pytest.approx(JFK_SECONDS, abs=0.01)
    assert not wav.has_video

    video = probe_media(recording("jfk.mp4"))
    assert video.has_video and video.audio_codec == "aac"
    assert video.duration_seconds == pytest.approx(JFK_SECONDS, abs=0.05)


def test_probe_finds_the_duration_of_a_browser_recording_without_one_in_its_header(recording) -> None:
    info = probe_media(recording("jfk_live.webm"))

    assert info.audio_codec == "opus"
    assert info.duration_seconds == pytest.approx(JFK_SECONDS, abs=0.05)


def test_streaming_chunks_concatenate_to_the_same_samples_as_decode_audio(recording) -> None:
    path = recording("jfk.m4a")

    chunks = list(iter_audio(path, chunk_seconds=0.7))

    assert {len(chunk) for chunk in chunks[:-1]} == {round(0.7 * SAMPLE_RATE)}
    assert 0 < len(chunks[-1]) <= round(0.7 * SAMPLE_RATE)
    assert np.array_equal(np.concatenate(chunks), decode_audio(path))


@pytest.mark.parametrize("name", ["jfk.mp3", "jfk.m4a"])
def test_a_damaged_stretch_costs_only_that_stretch(recording, tmp_path: Path, caplog, name: str) -> None:
    data = bytearray(recording(name).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = random.Random(0).randbytes(3000)
    path = tmp_path / name
    path.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING, logger="insightcap.audio.decode"):
        samples = decode_audio(path)

    assert JFK_SECONDS - 1.0 < len(samples) / SAMPLE_RATE <= JFK_SECONDS + 0.05
    assert "damaged audio packets" in caplog.text


def test_video_without_a_sound_track_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "screen.mp4"
    run_ffmpeg(*BLACK_VIDEO, "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))

    with pytest.raises(MediaError, match=r"screen\.mp4 has no sound track \(it contains only video\)"):
        probe_media(path)


def test_silent_recording_has_no_audible_sound(tmp_path: Path) -> None:
    path = tmp_path / "muted.wav"
    run_ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "3", str(path))

    assert probe_media(path).duration_seconds == pytest.approx(3.0)
    with pytest.raises(MediaError, match=r"muted\.wav contains no audible sound"):
        check_has_sound(path)


def test_recording_without_samples_has_no_audible_sound(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16_000)

    assert decode_audio(path).size == 0
    with pytest.raises(MediaError, match="contains no audible sound"):
        check_has_sound(path)


def test_speech_level_is_measured_while_streaming_or_from_samples(recording) -> None:
    path = recording("jfk.ogg")

    streamed = check_has_sound(path)

    assert -30.0 < streamed < -5.0
    assert check_has_sound(path, decode_audio(path)) == pytest.approx(streamed, abs=1e-6)
