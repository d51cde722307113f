"""Finds the project's data folders (models/, prompts/, web/) in a checkout or an installed wheel,
and reads and writes the trained artefacts under models/ in one format.

The README's set-up installs the project editable, so the folders sit at the repository root; a
built wheel carries copies under insightcap/_bundled/ (see pyproject.toml).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` ("models", "prompts" or "web")."""
    for candidate in (_PACKAGE_DIR / "_bundled" / name, _PACKAGE_DIR.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"insightcap's '{name}' folder is missing; reinstall insightcap (`bash scripts/setup.sh`) to restore it."
    )


# The folders of trained artefacts under models/ (each one's README.md says how it was trained).
TrainedModel = Literal[
    "action_head", "keyphrase_background", "search_encoder", "section_head", "summary_head", "topic_head"
]


def trained_model_file(folder: TrainedModel, file: str = "head.npz") -> Path:
    """A trained artefact under models/, e.g. models/section_head/head.npz for "section_head"."""
    return resource_dir("models") / folder / file


def require_model_file(path: Path, what: str, trainer: str) -> None:
    """Stop with what to do next when a trained artefact under models/ is missing."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} ({path}) is missing; reinstall insightcap, or rebuild it with "
            f"`python -m {trainer}`."
        )


def save_model_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a trained artefact as plain compressed arrays (no pickle), creating its folder.
    Members keep `arrays`' order, so a rebuild from the same data is byte-identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def meta_array(meta: dict[str, Any]) -> np.ndarray:
    """A trained artefact's settings and figures as one stored string (sorted JSON); see read_meta."""
    return np.array(json.dumps(meta, sort_keys=True))


def read_meta(stored: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The `meta_array` of a loaded artefact."""
    return json.loads(str(stored["meta"]))


def prompt_text(relative_path: str) -> str:
    """The text of a prompt file under prompts/, e.g. "followup_question.txt"."""
    return (resource_dir("prompts") / relative_path).read_text(encoding="utf-8")
