"""Files under the data directory: written to a temporary name and moved into place only when
complete, so an interrupted copy or upload never leaves a half-written recording behind, and a
reader never sees a file cut short."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from insightcap.config import Settings

# The programs' own memo templates, one folder per program (memo/render.py): a facilitator's work,
# backed up with the sessions.
PROGRAM_TEMPLATES = "templates"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,10}")
_MAX_STEM = 100


def safe_filename(name: str) -> str:
    """A filename that cannot escape its folder or confuse a shell, for any name a browser sends.

    Keeps only the last path part (after either kind of slash), spells accented letters without
    their accents, replaces everything outside [A-Za-z0-9._-] (NUL and control bytes included) and
    drops leading dots and dashes: no "..", no hidden files, no "-rf". The extension survives,
    because the player picks the MIME type by it; a name with nothing left, such as one written in
    Chinese, becomes "recording" with its extension.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    stem, dot, extension = ascii_name.rpartition(".")
    if not dot or not _EXTENSION.fullmatch(extension):
        stem, extension = ascii_name, ""
    cleaned = _UNSAFE.sub("_", stem).strip("._-")[:_MAX_STEM].rstrip("._-") or "recording"
    return f"{cleaned}.{extension}" if extension else cleaned


@contextmanager
def replacing(target: Path) -> Iterator[BinaryIO]:
    """A file to write that becomes `target` in one step when the block ends, and is removed
    instead if it fails: readers see the old content or the new, never part of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def program_template_files(data_dir: Path) -> list[str]:
    """Every file of the programs' own memo templates, relative to `data_dir`."""
    folder = data_dir / PROGRAM_TEMPLATES
    if not folder.is_dir():
        return []
    return sorted(path.relative_to(data_dir).as_posix() for path in folder.rglob("*") if path.is_file())


def store_original(source: Path, session_id: str, settings: Settings) -> tuple[Path, str]:
    """Copy `source` into the session's folder atomically; returns the path relative to the data dir
    and the file's sha256, computed while copying: telling the same file added twice costs no second
    read of a recording that may be gigabytes."""
    target = settings.media_dir / session_id / f"original_{safe_filename(source.name)}"
    digest = hashlib.sha256()
    with replacing(target) as out, source.open("rb") as src:
        while chunk := src.read(1 << 22):
            digest.update(chunk)
            out.write(chunk)
    return target.relative_to(settings.data_dir), digest.hexdigest()


def remove_session_files(session_id: str, settings: Settings) -> None:
    shutil.rmtree(settings.media_dir / session_id, ignore_errors=True)
