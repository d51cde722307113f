"""Resolves a model named in models/manifest.toml to a folder of weights on this machine.

This is the one place that knows where weights live. Packaged weights (the default) come from PyPI
wheels and need no network; split uploads are concatenated once into the model cache and checked
against their sha256, because several of those wheels are anonymous uploads. Hub models are the
path for users with internet and a bigger machine.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from insightcap.resources import resource_dir


class ModelUnavailable(RuntimeError):
    """The model's weights cannot be found or do not verify; the message says how to fix it."""


class AssembledFile(BaseModel):
    name: str
    from_: str | None = Field(default=None, alias="from")
    parts: list[str] = Field(default_factory=list)
    sha256: str | None = None
    size: int | None = None


class ModelSpec(BaseModel):
    name: str
    task: Literal["asr", "embedding", "nlp", "generator", "speaker"]
    runtime: str
    description: str = ""
    # The model as a memo's reader is told of it ("Qwen2.5-Coder 0.5B"): no runtime, file or quantisation.
    label: str = ""
    license: str = ""
    source: Literal["pypi", "hub", "path"]
    packages: list[str] = Field(default_factory=list)
    hub_id: str | None = None
    folder: str | None = None
    checksums: dict[str, str] = Field(default_factory=dict)
    files: list[AssembledFile] = Field(default_factory=list)
    spacy_package: str | None = None
    path: str | None = None


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, ModelSpec]:
    raw = tomllib.loads((resource_dir("models") / "manifest.toml").read_text(encoding="utf-8"))
    return {name: ModelSpec(name=name, **entry) for name, entry in raw.items()}


def get_spec(name: str) -> ModelSpec:
    """The manifest entry `name`; a hub id or a folder path is accepted for users with their own model."""
    manifest = load_manifest()
    if name in manifest:
        return manifest[name]
    if Path(name).expanduser().is_dir():
        return ModelSpec(name=name, task="asr", runtime="", source="path", path=str(Path(name).expanduser()))
    if "/" in name:
        return ModelSpec(name=name, task="asr", runtime="", source="hub", hub_id=name)
    known = ", ".join(sorted(manifest))
    raise ModelUnavailable(f"Unknown model '{name}'. Known models: {known}; or give a folder path or a hub id.")


def _package_file(relative: str, spec: ModelSpec) -> Path:
    package, _, inner = relative.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        wanted = " ".join(spec.packages) or package
        raise ModelUnavailable(
            f"The weights of model '{spec.name}' are not installed. Install them with: pip install {wanted}"
        )
    return Path(next(iter(found.submodule_search_locations))) / inner


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, sha256: str | None, size: int | None, model: str) -> None:
    if size is not None and path.stat().st_size != size:
        raise ModelUnavailable(
            f"{path} has {path.stat().st_size} bytes, expected {size}: the packaged weights of '{model}' "
            "are incomplete. Reinstall the packages listed for it in models/manifest.toml."
        )
    if sha256 is not None and _sha256(path) != sha256:
        raise ModelUnavailable(
            f"{path} does not match its sha256 in models/manifest.toml: the weights of '{model}' are "
            "corrupt or were replaced. Reinstall the packages listed for it."
        )


def _assemble(spec: ModelSpec, cache_dir: Path) -> Path:
    target = cache_dir / spec.name
    done_marker = target / ".verified"
    if done_marker.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for item in spec.files:
        sources = [_package_file(part, spec) for part in (item.parts or [item.from_ or ""])]
        partial = target / f".{item.name}.partial"
        with partial.open("wb") as out:
            for source in sources:
                with source.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 22)
        _verify(partial, item.sha256, item.size, spec.name)
        os.replace(partial, target / item.name)
    done_marker.write_text("ok\n")
    return target


def _packaged_folder(spec: ModelSpec, cache_dir: Path) -> Path:
    folder = _package_file(spec.folder or "", spec)
    marker = cache_dir / f".{spec.name}.verified"
    if not marker.exists():
        for file_name, sha256 in spec.checksums.items():
            _verify(folder / file_name, sha256, None, spec.name)
        cache_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(folder))
    return folder


def _hub_snapshot(spec: ModelSpec) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=spec.hub_id or spec.name))
    except Exception as error:  # the hub client raises many types for "no network"
        raise ModelUnavailable(
            f"Could not download '{spec.hub_id}' from the model hub ({error.__class__.__name__}). "
            "This needs internet access; the packaged default models work offline."
        ) from error


def model_path(name: str, cache_dir: Path) -> Path:
    """A local folder (or, for generators, a file) holding the weights of model `name`."""
    spec = get_spec(name)
    if spec.source == "path":
        return Path(spec.path or "")
    if spec.source == "hub":
        return _hub_snapshot(spec)
    if spec.folder:
        return _packaged_folder(spec, cache_dir)
    return _assemble(spec, cache_dir)
