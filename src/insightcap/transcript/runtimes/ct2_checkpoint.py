"""Turns the CTranslate2 Whisper weights that faster-whisper runs into an openai-whisper `.pt` checkpoint.

No openai-whisper checkpoint can be downloaded here, yet the reference implementation is the yardstick
for our faster runtimes. A CTranslate2 Whisper model holds the very same float weights under other
names (converted from OpenAI's release via Hugging Face), so renaming them back, splitting the matrices
CTranslate2 fuses, and writing openai-whisper's `{"dims", "model_state_dict"}` dict gives a checkpoint
that `whisper.load_model(path)` and `INSIGHTCAP_ASR_MODEL=/path/model.pt` both load.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
from dataclasses import asdict
from pathlib import Path

import numpy as np

from insightcap.weights import ModelUnavailable, get_spec, model_path

# The model.bin layout of ctranslate2/specs/model_spec.py `_serialize`, binary version 6; type ids
# follow the DataType enum of CTranslate2's include/ctranslate2/types.h (bfloat16 is read by hand).
_BINARY_VERSION = 6
_DTYPES = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
    5: np.uint16,
}
_BFLOAT16 = 5
_FLOAT_TYPES = (np.float16, np.float32)
_FLOAT_MODEL_HINT = (
    "Convert the Hugging Face Whisper model again with ct2-transformers-converter from a current "
    "ctranslate2 and --quantization float16 (or float32), then point this command at that folder."
)


class _Reader:
    """A cursor over the bytes of a model.bin, so every read says what it reads and truncation is caught."""

    def __init__(self, data: bytes, source: Path) -> None:
        self._data = data
        self._source = source
        self._offset = 0

    def take(self, size: int) -> memoryview:
        if self._offset + size > len(self._data):
            raise ModelUnavailable(
                f"{self._source} ends early: the file is incomplete or not a CTranslate2 model. "
                "Copy or assemble it again."
            )
        chunk = memoryview(self._data)[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def number(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        # Strings are written with their trailing NUL counted in the length.
        return bytes(self.take(self.number("H")))[:-1].decode("utf-8")

    def at_end(self) -> bool:
        return self._offset == len(self._data)


def read_ct2_model(model_bin: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 model.bin by its spec name ("encoder/conv1/weight"), aliases included.

    Arrays keep the file's dtype (bfloat16 comes back as float32); scalars are 0-d arrays.
    """
    if not model_bin.is_file():
        raise ModelUnavailable(f"{model_bin} does not exist: give the folder of a CTranslate2 Whisper model.")
    reader = _Reader(model_bin.read_bytes(), model_bin)
    version = reader.number("I")
    if version != _BINARY_VERSION:
        raise ModelUnavailable(
            f"{model_bin} is a CTranslate2 model of binary version {version}, but only version "
            f"{_BINARY_VERSION} can be read. {_FLOAT_MODEL_HINT}"
        )
    reader.string()  # the spec name; the variables themselves say whether this is Whisper
    reader.number("I")  # the spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.number("I")):
        name = reader.string()
        shape = tuple(reader.number("I") for _ in range(reader.number("B")))
        type_id = reader.number("B")
        if type_id not in _DTYPES:
            raise ModelUnavailable(f"{model_bin} stores '{name}' in an unknown number type ({type_id}).")
        raw = np.frombuffer(reader.take(reader.number("I")), dtype=_DTYPES[type_id]).reshape(shape)
        if type_id == _BFLOAT16:
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        variables[name] = raw
    for _ in range(reader.number("I")):
        alias = reader.string()
        variables[alias] = variables[reader.string()]
    if not reader.at_end():
        raise ModelUnavailable(f"{model_bin} has unexpected bytes after its last variable: it is damaged.")
    return variables


def _array(variables: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A writable copy in the file's float type: load_state_dict widens it to the model's float32."""
    if name not in variables:
        raise ModelUnavailable(
            f"The CTranslate2 model has no '{name}': it is not a Whisper model as ctranslate2 writes one."
        )
    return np.array(variables[name])


def _check_convertible(variables: dict[str, np.ndarray], model_bin: Path) -> None:
    """Refuses models whose weights are not the original floats; the message says what to do instead."""
    if "encoder/conv1/weight" not in variables or "decoder/embeddings/weight" not in variables:
        raise ModelUnavailable(
            f"{model_bin} is not a Whisper model (it has no audio encoder). Give the folder of a "
            "CTranslate2 Whisper model, such as the packaged whisper-base."
        )
    quantised = sorted(
        name
        for name, value in variables.items()
        if name.endswith("_scale") or (value.ndim > 0 and value.dtype.type not in _FLOAT_TYPES)
    )
    if quantised:
        raise ModelUnavailable(
            f"{model_bin} holds quantised weights (e.g. '{quantised[0]}', int8/int16), which cannot be "
            f"turned back into the original Whisper weights. {_FLOAT_MODEL_HINT}"
        )
    projection = variables.get("decoder/projection/weight")
    if projection is not None and not np.array_equal(projection, variables["decoder/embeddings/weight"]):
        raise ModelUnavailable(
            f"{model_bin} has an output projection separate from its token embedding, which openai-whisper "
            "cannot represent: it is not an OpenAI Whisper model."
        )


def _linear(variables: dict[str, np.ndarray], source: str, target: str) -> dict[str, np.ndarray]:
    return {
        f"{target}.weight": _array(variables, f"{source}/weight"),
        f"{target}.bias": _array(variables, f"{source}/bias"),
    }


def _layer_norm(variables: dict[str, np.ndarray], source: str, target: str) -> dict[str, np.ndarray]:
    return {
        f"{target}.weight": _array(variables, f"{source}/gamma"),
        f"{target}.bias": _array(variables, f"{source}/beta"),
    }


def _split_projections(
    variables: dict[str, np.ndarray], source: str, targets: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """CTranslate2 fuses query/key/value (or key/value) into one matrix; openai-whisper keeps them apart.

    Whisper's key projection has no bias, so CTranslate2 filled its slice of the fused bias with zeros.
    """
    weights = np.split(_array(variables, f"{source}/weight"), len(targets))
    biases = np.split(_array(variables, f"{source}/bias"), len(targets))
    state: dict[str, np.ndarray] = {}
    for target, weight, bias in zip(targets, weights, biases, strict=True):
        state[f"{target}.weight"] = weight
        if target.endswith(".key"):
            if np.any(bias):
                raise ModelUnavailable(
                    f"'{source}' has a key bias, which Whisper does not: not a Whisper model."
                )
        else:
            state[f"{target}.bias"] = bias
    return state


def _block(
    variables: dict[str, np.ndarray], source: str, target: str, cross_attention: bool
) -> dict[str, np.ndarray]:
    """One residual block: self-attention, cross-attention in the decoder, then the MLP."""
    state = _layer_norm(variables, f"{source}/self_attention/layer_norm", f"{target}.attn_ln")
    state |= _split_projections(
        variables,
        f"{source}/self_attention/linear_0",
        (f"{target}.attn.query", f"{target}.attn.key", f"{target}.attn.value"),
    )
    state |= _linear(variables, f"{source}/self_attention/linear_1", f"{target}.attn.out")
    if cross_attention:
        state |= _layer_norm(variables, f"{source}/attention/layer_norm", f"{target}.cross_attn_ln")
        state |= _linear(variables, f"{source}/attention/linear_0", f"{target}.cross_attn.query")
        state |= _split_projections(
            variables,
            f"{source}/attention/linear_1",
            (f"{target}.cross_attn.key", f"{target}.cross_attn.value"),
        )
        state |= _linear(variables, f"{source}/attention/linear_2", f"{target}.cross_attn.out")
    state |= _layer_norm(variables, f"{source}/ffn/layer_norm", f"{target}.mlp_ln")
    state |= _linear(variables, f"{source}/ffn/linear_0", f"{target}.mlp.0")
    state |= _linear(variables, f"{source}/ffn/linear_1", f"{target}.mlp.2")
    return state


def _blocks(variables: dict[str, np.ndarray], stack: str, count: int) -> dict[str, np.ndarray]:
    """All residual blocks of the encoder or the decoder; only the decoder's attend to the audio."""
    state: dict[str, np.ndarray] = {}
    for layer in range(count):
        state |= _block(
            variables, f"{stack}/layer_{layer}", f"{stack}.blocks.{layer}", cross_attention=stack == "decoder"
        )
    return state


def _layer_count(variables: dict[str, np.ndarray], stack: str) -> int:
    return sum(
        1 for name in variables if name.startswith(f"{stack}/layer_") and name.endswith("ffn/linear_0/weight")
    )


def _openai_state(
    variables: dict[str, np.ndarray],
) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """openai-whisper's ModelDimensions (read off the shapes) and state dict, as numpy arrays."""
    audio_positions = variables["encoder/position_encodings/encodings"]
    text_positions = variables["decoder/position_encodings/encodings"]
    dims = {
        "n_mels": variables["encoder/conv1/weight"].shape[1],
        "n_audio_ctx": audio_positions.shape[0],
        "n_audio_state": audio_positions.shape[1],
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": _layer_count(variables, "encoder"),
        "n_vocab": variables["decoder/embeddings/weight"].shape[0],
        "n_text_ctx": text_positions.shape[0],
        "n_text_state": text_positions.shape[1],
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": _layer_count(variables, "decoder"),
    }
    state = _linear(variables, "encoder/conv1", "encoder.conv1")
    state |= _linear(variables, "encoder/conv2", "encoder.conv2")
    # CTranslate2 stores the encoder's sinusoidal table too; it is the one openai-whisper would compute.
    state["encoder.positional_embedding"] = _array(variables, "encoder/position_encodings/encodings")
    state |= _blocks(variables, "encoder", dims["n_audio_layer"])
    state |= _layer_norm(variables, "encoder/layer_norm", "encoder.ln_post")
    # openai-whisper computes its logits with the token embedding: the output projection is tied to it.
    state["decoder.token_embedding.weight"] = _array(variables, "decoder/embeddings/weight")
    state["decoder.positional_embedding"] = _array(variables, "decoder/position_encodings/encodings")
    state |= _blocks(variables, "decoder", dims["n_text_layer"])
    state |= _layer_norm(variables, "decoder/layer_norm", "decoder.ln")
    return dims, state


def _alignment_heads(model_dir: Path, dims: dict[str, int]) -> bytes | None:
    """The cross-attention heads that follow the words in time, in openai-whisper's own encoding.

    openai-whisper knows them only for its named downloads; a checkpoint loaded from a path would
    otherwise fall back to every head of the last half of the layers and place words less precisely.
    """
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        return None
    heads = json.loads(config_file.read_text(encoding="utf-8")).get("alignment_heads")
    if not heads:
        return None
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    # mtime=0 keeps the checkpoint byte-identical between conversions.
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def convert_ct2_to_openai(model_dir: Path, out_file: Path) -> Path:
    """Writes the CTranslate2 Whisper model in `model_dir` as an openai-whisper checkpoint at `out_file`.

    The weights keep model.bin's float type (float16 here, as in OpenAI's own checkpoints), and
    openai-whisper widens them to float32 as it loads them. The state dict is loaded into a real
    `whisper.model.Whisper` before anything is written, so a file that appears is one that loads.
    """
    model_bin = model_dir / "model.bin"
    variables = read_ct2_model(model_bin)
    _check_convertible(variables, model_bin)
    dims, arrays = _openai_state(variables)

    import torch  # imported late: torch is slow to import, and refusals need none of it
    from whisper.model import ModelDimensions, Whisper

    state = {name: torch.from_numpy(array) for name, array in arrays.items()}
    Whisper(ModelDimensions(**dims)).load_state_dict(state, strict=True)
    checkpoint: dict[str, object] = {
        "dims": asdict(ModelDimensions(**dims)),
        "model_state_dict": state,
    }
    heads = _alignment_heads(model_dir, dims)
    if heads is not None:
        checkpoint["alignment_heads"] = heads
    out_file.parent.mkdir(parents=True, exist_ok=True)
    partial = out_file.with_name(out_file.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(out_file)
    return out_file


def convert_model(model_name: str, out_file: Path, cache_dir: Path) -> Path:
    """What `insightcap convert-whisper` does: a Whisper model of the manifest (or a folder) to a `.pt` file."""
    spec = get_spec(model_name)
    if spec.task != "asr" or spec.runtime not in ("faster-whisper", ""):
        raise ModelUnavailable(
            f"'{model_name}' is not a CTranslate2 Whisper model, so there is nothing to convert: choose "
            "whisper-base or whisper-tiny-en, or give the folder of a faster-whisper model."
        )
    return convert_ct2_to_openai(model_path(model_name, cache_dir), out_file.expanduser())
