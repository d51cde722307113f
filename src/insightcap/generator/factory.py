"""Picks the text generator the settings ask for; None means the memo is drafted deterministically."""

from __future__ import annotations

from pathlib import Path

from insightcap.config import Settings
from insightcap.generator.base import GeneratorError, TextGenerator
from insightcap.weights import ModelUnavailable, load_manifest, model_path

CHOICES = ("auto", "llama-cpp", "openai", "none")


def gguf_file(settings: Settings) -> Path:
    """The GGUF file of settings.generator_model: the resolved path itself, or the one .gguf in its folder."""
    try:
        resolved = model_path(settings.generator_model, settings.model_cache_dir)
    except ModelUnavailable as error:
        raise GeneratorError(str(error)) from error
    if resolved.is_file():
        return resolved
    candidates = sorted(resolved.glob("*.gguf"))
    if len(candidates) != 1:
        raise GeneratorError(
            f"Expected one .gguf file in {resolved} for generator model '{settings.generator_model}', "
            f"found {len(candidates)}. Leave exactly one .gguf file there, set INSIGHTCAP_GENERATOR_MODEL to a "
            "folder holding one, or set INSIGHTCAP_GENERATOR=none to draft memos without a text generator."
        )
    return candidates[0]


def _llama_cpp(settings: Settings) -> TextGenerator:
    from insightcap.generator.llama_cpp import LlamaCppGenerator

    spec = load_manifest().get(settings.generator_model)
    return LlamaCppGenerator(gguf_file(settings), n_threads=settings.cpu_threads, model_name=spec.label if spec else "")


def get_generator(settings: Settings) -> TextGenerator | None:
    choice = settings.generator.strip().lower()
    if choice == "none":
        return None
    if choice == "openai":
        from insightcap.generator.openai_compat import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(
            settings.generator_url, settings.generator_api_model, api_key=settings.generator_api_key
        )
    if choice == "llama-cpp":
        return _llama_cpp(settings)
    if choice == "auto":
        # "auto" must never stop a memo: without the optional local model, draft deterministically.
        try:
            return _llama_cpp(settings)
        except GeneratorError:
            return None
    raise GeneratorError(
        f"Unknown generator '{settings.generator}' (INSIGHTCAP_GENERATOR): "
        f"choose one of {', '.join(CHOICES)}."
    )
