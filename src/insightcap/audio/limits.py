"""Reading an untrusted recording in a child process, under time and memory limits.

FFmpeg's demuxers and decoders are C code fed with whatever a user uploads. A crafted or badly
damaged file can make them loop for hours, allocate until the machine runs out of memory, or
crash, and PyAV runs FFmpeg inside the calling process: the web server or the job worker. So the
two reads every upload goes through (the probe on intake, the full read of the decode stage) run
in a child process whose address space and CPU time are capped with setrlimit, which a
wall-clock timeout kills if it waits on something that uses no CPU, and whose crash kills only
itself. The CPU limit also ends a child whose parent died before it could kill it.

The child comes from a forkserver, not fork(): the server and worker have threads, and forking
a threaded process can copy a lock that is held for ever. The forkserver is a clean process that
has already imported PyAV and NumPy, so each check costs milliseconds more, not the half second
a freshly spawned interpreter needs.

Everything after the decode stage (transcription streaming through iter_audio, speaker
detection) reads the file in-process, trusting that this full read already succeeded.

As with any multiprocessing start method but fork, a program that uses insightcap as a library
must guard its entry point with `if __name__ == "__main__":` (the child imports the main module).
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, TypeVar

from insightcap.audio.decode import (
    CONVERT_HINT,
    AudioCheck,
    MediaError,
    MediaInfo,
    probe_within,
    read_through,
    spoken_duration,
)
from insightcap.config import Settings

T = TypeVar("T")
_GB = 1024**3
# A CPU-time kill the parent did not order: the soft limit's SIGXCPU, or the hard limit's SIGKILL.
_CPU_SIGNALS = (-signal.SIGXCPU, -signal.SIGKILL)


@dataclass(frozen=True)
class ReadLimits:
    seconds: float
    memory_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(seconds=settings.media_read_timeout_seconds, memory_bytes=int(settings.media_read_memory_gb * _GB))


@lru_cache(maxsize=1)
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _child(task: Callable[[Path], Any], path: Path, limits: ReadLimits, results: Connection) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu_seconds = math.ceil(limits.seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    # A crash on a crafted file must not leave a core dump the size of the memory limit behind.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        outcome: tuple[str, Any] = ("done", task(path))
    except MediaError as error:
        outcome = ("refused", str(error))
    except MemoryError:
        outcome = ("out_of_memory", None)
    except Exception:
        outcome = ("failed", traceback.format_exc())
    results.send(outcome)


def _crafted(path: Path, how: str) -> MediaError:
    return MediaError(
        f"{path.name} could not be read {how}: it may be damaged, or crafted to overload the server. "
        f"{CONVERT_HINT}"
    )


def run_limited(task: Callable[[Path], T], path: Path, limits: ReadLimits) -> T:
    """`task(path)` in a child process under `limits`; a limit hit or a crash becomes a MediaError.

    `task` must be picklable (a module-level function or a partial of one): it is sent to the child.
    """
    context = _context()
    results, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(task, path, limits, sender), daemon=True)
    child.start()
    sender.close()  # the child holds the only sending end now, so its death reads as end-of-file
    try:
        outcome = results.recv() if results.poll(limits.seconds) else ("timed_out", None)
    except EOFError:
        outcome = ("died", None)
    finally:
        child.kill()
        child.join()
        results.close()
    status, value = outcome
    if status == "done":
        return value
    if status == "refused":
        raise MediaError(value)
    if status == "out_of_memory":
        raise _crafted(path, f"within {limits.memory_bytes / _GB:g} GB of memory")
    if status == "failed":
        raise RuntimeError(f"reading {path.name} failed in the checking process:\n{value}")
    if status == "timed_out" or child.exitcode in _CPU_SIGNALS:
        raise _crafted(path, f"within {spoken_duration(limits.seconds)}")
    raise _crafted(path, f"(the decoder crashed on it, exit code {child.exitcode})")


def probe_untrusted(path: Path, settings: Settings) -> MediaInfo:
    """What an uploaded recording holds, from its headers, read under the limits; refuses one whose
    headers state a length over settings.max_recording_hours. Quick: for intake."""
    task = partial(probe_within, max_seconds=settings.max_recording_hours * 3600)
    return run_limited(task, path, ReadLimits.from_settings(settings))


def check_recording(path: Path, settings: Settings) -> AudioCheck:
    """Decode an uploaded recording once, completely, under the limits (see decode.read_through).

    Takes about as long as decoding the file: for the decode stage, before any model time is spent.
    """
    task = partial(read_through, max_seconds=settings.max_recording_hours * 3600)
    return run_limited(task, path, ReadLimits.from_settings(settings))
