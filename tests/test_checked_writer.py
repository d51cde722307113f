"""The generator's text checked before use (generator/checked.py), and picking distinct sentences
(insights/selection.py): the rules the structure stage and the memo share."""

from __future__ import annotations

import numpy as np

from insightcap.generator.base import GeneratorError
from insightcap.generator.checked import CheckedWriter
from insightcap.insights.selection import distinct


class _Scripted:
    """A stand-in backend that gives its replies in turn (raising the exceptions among them) and
    records what it was asked."""

    name = "scripted"

    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.prompts: list[tuple[str, float]] = []

    def chat(self, system, user, max_tokens=96, temperature=0.2):
        self.prompts.append((user, temperature))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def _problem(text: str) -> str | None:
    return None if text.startswith("good") else "it is not good"


def test_a_dead_generator_is_asked_once():
    generator = _Scripted(GeneratorError("server down"))
    writer = CheckedWriter(generator, clean=str.strip, fallback="using the template")
    assert writer.ask("first", 10, (0.2, 0.7), _problem) is None
    assert writer.ask("second", 10, (0.2,), _problem) is None
    assert len(generator.prompts) == 1
    assert writer.failure == "server down"
    assert writer.accepted == 0


def test_a_rejected_reply_is_retried_with_its_problem_while_temperatures_last():
    generator = _Scripted("  bad  ", "good at last", "bad again")
    writer = CheckedWriter(generator, clean=str.strip, fallback="using the template")
    assert writer.ask("the request", 10, (0.2, 0.7), _problem) == "good at last"
    (first, cold), (retry, warm) = generator.prompts
    assert (first, cold, warm) == ("the request", 0.2, 0.7)
    assert "the request" in retry and "bad" in retry and "it is not good" in retry
    assert writer.ask("another", 10, (0.2,), _problem) is None
    assert len(generator.prompts) == 3
    assert writer.accepted == 1


def test_a_usable_part_of_a_reply_is_taken():
    writer = CheckedWriter(_Scripted("bad | good part"), clean=str.strip, fallback="using the template")
    reply = writer.ask("request", 10, (0.2,), _problem, lambda text: [text, *text.split(" | ")])
    assert reply == "good part"


def test_distinct_keeps_the_first_of_near_duplicates_and_caps_each_group():
    vectors = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.6, 0.8], [0.8, -0.6]])
    assert distinct(vectors, [0, 1, 2, 3, 4], 0.9) == [0, 2, 3, 4]
    assert distinct(vectors, [1, 0, 2], 0.9) == [1, 2]
    # 1 is left out by its group's cap (2 is in its group), so 0, close to 1 but in another group,
    # stays.
    assert distinct(vectors, [2, 1, 0], 0.9, group_of=lambda index: index == 0, per_group=1) == [2, 0]
