"""Renders a memo draft to Markdown or HTML with the Jinja2 templates in web/templates/memo/.

A program can use its own templates (same file names) by passing `template_dir`. Transcript text is
escaped for the target format: HTML by Jinja's autoescape, Markdown by escaping every value the
template prints, so a quote can never inject markup or break the memo's structure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from insightcap.insights.schema import Insight
from insightcap.memo.schema import MemoDraft
from insightcap.resources import resource_dir

TEMPLATE_NAMES = {"md": "memo.md.j2", "html": "memo.html.j2"}
# Characters that start Markdown syntax (emphasis, code, links, HTML, tables) anywhere in a line.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def format_timestamp(seconds: float) -> str:
    """12:03 below an hour, 1:02:03 from an hour on."""
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def commitment_owner(insight: Insight) -> str:
    return insight.action.owner if insight.action and insight.action.owner else "Owner not named"


def commitment_due(insight: Insight) -> str:
    """ "due 2026-03-01", "due by next Friday" (as said), or "no date set": a date is never guessed."""
    action = insight.action
    if action and action.due:
        return f"due {action.due.isoformat()}"
    if action and action.due_text:
        return f"due {action.due_text}"
    return "no date set"


def escape_markdown(value: Any) -> str:
    """`value` as literal Markdown text on one line; template output marked |safe passes unchanged."""
    if isinstance(value, Markup):
        return str(value)
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _environment(fmt: Literal["md", "html"], template_dir: Path) -> Environment:
    if fmt == "html":
        env = Environment(loader=FileSystemLoader(template_dir), autoescape=True, undefined=StrictUndefined)
    else:
        env = Environment(
            loader=FileSystemLoader(template_dir),
            autoescape=False,
            finalize=escape_markdown,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
    env.filters["timestamp"] = format_timestamp
    env.filters["seconds"] = lambda value: int(max(0.0, value))
    env.filters["owner"] = commitment_owner
    env.filters["due"] = commitment_due
    return env


def default_template_dir() -> Path:
    return resource_dir("web") / "templates" / "memo"


def render_memo(draft: MemoDraft, fmt: Literal["md", "html"], template_dir: Path | None = None) -> str:
    if fmt not in TEMPLATE_NAMES:
        raise ValueError(f"Unknown memo format '{fmt}': use 'md' or 'html'.")
    env = _environment(fmt, template_dir or default_template_dir())
    text = env.get_template(TEMPLATE_NAMES[fmt]).render(memo=draft)
    # Optional sections leave runs of blank lines behind; one blank line is all either format needs.
    return re.sub(r"\n{3,}", "\n\n", text)
