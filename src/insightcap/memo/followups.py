"""Follow-up questions and titles for each theme.

With a generator, the model is shown the theme's title, keywords and 3–6 evidence quotes and asked
for one open question (and a short title); a theme that came up in an earlier session of the
program is asked about together with what was said there. Every reply is checked (memo/checks.py)
and retried once with the problem spelled out. Anything still unusable falls back to the question
templates (memo/templated.py) and the structure stage's title, so a memo never depends on the
model behaving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from spacy.language import Language

from insightcap.config import Settings
from insightcap.generator.base import TextGenerator
from insightcap.generator.checked import CheckedWriter
from insightcap.insights.nlp import load_nlp
from insightcap.insights.schema import Insight, Section
from insightcap.memo import checks
from insightcap.memo.schema import MemoTheme
from insightcap.memo.templated import (
    InsightWorth,
    earlier_moment,
    earlier_values,
    shorten,
    speaker,
    template_questions,
)
from insightcap.resources import prompt_text
from insightcap.themes.embed import Embedder
from insightcap.themes.schema import ThemeQuote

MAX_EVIDENCE_QUOTES = 6
# Long quotes are cut: the prompt must stay small for a 2048-token context and a slow CPU.
MAX_QUOTE_WORDS = 30
QUESTION_TOKENS = 64
TITLE_TOKENS = 24
# The retry samples more freely: at the first temperature a small model tends to repeat itself.
QUESTION_TEMPERATURES = (0.2, 0.7)
# Titles get one attempt: the structure stage's title is a good fallback, not worth another
# generation on a slow CPU.
TITLE_TEMPERATURES = (0.2,)


@dataclass(frozen=True)
class ThemeEvidence:
    """What the generator is shown about one theme, and what its reply is checked against.

    A 0.5B model asked to "name the specific idea" in a list of quotes mostly asks something vague;
    handed one point to follow up on (the theme's most confident strategy, else idea, question...)
    it names it. The prompts start with the keywords and quotes, so the title and question prompts
    of a theme share their beginning and llama.cpp reuses it instead of reading it twice.
    """

    title: str
    keywords: list[str]
    quotes: list[Insight]
    focus: Insight | None
    # What was said about the theme in the most recent earlier session it came up in.
    earlier: ThemeQuote | None = None

    @classmethod
    def of(cls, theme: MemoTheme, keywords: Sequence[str]) -> ThemeEvidence:
        # Strategies and ideas carry the theme's substance; questions and reactions its tensions.
        # Within a kind the most confident first: ranked by the summary head's salience instead (as
        # the template questions are), the generated questions and titles of five train_extra
        # meetings were no better, and the titles of ES2009d drifted ("The Future of Marketing").
        by_kind = [
            theme.strategies,
            theme.ideas,
            theme.questions_raised,
            theme.reactions,
            theme.context_insights,
            theme.resources,
        ]
        ranked = [insight for kind in by_kind for insight in sorted(kind, key=lambda i: -i.confidence)]
        chosen = sorted(ranked[:MAX_EVIDENCE_QUOTES], key=lambda insight: insight.start)
        return cls(theme.title, list(keywords), chosen, ranked[0] if ranked else None, earlier_moment(theme))

    def quote_block(self) -> str:
        return "\n".join(f"- {speaker(q)}: “{shorten(q.quote, MAX_QUOTE_WORDS)}”" for q in self.quotes)

    @property
    def participant_questions(self) -> list[str]:
        return [q.quote for q in self.quotes if q.section == Section.QUESTION]

    @property
    def text(self) -> str:
        """Everything the reply may draw its words from."""
        focus = [self.focus.statement] if self.focus else []
        earlier = [self.earlier.session_title, self.earlier.text] if self.earlier else []
        return " ".join([self.title, *self.keywords, *focus, *(q.quote for q in self.quotes), *earlier])

    @property
    def question_prompt(self) -> str:
        return "followup_question_recurring.txt" if self.earlier else "followup_question.txt"

    def fill(self, prompt_file: str) -> str:
        focus = f"{self.focus.statement} ({speaker(self.focus)})" if self.focus else self.title
        earlier = earlier_values(self.earlier, MAX_QUOTE_WORDS) if self.earlier else {}
        return prompt_text(prompt_file).format(
            title=self.title,
            keywords=", ".join(self.keywords) or "(none)",
            quotes=self.quote_block(),
            focus=focus,
            **earlier,
        )


def prompt_instructions(prompt_file: str) -> str:
    """The prompt's own wording, with every placeholder left empty."""
    return prompt_text(prompt_file).format_map(defaultdict(str))


class FollowupWriter(CheckedWriter):
    """Asks the generator for follow-up questions and titles (and, for memo/summary.py, the summary);
    loads spaCy and the embedder once.

    A CheckedWriter: after the generator fails once it is not asked again for this memo, so an
    unreachable endpoint costs one timeout, not one per theme.
    """

    def __init__(self, generator: TextGenerator, settings: Settings) -> None:
        super().__init__(generator, clean=checks.clean_reply, fallback="drafting the rest deterministically")
        self._settings = settings
        self._nlp: Language = load_nlp(settings)

    @cached_property
    def _embedder(self) -> Embedder:
        # Loaded on the first duplicate check: importing torch is slow, and never needed when the
        # generator is unreachable or there is a single theme.
        return Embedder(self._settings)

    def question(self, evidence: ThemeEvidence, other_themes_questions: Sequence[str]) -> str | None:
        """One validated open question about the theme, or None when the generator gave none."""
        instructions = prompt_instructions(evidence.question_prompt)

        def problem_of(reply: str) -> str | None:
            problem = checks.question_problem(
                reply,
                evidence=evidence.text,
                instructions=instructions,
                nlp=self._nlp,
                asked_in_session=evidence.participant_questions,
            )
            duplicate_possible = problem is None and other_themes_questions
            if duplicate_possible and checks.is_near_duplicate(reply, other_themes_questions, self._embedder):
                return "it asks the same as the question about another theme"
            return problem

        return self.ask(
            evidence.fill(evidence.question_prompt), QUESTION_TOKENS, QUESTION_TEMPERATURES, problem_of
        )

    def title(self, evidence: ThemeEvidence) -> str | None:
        instructions = prompt_instructions("theme_title.txt")

        def problem_of(reply: str) -> str | None:
            return checks.title_problem(
                reply, evidence=evidence.text, instructions=instructions, nlp=self._nlp
            )

        title = self.ask(
            evidence.fill("theme_title.txt"), TITLE_TOKENS, TITLE_TEMPERATURES, problem_of, checks.title_parts
        )
        return title.rstrip(".") if title else None


def follow_up_questions(
    theme: MemoTheme,
    evidence: ThemeEvidence,
    writer: FollowupWriter | None,
    *,
    open_questions: Sequence[Insight],
    other_themes_questions: Sequence[str],
    worth: InsightWorth,
) -> list[str]:
    """The generated question (when valid) first, then template questions with the theme's content."""
    generated = writer.question(evidence, other_themes_questions) if writer else None
    templated = template_questions(theme, open_questions, worth, limit=1 if generated else 2)
    return [generated, *templated] if generated else templated
