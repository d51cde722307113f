"""CTranslate2 → openai-whisper: reads what ctranslate2 writes and converts whisper-base faithfully."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ctranslate2.specs import common_spec, model_spec

from eval.asr_bench import word_errors
from insightcap.config import Settings
from insightcap.transcript.runtimes.ct2_checkpoint import (
    convert_ct2_to_openai,
    convert_model,
    read_ct2_model,
)
from insightcap.weights import ModelUnavailable, model_path


class _Encoder(model_spec.LayerSpec):
    def __init__(self) -> None:
        self.conv1 = common_spec.Conv1DSpec()
        self.num_heads = np.dtype("int16").type(2)


class _Decoder(model_spec.LayerSpec):
    def __init__(self) -> None:
        self.embeddings = common_spec.EmbeddingsSpec()
        self.projection = common_spec.LinearSpec()


class _TinySpec(model_spec.ModelSpec):
    """A few Whisper-named variables, so ctranslate2's own writer produces the model.bin under test."""

    def __init__(self, whisper_like: bool) -> None:
        super().__init__()
        self.encoder = _Encoder() if whisper_like else common_spec.LinearSpec()
        self.decoder = _Decoder()

    @property
    def name(self) -> str:
        return "TinySpec"


def _tiny_model(folder: Path, quantization: str, whisper_like: bool = True) -> dict[str, np.ndarray]:
    """Writes a tiny model.bin into `folder` with ctranslate2 and returns the float32 values put in it."""
    rng = np.random.default_rng(0)
    values = {
        "encoder/conv1/weight": rng.normal(size=(4, 3, 3)).astype(np.float32),
        "encoder/conv1/bias": rng.normal(size=4).astype(np.float32),
        "decoder/embeddings/weight": rng.normal(size=(6, 4)).astype(np.float32),
    }
    spec = _TinySpec(whisper_like)
    if whisper_like:
        spec.encoder.conv1.weight = values["encoder/conv1/weight"]
        spec.encoder.conv1.bias = values["encoder/conv1/bias"]
    else:
        spec.encoder.weight = values["encoder/conv1/weight"][:, :, 0]
    spec.decoder.embeddings.weight = values["decoder/embeddings/weight"]
    # Tied like Whisper's output layer: ctranslate2 stores it as an alias of the embedding.
    spec.decoder.projection.weight = values["decoder/embeddings/weight"].copy()
    spec.validate()
    spec.optimize(quantization=quantization)
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))
    return values


def test_reader_returns_what_ctranslate2_wrote_with_aliases_and_scalars(
    tmp_path: Path,
) -> None:
    written = _tiny_model(tmp_path, "float16")

    variables = read_ct2_model(tmp_path / "model.bin")

    for name, value in written.items():
        assert variables[name].dtype == np.float16
        np.testing.assert_array_equal(variables[name], value.astype(np.float16))
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]
    assert variables["encoder/num_heads"].shape == () and int(variables["encoder/num_heads"]) == 2


def test_quantised_weights_are_refused_with_what_to_do(tmp_path: Path) -> None:
    _tiny_model(tmp_path, "int8")

    with pytest.raises(ModelUnavailable, match=r"quantised weights .*--quantization float16"):
        convert_ct2_to_openai(tmp_path, tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


def test_a_model_that_is_not_whisper_is_refused(tmp_path: Path) -> None:
    _tiny_model(tmp_path, "float16", whisper_like=False)

    with pytest.raises(ModelUnavailable, match="is not a Whisper model"):
        convert_ct2_to_openai(tmp_path, tmp_path / "out.pt")


def test_a_truncated_or_missing_model_bin_says_so(tmp_path: Path) -> None:
    _tiny_model(tmp_path, "float16")
    model_bin = tmp_path / "model.bin"
    model_bin.write_bytes(model_bin.read_bytes()[:-10])

    with pytest.raises(ModelUnavailable, match="ends early"):
        read_ct2_model(model_bin)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        convert_ct2_to_openai(tmp_path / "elsewhere", tmp_path / "out.pt")


def test_a_packaged_model_for_another_task_is_refused_before_any_reading(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="'minilm' is not a CTranslate2 Whisper model"):
        convert_model("minilm", tmp_path / "out.pt", tmp_path)


# --- the packaged whisper-base, converted once per session -------------------------------------


@pytest.fixture(scope="session")
def base_dir() -> Path:
    return model_path("whisper-base", Settings().model_cache_dir)


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_model(
        "whisper-base",
        tmp_path_factory.mktemp("ct2") / "base.pt",
        Settings().model_cache_dir,
    )


@pytest.mark.slow
def test_converted_encoder_matches_ctranslate2(converted: Path, base_dir: Path, shared_eval: Path) -> None:
    import ctranslate2
    import torch
    import whisper

    # Plain whisper.load_model must load the file too: it is openai-whisper's own checkpoint format.
    model = whisper.load_model(str(converted), device="cpu")
    assert model.dims.n_audio_layer == model.dims.n_text_layer == 6 and model.dims.n_vocab == 51865
    audio = whisper.load_audio(str(shared_eval / "asr" / "audio" / "librispeech_2412-153948-0000.flac"))
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), model.dims.n_mels)[None]
    with torch.no_grad():
        ours = model.embed_audio(mel)[0].numpy()
    # float32 on both sides: the only difference left is the order of floating-point operations.
    reference_model = ctranslate2.models.Whisper(str(base_dir), device="cpu", compute_type="float32")
    reference = np.array(
        reference_model.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True)
    )[0]

    cosine = (ours * reference).sum(-1) / (np.linalg.norm(ours, axis=-1) * np.linalg.norm(reference, axis=-1))
    assert ours.shape == reference.shape == (1500, 512)
    assert cosine.min() > 0.9999
    assert np.abs(ours - reference).max() < 0.01 * np.abs(reference).max()


@pytest.mark.slow
def test_openai_whisper_runtime_transcribes_with_the_converted_checkpoint(
    converted: Path, base_dir: Path, shared_eval: Path
) -> None:
    from whisper.normalizers import EnglishTextNormalizer

    from insightcap.transcript.runtimes.openai_whisper import (
        OpenAIWhisperTranscriber,
        load_checkpoint,
    )
    from insightcap.transcript.transcribe import get_transcriber

    # Greedy decoding keeps the test short; the beam-5 figures are eval/asr_bench.py's job.
    transcriber = get_transcriber(Settings(asr_model=str(converted), asr_language="en", asr_beam_size=1))
    clip = json.loads(
        next(
            line
            for line in (shared_eval / "asr" / "manifest.jsonl").read_text().splitlines()
            if "librispeech_1272-128104-0000" in line
        )
    )
    transcript = transcriber.transcribe(shared_eval / "asr" / clip["audio"])

    assert isinstance(transcriber, OpenAIWhisperTranscriber)
    normalize = EnglishTextNormalizer()
    reference = normalize(clip["reference"]).split()
    hypothesis = normalize(" ".join(segment.text for segment in transcript.segments)).split()
    assert word_errors(reference, hypothesis) / len(reference) <= 0.1
    assert all(segment.words for segment in transcript.segments)
    # The word-timing heads are the packaged model's, not openai-whisper's default half of the layers.
    heads = json.loads((base_dir / "config.json").read_text())["alignment_heads"]
    assert sorted(load_checkpoint(str(converted)).alignment_heads.indices().T.tolist()) == sorted(heads)
