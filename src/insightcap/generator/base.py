"""The text generator interface: one small method, several backends chosen by configuration."""

from __future__ import annotations

from typing import Protocol


class GeneratorError(RuntimeError):
    """The generator failed; callers fall back to their deterministic path."""


class TextGenerator(Protocol):
    name: str

    def chat(self, system: str, user: str, max_tokens: int = 96, temperature: float = 0.2) -> str:
        """One assistant reply to one user message. Raises GeneratorError on failure."""
