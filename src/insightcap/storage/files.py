"""Files under the data directory: originals are written to a temporary name and moved into place
only when complete, so an interrupted copy or upload never leaves a half-written recording behind."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from insightcap.config import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str) -> str:
    """A filename that cannot escape its folder or confuse a shell: keeps only the last path part."""
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip("._") or "recording"
    return cleaned[-120:]


def store_original(source: Path, session_id: str, settings: Settings) -> Path:
    """Copy `source` into the session's folder atomically; returns the path relative to the data dir."""
    folder = settings.media_dir / session_id
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"original_{safe_filename(source.name)}"
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 22)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target.relative_to(settings.data_dir)


def remove_session_files(session_id: str, settings: Settings) -> None:
    shutil.rmtree(settings.media_dir / session_id, ignore_errors=True)
