"""Writing a commitment: a short third-person statement, "<owner> will <task>".

The task comes from the local generator when there is one, checked against the words said (a task
using a content word nobody said is rejected), and otherwise from the parse (grammar.py's
find_task). Kept apart from the grammar because it is what changes when the memo's wording does,
and the only part that needs a generator.
"""

from __future__ import annotations

import re

from spacy.language import Language

from insightcap.generator.base import TextGenerator
from insightcap.generator.checked import CheckedWriter
from insightcap.insights.nlp import CONTENT_POS
from insightcap.insights.schema import ActionItem
from insightcap.resources import prompt_text

TASK_WORDS = (2, 14)
TASK_TOKENS = 40


def action_statement(action: ActionItem) -> str:
    """ "Maria will send the template by next Tuesday." — or the task alone when no owner was said."""
    due = f" {action.due_text}" if action.due_text and action.due_text not in action.task else ""
    if action.owner:
        text = f"{action.owner} will {action.task}{due}"
    else:
        text = f"{action.task}{due}"
    return text[:1].upper() + text[1:].rstrip(" .,;") + "."


# --- the generator's wording, checked ----------------------------------------------------------


def _content_lemmas(nlp: Language, text: str) -> set[str]:
    # Lower-cased first: a Title Case reply would otherwise be tagged as proper nouns, unlemmatised.
    return {token.lemma_ for token in nlp(text.lower()) if token.pos_ in CONTENT_POS and not token.is_stop}


def task_problem(task: str, evidence: str, nlp: Language) -> str | None:
    """What is wrong with a generated task, in words, or None when it is usable: a verb phrase of
    TASK_WORDS words in the base form, every content word of it said in the evidence."""
    words = task.split()
    if not TASK_WORDS[0] <= len(words) <= TASK_WORDS[1]:
        return f"it has {len(words)} words, not {TASK_WORDS[0]} to {TASK_WORDS[1]}"
    if re.search(r"[.!?;:]\s+\S", task):
        return "it is more than one phrase"
    parsed = nlp(f"They will {task}")
    if parsed[2].tag_ != "VB":
        return "it does not start with a verb in the base form"
    invented = _content_lemmas(nlp, task) - _content_lemmas(nlp, evidence)
    if invented:
        return f"it uses words nobody said: {', '.join(sorted(invented))}"
    return None


def _clean_task(reply: str) -> str:
    """The reply as a bare verb phrase: one line, without quotes, markup or a final full stop."""
    return " ".join(reply.split()).strip(" \"'“”*`").rstrip(".")


class TaskWriter(CheckedWriter):
    """Asks the generator for each commitment's task as a short verb phrase, once (at temperature
    0): the parse's draft is a good fallback, not worth a second generation.

    A CheckedWriter: after the generator fails once (server down, model missing) it is not asked
    again, so an unreachable endpoint costs one timeout per session, not one per commitment.
    """

    def __init__(self, generator: TextGenerator, nlp: Language) -> None:
        super().__init__(generator, clean=_clean_task, fallback="writing the remaining tasks from the parse")
        self._nlp = nlp

    def task(self, quote: str, said_before: str, action: ActionItem) -> str | None:
        """A cleaner wording of `action.task` (the parse's draft), or None when the generator gave
        none that passes task_problem."""
        said = f"{said_before} {quote}".strip()
        request = prompt_text("action_task.txt").format(said=said, owner=action.owner or "someone", draft=action.task)
        task = self.ask(request, TASK_TOKENS, (0.0,), lambda reply: task_problem(reply, said, self._nlp))
        # It starts with a verb (task_problem checked), which the reply may have capitalised.
        return task[:1].lower() + task[1:] if task else None
