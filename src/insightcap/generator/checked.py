"""Asking the generator for text that must pass a check before anything uses it.

Every stage that lets the local generator word something (a commitment's task, a theme's follow-up
question and title, the memo's summary) does the same: ask as the facilitator, clean the reply,
check it against what was said, and fall back to its deterministic wording when the check fails.
One class does this, so the rules are the same everywhere: a dead generator (server down, model
missing) is asked only once per writer, costing one timeout instead of one per commitment or
theme; a rejected reply is asked for again only when the caller gives another temperature, told
what was wrong with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from insightcap.generator.base import GeneratorError, TextGenerator
from insightcap.resources import prompt_text

log = logging.getLogger(__name__)


def _whole_reply(reply: str) -> list[str]:
    return [reply]


class CheckedWriter:
    """Asks `generator` for text and keeps only what passes the caller's check.

    `clean` takes the wrapping a chat model adds off a reply before it is checked; `fallback` says,
    in the log, what the caller does once the generator has failed. `failure` is the generator's
    error once it failed (no more requests are made); `accepted` counts the replies used.
    """

    def __init__(self, generator: TextGenerator, clean: Callable[[str], str], fallback: str) -> None:
        self.generator = generator
        self.accepted = 0
        self.failure: str | None = None
        self._clean = clean
        self._fallback = fallback
        self._system = prompt_text("facilitator_system.txt")

    def ask(
        self,
        request: str,
        max_tokens: int,
        temperatures: Sequence[float],
        problem_of: Callable[[str], str | None],
        parts_of: Callable[[str], list[str]] = _whole_reply,
    ) -> str | None:
        """The first usable text of a reply, one attempt per temperature, each retry shown the
        previous reply and its problem; None when no attempt gave one, or the generator failed.

        `problem_of` says what is wrong with a text (None: usable). `parts_of` lists the texts a
        reply offers, the whole reply first; the retry is told the whole reply's problem."""
        prompt = request
        for attempt, temperature in enumerate(temperatures, start=1):
            if self.failure:
                return None
            try:
                reply = self.generator.chat(self._system, prompt, max_tokens=max_tokens, temperature=temperature)
            except GeneratorError as error:
                log.warning("generator failed, %s: %s", self._fallback, error)
                self.failure = str(error)
                return None
            reply = self._clean(reply)
            problem = problem_of(reply)
            usable = reply if problem is None else next(
                (part for part in parts_of(reply)[1:] if problem_of(part) is None), None
            )
            if usable is not None:
                self.accepted += 1
                return usable
            log.info("generator reply rejected (attempt %d): %r: %s", attempt, reply, problem)
            if attempt < len(temperatures):
                prompt = prompt_text("retry_feedback.txt").format(request=request, previous=reply, problem=problem)
        return None
