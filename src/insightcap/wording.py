"""Words for prose: lists as a sentence says them, and the guess a refusal offers for a typo."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence


def in_words(items: Sequence[str]) -> str:
    """ "Maria", "Maria and Sam", "Ana, Maria and Sam"; "" for none."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def did_you_mean(asked: str, known: Mapping[str, str]) -> str:
    """ " Did you mean 'X'?" for the name in `known` (compared form → name as shown) closest to
    `asked` (in the compared form), or "" when none is close: a typo is the usual cause of a
    name that is not found."""
    close = difflib.get_close_matches(asked, known, n=1, cutoff=0.6)
    return f" Did you mean '{known[close[0]]}'?" if close else ""
