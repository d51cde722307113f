"""A speaker's new name in a memo's Markdown: everywhere the memo names them, never inside a quote."""

from __future__ import annotations

import re

# The memo writes every verbatim quote in curly quotes: a rename must not change what someone said.
_QUOTED_SPAN = re.compile(r"(“[^”]*”)")


def rename_outside_quotes(markdown: str, old: str, new: str) -> str:
    """`markdown` with the whole name `old` replaced by `new` outside curly-quoted spans."""
    # Whole names only: renaming "Speaker 1" must not touch "Speaker 12".
    whole_name = re.compile(rf"(?<!\w){re.escape(old)}(?!\w)")
    # Splitting on the one capturing group puts the quoted spans at the odd indexes.
    parts = _QUOTED_SPAN.split(markdown)
    return "".join(part if index % 2 else whole_name.sub(lambda _: new, part) for index, part in enumerate(parts))
