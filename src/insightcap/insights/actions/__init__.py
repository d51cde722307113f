"""Commitments: which sentences hand out or take on work, and who will do what, by when.

One job a module, in the order a commitment goes through them:

- detect.py: the detector trained on AMI that scores every sentence;
- grammar.py: the parse has the last word both ways (a sentence that names no work is never
  listed, a speaker's dated promise always is) and says the owner and the task, never guessing;
- dates.py: the deadline said, resolved against the session's date;
- wording.py: the statement "<owner> will <task>", the task worded by the generator when there is
  one and it passes the checks;
- commitments.py: find_action_items, which runs them all over a session.

The names other modules use are importable from here.
"""

from insightcap.insights.actions.commitments import (
    DUPLICATE_STATEMENT_SIMILARITY,
    ActionContext,
    find_action_items,
)
from insightcap.insights.actions.dates import find_due, resolve_date
from insightcap.insights.actions.detect import (
    COMMITMENT,
    NOT_COMMITMENT,
    action_head_path,
    commitment_probabilities,
    load_action_head,
)
from insightcap.insights.actions.grammar import (
    GROUP,
    extract_action,
    find_owner,
    find_task,
    names_work,
    promises_by_date,
)
from insightcap.insights.actions.wording import (
    TASK_TOKENS,
    TASK_WORDS,
    TaskWriter,
    action_statement,
    task_problem,
)

__all__ = [
    "COMMITMENT",
    "DUPLICATE_STATEMENT_SIMILARITY",
    "GROUP",
    "NOT_COMMITMENT",
    "TASK_TOKENS",
    "TASK_WORDS",
    "ActionContext",
    "TaskWriter",
    "action_head_path",
    "action_statement",
    "commitment_probabilities",
    "extract_action",
    "find_action_items",
    "find_due",
    "find_owner",
    "find_task",
    "load_action_head",
    "names_work",
    "promises_by_date",
    "resolve_date",
    "task_problem",
]
