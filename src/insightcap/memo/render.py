"""Renders a memo draft to Markdown or HTML with the Jinja2 templates in web/templates/memo/.

A program can have its own templates: files of the same names in its folder under the data dir
(`program_template_dir`; `insightcap template PROGRAM` puts copies of the defaults there to edit).
A format the folder has no file for uses the default. Transcript text is escaped for the target
format: HTML by Jinja's autoescape, Markdown by escaping every value the template prints, so a
quote can never inject markup or break the memo's structure.

Templates see the draft as `memo` and the session's id as `session_id` (None when the caller does
not know it, as when the memo stage drafts the Markdown). Links into the web app are written from
its root ("/sessions/…"), so they work on the app's own memo page; a memo leaving the app gets them
absolute (memo/export.py, absolute_links).
"""

from __future__ import annotations

import re
import shutil
import traceback
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
)
from markupsafe import Markup

from insightcap.insights.schema import Insight
from insightcap.memo.schema import MemoDraft
from insightcap.resources import resource_dir
from insightcap.storage.files import PROGRAM_TEMPLATES

TEMPLATE_NAMES = {"md": "memo.md.j2", "html": "memo.html.j2"}
# Characters that start Markdown syntax (emphasis, code, links, HTML, tables) anywhere in a line.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")
# A time in the recording as the memo writes it between brackets: "12:03", "1:02:03".
CLOCK_PATTERN = r"(?:\d{1,3}:)?\d{1,2}:[0-5]\d"
# Such a time once escaped ("\[12:03\]"). Its brackets start a link only with a "(", "[" or ":" after
# them (or a definition of "[12:03]" elsewhere, which an escaped value cannot write), so it is shown as
# typed: the editor and the .md file read "[12:03]", and the app links it to the moment all the same.
_ESCAPED_TIME = re.compile(rf"\\\[({CLOCK_PATTERN})\\\](?![(\[:\\])")


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
    return _ESCAPED_TIME.sub(r"[\1]", _MARKDOWN_SPECIAL.sub(r"\\\1", text))


class MemoTemplateError(RuntimeError):
    """A program's own memo template cannot be rendered."""


def _environment(fmt: Literal["md", "html"], template_dirs: list[Path]) -> Environment:
    if fmt == "html":
        env = Environment(loader=FileSystemLoader(template_dirs), autoescape=True, undefined=StrictUndefined)
    else:
        env = Environment(
            loader=FileSystemLoader(template_dirs),
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


def program_template_dir(data_dir: Path, program: str) -> Path:
    """The folder of a program's own memo templates: its name in lower case, each run of characters
    other than letters, digits and "_" turned into "-" ("Demo circle" → templates/demo-circle)."""
    folder = re.sub(r"\W+", "-", program.strip().lower()).strip("-") or "program"
    return data_dir / PROGRAM_TEMPLATES / folder


def _failing_line(error: Exception, template_file: Path) -> int | None:
    """The line of `template_file` the error came from, or None when it came from elsewhere (insightcap's
    own code or default templates). Jinja puts a template's own lines in the traceback, so an error in
    a program's template ("{{ 1 / 0 }}", a filter given the wrong value) is reported as the template's,
    with its line, like a syntax error."""
    if isinstance(error, TemplateSyntaxError) and error.lineno:
        return error.lineno
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == str(template_file)]
    return frames[-1].lineno if frames else None


def _reason(error: Exception) -> str:
    message = str(error.message if isinstance(error, TemplateError) else error).rstrip(".")
    return message if isinstance(error, TemplateError) else f"{message or type(error).__name__} ({type(error).__name__})"


def render_memo(
    draft: MemoDraft, fmt: Literal["md", "html"], template_dir: Path | None = None, *, session_id: str | None = None
) -> str:
    """The memo in `fmt`, with the template of that format in `template_dir` when it has one. With the
    `session_id`, the HTML template links each time to the session page at that moment."""
    if fmt not in TEMPLATE_NAMES:
        raise ValueError(f"Unknown memo format '{fmt}': use 'md' or 'html'.")
    env = _environment(fmt, [template_dir, default_template_dir()] if template_dir else [default_template_dir()])
    try:
        text = env.get_template(TEMPLATE_NAMES[fmt]).render(memo=draft, session_id=session_id)
    except Exception as error:
        program_file = template_dir / TEMPLATE_NAMES[fmt] if template_dir else None
        line = _failing_line(error, program_file) if program_file and program_file.is_file() else None
        if line is None and not (isinstance(error, TemplateError) and program_file and program_file.is_file()):
            raise
        where = f" (line {line})" if line else ""
        raise MemoTemplateError(
            f"The memo template {program_file}{where} cannot be used: {_reason(error)}. "
            "Fix it, or delete the file to use the default template."
        ) from error
    # Optional sections leave runs of blank lines behind; one blank line is all either format needs.
    return re.sub(r"\n{3,}", "\n\n", text)


def start_program_templates(data_dir: Path, program: str) -> dict[Path, bool]:
    """Copies of the default templates in the program's folder, to edit; a file already there is
    kept. Each path maps to whether it was copied now."""
    folder = program_template_dir(data_dir, program)
    folder.mkdir(parents=True, exist_ok=True)
    copied = {}
    for name in TEMPLATE_NAMES.values():
        target = folder / name
        copied[target] = not target.exists()
        if copied[target]:
            shutil.copyfile(default_template_dir() / name, target)
    return copied


def program_memo(
    data_dir: Path, draft: MemoDraft, fmt: Literal["md", "html"], *, session_id: str | None = None
) -> str:
    """The memo rendered with its program's own template for `fmt` where there is one."""
    template_dir = program_template_dir(data_dir, draft.program) if draft.program else None
    return render_memo(draft, fmt, template_dir, session_id=session_id)
