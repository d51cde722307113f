"""The embedded generator: a GGUF model run in-process by llama.cpp, so no server is needed.

The model's own chat template (stored in the GGUF) formats the messages, which keeps the prompt
files model-agnostic. Loading takes a second or two and ~0.5 GB of memory, so it happens once per
process; llama.cpp contexts are not thread-safe, so calls on one model are serialised.
"""

from __future__ import annotations

import atexit
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from insightcap.generator.base import GeneratorError

if TYPE_CHECKING:
    from llama_cpp import Llama

CONTEXT_TOKENS = 2048
# A fixed seed makes drafts reproducible: the same session gives the same memo on a re-run.
SEED = 1234


@lru_cache(maxsize=2)
def _load(model_file: Path, n_threads: int) -> tuple[Llama, threading.Lock]:
    try:
        from llama_cpp import Llama
    except ImportError as error:
        raise GeneratorError(
            "The local text generator is not installed. Install it with: "
            "pip install 'insightcap[generator]', or set INSIGHTCAP_GENERATOR=none to draft memos without it."
        ) from error
    if not model_file.is_file():
        raise GeneratorError(f"The generator model file {model_file} does not exist.")
    try:
        llama = Llama(
            model_path=str(model_file), n_ctx=CONTEXT_TOKENS, n_threads=n_threads, seed=SEED, verbose=False
        )
    except (ValueError, RuntimeError) as error:
        raise GeneratorError(
            f"llama.cpp could not load {model_file} ({error}). The file may be damaged or not a GGUF model."
        ) from error
    # Free the model while the interpreter is still whole: llama-cpp-python's own finaliser fails
    # (a TypeError printed at exit) when it runs after module teardown.
    atexit.register(llama.close)
    return llama, threading.Lock()


class LlamaCppGenerator:
    """A TextGenerator backed by a local GGUF file."""

    def __init__(self, model_file: Path, n_threads: int = 2, model_name: str = "") -> None:
        """`model_name` is the model as people call it (the manifest's `label`); by default, the file's name."""
        self.model_file = model_file
        self.name = f"llama.cpp: {model_file.parent.name}/{model_file.name}"
        self.label = f"a local text model ({model_name or model_file.stem})"
        self._llama, self._lock = _load(model_file, n_threads)

    def chat(self, system: str, user: str, max_tokens: int = 96, temperature: float = 0.2) -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        try:
            with self._lock:
                reply = self._llama.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=temperature, seed=SEED
                )
        except (ValueError, RuntimeError) as error:
            # llama.cpp raises ValueError when the prompt does not fit the context window.
            raise GeneratorError(f"The local generator failed: {error}") from error
        content = reply["choices"][0]["message"].get("content")
        if not content:
            raise GeneratorError("The local generator returned an empty reply.")
        return content.strip()
