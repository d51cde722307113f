"""Reads any recording a user uploads as 16 kHz mono float32, the input every Whisper runtime expects.

The content is sniffed, never trusted from the extension, so a PDF renamed .mp3 gets a message the
user can act on instead of an FFmpeg error. Decoding streams packet by packet through PyAV's
resampler, so a multi-hour recording is never held in memory at its original rate and channel
count, and one damaged packet costs a few milliseconds of audio instead of the whole meeting.

Everything here runs FFmpeg in the calling process with no limits. An uploaded file is first read
through `read_through` in a limited child process (audio/limits.py); only a file that passed that
may be given to the other functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Disposition
from pydantic import BaseModel

from insightcap.audio.sniff import FileKind, cut_short, identify

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# What to give instead of a file that is not a recording, in the web app's words (its one upload form takes
# transcripts too); the command line puts its own, naming its commands, in their place (cli/intake.py).
SUPPORTED_HINT = "Upload a recording such as .wav, .mp3, .m4a, .mp4, .webm, .ogg or .flac."
# Whole-file RMS below this is digital silence or a muted microphone: a working microphone in a
# quiet room records a noise floor well above it, and speech sits around -30 to -15 dBFS.
SILENCE_DBFS = -60.0
_SNIFF_BYTES = 4096
# A full read may fall this far short of the length the header states before the file counts as
# cut off: encoder priming and padding differ from the header by milliseconds, a cut by much more.
_SHORTFALL_SECONDS = 1.0
# How to turn a damaged file into one that reads: in plain words first, as most people uploading
# have never run a command; the command last, for whoever helps them.
CONVERT_HINT = (
    "Open it in the app that recorded it, or in any audio app, save or export it as a new file (for example "
    ".m4a or .mp3), and upload that. For someone technical: `ffmpeg -i INPUT -vn -c:a aac recording.m4a` "
    "makes such a file."
)


class MediaError(ValueError):
    """The file cannot be used as a recording; the message tells the user what to do instead."""


class MediaInfo(BaseModel):
    # None only when neither the container nor its packets carry timestamps.
    duration_seconds: float | None
    container: str
    audio_codec: str
    sample_rate: int
    channels: int
    has_video: bool
    # The length the sound track's own header states, if it states one (FLAC, MP4, MP3 with a
    # Xing header). Unlike duration_seconds it never falls back to the video's length, so a full
    # read that yields much less proves the file was cut short.
    declared_seconds: float | None = None


class AudioCheck(BaseModel):
    """What one complete read of a recording found: that it decodes, how long it is, how loud."""

    info: MediaInfo
    decoded_seconds: float
    level_dbfs: float


def spoken_duration(seconds: float) -> str:
    """A length the way a person says it in a message: "6 hours", "1.5 minutes", "20 seconds"."""
    unit, size = ("hour", 3600) if seconds >= 3600 else ("minute", 60) if seconds >= 60 else ("second", 1)
    amount = f"{seconds / size:.1f}".removesuffix(".0")
    return f"{amount} {unit}{'' if amount == '1' else 's'}"


def _sniff(path: Path) -> FileKind | None:
    """Refuse what is certainly not a recording; return what the file claims to be, if known."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MediaError(f"{path.name} was not found. Upload the recording again.") from None
    if size == 0:
        raise MediaError(
            f"{path.name} is empty (0 bytes): the upload or copy did not finish. Upload the recording again."
        )
    with path.open("rb") as handle:
        kind = identify(handle.read(_SNIFF_BYTES))
    if kind is not None and not kind.is_media:
        raise MediaError(f"{path.name} is not audio or video (detected: {kind.label}). {SUPPORTED_HINT}")
    if kind is not None and cut_short(path, kind):
        raise _incomplete(path, f"this {kind.label} file ends before the length it states")
    return kind


def _incomplete(path: Path, how: str) -> MediaError:
    return MediaError(
        f"{path.name} seems to be cut short ({how}): part of the recording is missing, perhaps because an "
        "upload or copy was interrupted. Copy or export it again from the recorder or app that made it, and "
        "upload the complete file. If the recording really did stop early, what is there can still be used. "
        f"{CONVERT_HINT}"
    )


def _too_long(path: Path, max_seconds: float, seconds: float | None = None) -> MediaError:
    length = f"is {spoken_duration(seconds)} long, longer" if seconds is not None else "is longer"
    return MediaError(
        f"{path.name} {length} than the {spoken_duration(max_seconds)} insightcap accepts. "
        "Split it into shorter parts in your recording or editing app and upload each part, or ask "
        "your administrator to raise the limit (INSIGHTCAP_MAX_RECORDING_HOURS)."
    )


def _unreadable(path: Path, kind: FileKind | None) -> MediaError:
    if kind is None:
        return MediaError(
            f"{path.name} is not a recording insightcap can read (unrecognised format). {SUPPORTED_HINT}"
        )
    return MediaError(
        f"{path.name} cannot be read (detected: {kind.label}): the file is damaged or incomplete, "
        "perhaps because an upload or copy was interrupted. Upload the complete file again, or export "
        "the recording again from the app that made it."
    )


@contextmanager
def _open_audio(path: Path) -> Iterator[tuple[InputContainer, AudioStream, FileKind | None]]:
    kind = _sniff(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except MemoryError:
        raise  # over the child's memory limit, which limits.py reports; not damage
    except av.error.FFmpegError as error:
        raise _unreadable(path, kind) from error
    with container:
        stream = container.streams.best("audio")
        if stream is None:
            what = "only video" if container.streams.video else "no audio"
            raise MediaError(
                f"{path.name} has no sound track (it contains {what}). Upload a recording with audio, "
                "or check that the recording app captured the microphone."
            )
        yield container, stream, kind


def _duration_seconds(container: InputContainer, stream: AudioStream) -> float | None:
    # The sound track's own length first: a screen recording's video may run on after the audio.
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    # Browser recordings (MediaRecorder WebM) carry no duration: the last packet's end time is it.
    end: float | None = None
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
    except av.error.FFmpegError:
        pass  # a damaged tail: the duration up to it is the best answer there is
    return end


def probe_media(path: Path) -> MediaInfo:
    """What the recording holds, read from its headers; raises MediaError for anything unusable."""
    with _open_audio(path) as (container, stream, _kind):
        return MediaInfo(
            duration_seconds=_duration_seconds(container, stream),
            container=container.format.name,
            audio_codec=stream.codec_context.name,
            sample_rate=stream.rate or 0,
            channels=stream.channels or 0,
            # Cover art in an MP3 or M4A is a one-picture "video" stream; it is not a video.
            has_video=any(
                not video.disposition & Disposition.attached_pic for video in container.streams.video
            ),
            declared_seconds=float(stream.duration * stream.time_base)
            if stream.duration and stream.time_base
            else None,
        )


def probe_within(path: Path, max_seconds: float) -> MediaInfo:
    """probe_media, refusing a recording whose headers say it is longer than `max_seconds`."""
    info = probe_media(path)
    if info.duration_seconds is not None and info.duration_seconds > max_seconds:
        raise _too_long(path, max_seconds, info.duration_seconds)
    return info


def _decoded_frames(
    container: InputContainer, stream: AudioStream, path: Path, kind: FileKind | None
) -> Iterator[av.AudioFrame]:
    decoded_any = False
    damaged_packets = 0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                damaged_packets += 1
                continue
            decoded_any = decoded_any or bool(frames)
            yield from frames
    except MemoryError:
        raise  # over the child's memory limit, which limits.py reports; not damage
    except av.error.FFmpegError as error:
        if not decoded_any:
            raise _unreadable(path, kind) from error
        logger.warning("%s: stopped at a damaged part (%s); using the audio before it", path.name, error)
    if damaged_packets:
        if not decoded_any:
            raise _unreadable(path, kind)
        logger.warning("%s: skipped %d damaged audio packets", path.name, damaged_packets)


def _resampled_blocks(path: Path) -> Iterator[np.ndarray]:
    """16 kHz mono float32 blocks of whatever size the resampler produces."""
    with _open_audio(path) as (container, stream, kind):
        resampler = AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in _decoded_frames(container, stream, path, kind):
            frame.pts = None  # timestamp gaps in damaged or live-recorded files must not stop the resampler
            for block in resampler.resample(frame):
                yield block.to_ndarray()[0]
        for block in resampler.resample(None):
            yield block.to_ndarray()[0]


def iter_audio(path: Path, chunk_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The recording as consecutive 16 kHz mono float32 chunks of `chunk_seconds`; the last may be shorter.

    Unprotected: this streams in the calling process for as long as the file lasts. The streaming
    transcription relies on the decode stage having read the same file through `read_through` in a
    limited child process (audio/limits.py) first, which proves the whole file decodes within the
    time, memory and length limits. Outside that child, never call it on a file that has not passed.
    """
    chunk_samples = max(1, round(chunk_seconds * SAMPLE_RATE))
    pending: list[np.ndarray] = []
    pending_samples = 0
    for block in _resampled_blocks(path):
        pending.append(block)
        pending_samples += len(block)
        if pending_samples < chunk_samples:
            continue
        joined = np.concatenate(pending)
        full_chunks = len(joined) // chunk_samples
        for index in range(full_chunks):
            yield joined[index * chunk_samples : (index + 1) * chunk_samples]
        rest = joined[full_chunks * chunk_samples :]
        pending, pending_samples = [rest], len(rest)
    if pending_samples:
        yield np.concatenate(pending)


def decode_audio(path: Path) -> np.ndarray:
    """The whole recording as one 16 kHz mono float32 array (about 230 MB per hour)."""
    chunks = list(iter_audio(path, chunk_seconds=600.0))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def _audible_level(path: Path, chunks: Iterable[np.ndarray]) -> tuple[float, int]:
    """The level in dBFS and the number of samples; raises MediaError when all of it is silent."""
    energy = 0.0
    count = 0
    for chunk in chunks:
        energy += float(np.square(chunk, dtype=np.float64).sum())
        count += len(chunk)
    level = 10 * math.log10(energy / count) if energy > 0 else -math.inf
    if level < SILENCE_DBFS:
        raise MediaError(
            f"{path.name} contains no audible sound (the whole recording is silent or empty). Check that "
            "the microphone was switched on and not muted, then upload a recording with speech in it."
        )
    return level, count


def check_has_sound(path: Path, samples: np.ndarray | None = None) -> float:
    """The recording's level in dBFS; raises MediaError when it is empty or silent throughout.

    Streams the file unless the caller already holds its decoded `samples`.
    """
    return _audible_level(path, iter_audio(path) if samples is None else (samples,))[0]


def read_through(path: Path, max_seconds: float) -> AudioCheck:
    """Decode the whole recording once: proof that it is readable, complete, within the length limit
    and not silent. Raises MediaError otherwise.

    The decoded samples are counted rather than the header trusted: a few kilobytes of compressed
    silence can hold hours of audio under a header that claims one second, so the read stops as
    soon as it passes `max_seconds`.
    """
    info = probe_within(path, max_seconds)
    max_samples = max_seconds * SAMPLE_RATE

    def counted() -> Iterator[np.ndarray]:
        decoded = 0
        for chunk in iter_audio(path):
            decoded += len(chunk)
            if decoded > max_samples:
                raise _too_long(path, max_seconds)
            yield chunk

    level, samples = _audible_level(path, counted())
    decoded_seconds = samples / SAMPLE_RATE
    if info.declared_seconds is not None and decoded_seconds < info.declared_seconds - _SHORTFALL_SECONDS:
        raise _incomplete(
            path,
            f"it holds {spoken_duration(decoded_seconds)} of the {spoken_duration(info.declared_seconds)} "
            "it states",
        )
    return AudioCheck(info=info, decoded_seconds=decoded_seconds, level_dbfs=level)
