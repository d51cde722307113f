"""Lists written as a sentence says them, for every place that names people or themes in prose."""

from __future__ import annotations

from collections.abc import Sequence


def in_words(items: Sequence[str]) -> str:
    """ "Maria", "Maria and Sam", "Ana, Maria and Sam"; "" for none."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
