"""Follow-up questions without a generator: question templates (prompts/followup_templates.toml)
filled with what a theme actually contains, so every question names the theme's own content."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from functools import lru_cache

from pydantic import BaseModel

from insightcap.insights.schema import Insight
from insightcap.memo.schema import MemoTheme
from insightcap.resources import prompt_text
from insightcap.themes.schema import ThemeQuote

UNNAMED_SPEAKER = "A participant"
# Inserted statements and quotes are cut to this many words so a question stays readable.
MAX_INSERTED_WORDS = 18

# How much an insight matters to its session, to build a question on the best first
# (memo/summary.py, SummaryCandidates.worth).
InsightWorth = Callable[[Insight], tuple[float, float]]


class QuestionTemplate(BaseModel):
    needs: str
    text: str


class QuestionTemplates(BaseModel):
    theme: list[QuestionTemplate]
    next_session: list[QuestionTemplate]


@lru_cache(maxsize=1)
def load_templates() -> QuestionTemplates:
    return QuestionTemplates.model_validate(tomllib.loads(prompt_text("followup_templates.toml")))


def shorten(text: str, max_words: int = MAX_INSERTED_WORDS) -> str:
    """`text` without its closing punctuation, cut at a word boundary with an ellipsis if long."""
    words = text.strip().rstrip(".!?,;:").split()
    if len(words) <= max_words:
        return " ".join(words)
    return " ".join(words[:max_words]).rstrip(",;:") + "…"


def key_phrase(title: str) -> str:
    """The theme title as it reads mid-sentence: "Budget and Materials: Costs" → "budget and materials".

    Capitalised words are lower-cased (in a Title Case title all of them, else only the first);
    words with capitals inside (LEDs, TV, iPad) are names and stay as they are.
    """
    words = title.partition(":")[0].split()
    title_case = sum(w[:1].isupper() for w in words if len(w) > 3) > 1

    def lowered(word: str, position: int) -> str:
        plain_capital = word[:1].isupper() and (word[1:].islower() or len(word) == 1)
        return word.lower() if plain_capital and (position == 0 or title_case) else word

    return " ".join(lowered(word, position) for position, word in enumerate(words))


def speaker(said: Insight | ThemeQuote) -> str:
    return said.speaker or UNNAMED_SPEAKER


def spoken_date(day: date) -> str:
    """12 March 2024: how a facilitator names a session, without the ambiguity of 12/03."""
    return f"{day.day} {day:%B %Y}"


def earlier_moment(theme: MemoTheme) -> ThemeQuote | None:
    """What was said in the most recent earlier session the theme came up in, when it recurs."""
    return next((link.earlier for link in theme.recurring if link.earlier), None)


def earlier_values(moment: ThemeQuote, max_words: int = MAX_INSERTED_WORDS) -> dict[str, str]:
    """Placeholder values for the earlier session's moment: {earlier_title}, {earlier_date},
    {earlier_speaker} and {earlier_quote}."""
    return {
        "earlier_title": moment.session_title,
        "earlier_date": spoken_date(moment.session_date),
        "earlier_speaker": speaker(moment),
        "earlier_quote": shorten(moment.text, max_words),
    }


def _two_reactions(reactions: Sequence[Insight]) -> tuple[Insight, Insight] | None:
    for index, first in enumerate(reactions):
        for second in reactions[index + 1 :]:
            if first.speaker and second.speaker and first.speaker != second.speaker:
                return first, second
    return None


def _theme_fillings(
    theme: MemoTheme, open_questions: Sequence[Insight], worth: InsightWorth
) -> Iterator[tuple[str, dict[str, str]]]:
    """(need, placeholder values) for every kind of content the theme has, most specific first, and
    within a kind what matters most to the session first: in conversation order, "You guys ready to
    celebrate?" was asked again because it was the theme's first open question.

    A recurring theme starts from what was said about it before: picking up an earlier session's
    thread is what a facilitator cannot do from this session's recording alone.
    """

    def best_first(insights: Iterable[Insight]) -> list[Insight]:
        return sorted(insights, key=worth, reverse=True)

    phrase = {"key_phrase": key_phrase(theme.title)}
    moment = earlier_moment(theme)
    if moment:
        yield "earlier_session", phrase | earlier_values(moment)
    for question in best_first(q for q in theme.questions_raised if q in open_questions):
        yield "question", phrase | {"asker": speaker(question), "question": shorten(question.statement) + "?"}
    for strategy in best_first(theme.strategies):
        yield "strategy", phrase | {"strategy": shorten(strategy.statement)}
    pair = _two_reactions(best_first(theme.reactions))
    if pair:
        first, second = pair
        yield (
            "two_reactions",
            phrase
            | {
                "speaker_a": speaker(first),
                "quote_a": shorten(first.quote),
                "speaker_b": speaker(second),
                "quote_b": shorten(second.quote),
            },
        )
    for idea in best_first(theme.ideas):
        yield "idea", phrase | {"idea": shorten(idea.statement)}
    for resource in theme.resources:
        yield "resource", phrase | {"resource": resource.resource_name or shorten(resource.statement)}
    yield "key_phrase", phrase


def template_questions(
    theme: MemoTheme, open_questions: Sequence[Insight], worth: InsightWorth, limit: int = 2
) -> list[str]:
    """Up to `limit` questions, each from a different template and built from different content.
    Only questions still open are asked again: an answered one would make a hollow follow-up."""
    questions: list[str] = []
    used: set[str] = set()
    for need, values in _theme_fillings(theme, open_questions, worth):
        for template in load_templates().theme:
            if template.text in used or template.needs != need:
                continue
            questions.append(template.text.format(**values))
            used.add(template.text)
            break
        if len(questions) == limit:
            break
    return questions


def next_session_questions(
    themes: Sequence[MemoTheme],
    commitments: Sequence[Insight],
    open_questions: Sequence[Insight],
    count: int = 3,
) -> list[str]:
    """Questions to open the next session: check on commitments, return to open questions, revisit themes."""
    by_need = {template.needs: template.text for template in load_templates().next_session}
    asked_again = [shorten(q.statement) + "?" for q in open_questions]
    theme_follow_ups = [question for theme in themes for question in theme.follow_up_questions]
    kinds = [
        [
            by_need["commitment"].format(owner=item.action.owner, task=shorten(item.action.task))
            for item in commitments
            if item.action and item.action.owner
        ],
        # An open question a theme's follow-up already asks again is not asked a third time.
        [
            by_need["open_question"].format(asker=speaker(q), question=question)
            for q, question in zip(open_questions, asked_again, strict=True)
            if not any(f"“{question}”" in follow_up for follow_up in theme_follow_ups)
        ],
        [by_need["key_phrase"].format(key_phrase=key_phrase(theme.title)) for theme in themes],
        # A theme's follow-up that quotes an open question would ask it twice.
        [
            question
            for question in theme_follow_ups
            if not any(f"“{open_question}”" in question for open_question in asked_again)
        ],
    ]
    # One of each kind first, then the rest in the same order, so a long list of commitments does
    # not crowd out the open questions; the themes' follow-ups fill in when a session had one theme.
    ordered = [kind[i] for i in range(max(map(len, kinds), default=0)) for kind in kinds if i < len(kind)]
    return list(dict.fromkeys(ordered))[:count]
