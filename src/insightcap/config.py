"""The one configuration object. Every setting can come from an INSIGHTCAP_* environment variable."""

from __future__ import annotations

import logging
import os
import stat
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

# Recordings, transcripts and memos are confidential: the data folder is its owner's alone, whatever
# the umask, which guards everything inside. Files holding sessions are 0600 as well, so that a copy
# taken out of it (a backup archive) stays private.
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# Folders already found readable by others and left so: said once per process, not at every query.
_left_readable: set[Path] = set()


def _default_data_dir() -> Path:
    """XDG data home, so recordings live with the user's other application data."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "insightcap"


def _default_model_cache_dir() -> Path:
    """Assembled model weights are shared by every data directory of the user (they are large)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "insightcap" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSIGHTCAP_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    model_cache_dir: Path = Field(default_factory=_default_model_cache_dir)
    # Names of entries in models/manifest.toml.
    asr_model: str = "whisper-base"
    embedding_model: str = "minilm"
    nlp_model: str = "spacy-en-sm"
    speaker_model: str = "ge2e-speaker"
    # "auto" uses the packaged local model when llama-cpp-python is installed, else no generator;
    # "llama-cpp", "openai" (any OpenAI-compatible endpoint: Ollama, llama.cpp server, vLLM) or "none".
    generator: str = "auto"
    generator_model: str = "qwen-coder-0.5b"
    generator_url: str = "http://127.0.0.1:11434/v1"
    generator_api_model: str = "llama3.2"
    generator_api_key: str | None = None
    # Whisper decoding: int8 is the fastest exact-enough compute type on a CPU.
    asr_compute_type: str = "int8"
    asr_beam_size: int = 5
    asr_language: str | None = None
    cpu_threads: int = Field(default_factory=lambda: os.cpu_count() or 2)
    # Web sign-in: how long a browser stays signed in, and whether its cookie is only ever sent over
    # HTTPS. None decides per request (Secure when the request came over HTTPS, as behind a proxy).
    login_days: int = 14
    # The address people open the web app at: exported memos link each moment there. `serve`'s
    # default; set it when the app is served elsewhere (another port, a shared host behind a proxy).
    app_url: str = "http://127.0.0.1:8000"
    secure_cookies: bool | None = None
    # Failed sign-ins allowed per address and per account in `login_window_minutes` before refusing.
    login_attempts: int = 5
    login_window_minutes: int = 15
    # Uploaded recordings (see audio/limits.py): longer ones are refused with a message, and FFmpeg
    # reads each upload in a child process that is stopped after this time or memory, so a damaged
    # or crafted file cannot hang or exhaust the server. Reading 6 hours of audio takes about a
    # minute on one core.
    max_recording_hours: float = 6.0
    media_read_timeout_seconds: float = 600.0
    media_read_memory_gb: float = 2.0

    @property
    def database_path(self) -> Path:
        return self.data_dir / "insightcap.db"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.database_path}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def exports_dir(self, session_id: str) -> Path:
        """Where a session's memo files are written after `process` or `import`."""
        return self.data_dir / "exports" / session_id

    def job_log(self, job_id: str) -> Path:
        """The traceback of a job that failed unexpectedly."""
        return self.data_dir / "logs" / f"job-{job_id}.log"

    @property
    def web_log(self) -> Path:
        """The tracebacks of web requests that failed unexpectedly."""
        return self.data_dir / "logs" / "web.log"

    def ensure_dirs(self) -> None:
        make_private_folder(self.data_dir)
        for folder in (self.media_dir, self.model_cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.database_path.exists():
            # SQLite would create it 0644 less the umask; its -wal and -shm files take the database
            # file's mode. An empty file is an empty database, which the migrations then fill.
            os.close(os.open(self.database_path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))


def make_private_folder(folder: Path) -> None:
    """Make `folder` (its missing parents as usual) open to its owner only. One an earlier version
    left readable by other accounts is made private if it is ours; one that is not ours (set up by an
    administrator), or that cannot be changed (a read-only mount), is used as it is."""
    folder.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
    status = folder.stat()
    if not stat.S_IMODE(status.st_mode) & 0o077 or status.st_uid != os.getuid() or folder in _left_readable:
        return
    try:
        folder.chmod(PRIVATE_FOLDER_MODE)
    except OSError as error:
        _left_readable.add(folder)
        log.warning("%s is readable by other accounts on this computer and could not be made private (%s).",
                    folder, error.strerror)
        return
    log.warning("%s was readable by other accounts on this computer; it is now private to you.", folder)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
