"""The text generator interface: one small method, several backends chosen by configuration."""

from __future__ import annotations

from typing import Protocol


class GeneratorError(RuntimeError):
    """The generator failed; callers fall back to their deterministic path."""


class TextGenerator(Protocol):
    name: str  # the runtime and model, for logs and for whoever configures insightcap
    label: str  # the model as a memo's reader is told of it: "a local text model (Qwen2.5-Coder 0.5B)"

    def chat(self, system: str, user: str, max_tokens: int = 96, temperature: float = 0.2) -> str:
        """One assistant reply to one user message. Raises GeneratorError on failure."""
