"""Shared fixtures: a throw-away data directory per test and the paths of the real eval data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO_ROOT.parent / "shared" / "eval"


@pytest.fixture
def shared_eval() -> Path:
    if not SHARED_EVAL.is_dir():
        pytest.skip(f"the shared eval data is not beside this checkout ({SHARED_EVAL})")
    return SHARED_EVAL


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at a fresh data dir, with the fast ASR model and models cached across tests."""
    from insightcap.config import get_settings

    monkeypatch.setenv("INSIGHTCAP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("INSIGHTCAP_ASR_MODEL", "whisper-tiny-en")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def llama_generator():
    """The packaged local model, from the default model cache so its 491 MB GGUF is assembled only once."""
    pytest.importorskip("llama_cpp")
    from insightcap.config import Settings
    from insightcap.generator.factory import get_generator

    return get_generator(Settings(generator="llama-cpp"))
