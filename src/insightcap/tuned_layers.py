"""Transformer layers fine-tuned on top of the packaged sentence model, stored apart from it.

The section head (insights/tuned_encoder.py) and the search encoder (search/encoder.py) both tune
MiniLM's transformer layers and leave its word-piece embeddings, half of its weights, frozen. So an
artefact holds only the tuned parameters (float16, by the encoder's state-dict key) and is loaded
into a copy of the packaged model: the repository never carries a second copy of the whole model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def layer_arrays(layers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tuned parameters as numbered float16 arrays, and their keys as `layer_keys`."""
    return {
        "layer_keys": np.array(list(layers)),
        **{f"layer_{index}": value.astype(np.float16) for index, value in enumerate(layers.values())},
    }


def read_layers(stored: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The tuned parameters of a loaded artefact, by state-dict key (see layer_arrays)."""
    keys = [str(key) for key in stored["layer_keys"]]
    return {key: stored[f"layer_{index}"] for index, key in enumerate(keys)}


def load_into(encoder: Any, layers: Mapping[str, np.ndarray], what: str, rebuild: str) -> None:
    """Overwrite `encoder`'s parameters with the tuned ones.

    strict=False, because only the tuned layers are stored; a key the encoder lacks means the
    layers were tuned on another model, which must not load silently."""
    import torch

    tuned = {key: torch.from_numpy(value.astype(np.float32)) for key, value in layers.items()}
    unknown = encoder.load_state_dict(tuned, strict=False).unexpected_keys
    if unknown:
        raise ValueError(
            f"{what} do not fit the embedding model they are loaded into (unknown parameters "
            f"{sorted(unknown)[:3]}); rebuild them with `python -m {rebuild}`."
        )
