"""Words for prose: lists as a sentence says them, and the guess a refusal offers for a typo."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence


def in_words(items: Sequence[str]) -> str:
    """ "Maria", "Maria and Sam", "Ana, Maria and Sam"; "" for none."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


# More names sharing the word asked than this, and the word says too little to guess from.
MOST_GUESSES = 3


def did_you_mean(asked: str, known: Mapping[str, str]) -> str:
    """ " Did you mean 'X'?" for the names in `known` (compared form → name as shown) with a word like
    `asked` (in the compared form): people give a first name ("diego" for 'Diego Ramírez') or the first
    word of a program's name. Failing that, the name closest to the whole of `asked`, as a typo is the
    usual cause of a name that is not found; "" when none is close."""
    sharing = sorted(shown for compared, shown in known.items()
                     if difflib.get_close_matches(asked, compared.split(), n=1, cutoff=0.75))
    if not sharing or len(sharing) > MOST_GUESSES:
        sharing = [known[close] for close in difflib.get_close_matches(asked, known, n=1, cutoff=0.6)]
    quoted = [f"'{name}'" for name in sharing]
    return f" Did you mean {' or '.join(quoted)}?" if quoted else ""
