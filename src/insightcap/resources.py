"""Finds the project's data folders (models/, prompts/, web/) in a checkout or an installed wheel.

The README's set-up installs the project editable, so the folders sit at the repository root; a
built wheel carries copies under insightcap/_bundled/ (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` ("models", "prompts" or "web")."""
    for candidate in (_PACKAGE_DIR / "_bundled" / name, _PACKAGE_DIR.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"insightcap's '{name}' folder is missing; reinstall insightcap (scripts/setup) to restore it."
    )


def require_model_file(path: Path, what: str, trainer: str) -> None:
    """Stop with what to do next when a trained artefact under models/ is missing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} ({path}) is missing; reinstall insightcap, or rebuild it with "
            f"`python -m {trainer}`."
        )


def prompt_text(relative_path: str) -> str:
    """The text of a prompt file under prompts/, e.g. "followup_question.txt"."""
    return (resource_dir("prompts") / relative_path).read_text(encoding="utf-8")
