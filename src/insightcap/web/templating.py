"""The Jinja2 environment of the pages (templates in web/templates/app/), with the few filters they share."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape

from insightcap.auth.schema import Principal
from insightcap.insights.schema import SECTION_LABELS
from insightcap.memo.render import format_timestamp
from insightcap.resources import resource_dir
from insightcap.search.documents import said_at, snippet
from insightcap.storage.repository import OLD_RENAME_AUTHOR, RENAMED_BY


def clock(seconds: float | None) -> str:
    """1:02:03 or 02:03, as the memo writes a moment (the CLI too), so they always agree."""
    return "" if seconds is None else format_timestamp(seconds)


def marked(text: str, query: str) -> Markup:
    """`text` with where `query` is said in it in <mark>, so a result shows why it was found. The text
    is what people said or typed: it is escaped, and the marks are the only markup."""
    pieces, shown_to = [], 0
    for start, end in said_at(text, query):
        pieces += [escape(text[shown_to:start]), Markup("<mark>"), escape(text[start:end]), Markup("</mark>")]
        shown_to = end
    pieces.append(escape(text[shown_to:]))
    return Markup("").join(pieces)


def local_time(moment: datetime) -> str:
    """A stored moment (UTC) in this computer's own time zone, to the minute: the server runs on the
    facilitators' computer, so its clock is theirs, and "10:09 UTC" would make them do the sum."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def credit(author: str) -> str:
    """Who a memo version is owed to, as pages say it: "written by sam@…", or, for a version a speaker
    rename made (whose author says so already), "speaker names updated by sam@…"."""
    if author.startswith(RENAMED_BY):
        return author
    if author == OLD_RENAME_AUTHOR:
        return "speaker names updated"
    return f"written by {author}"


def signed_in(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)


def csrf_token(request: Request) -> str:
    """The signed-in page's CSRF token, for forms and the meta tag scripts read; empty when signed out."""
    principal = signed_in(request)
    return principal.csrf_token or "" if principal else ""


# Every page template is HTML (named *.html.j2, which Jinja's default extension check would not
# escape): autoescape all of them, so transcript text, titles and names can never become markup.
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(resource_dir("web") / "templates"), autoescape=True))
templates.env.filters["clock"] = clock
templates.env.filters["credit"] = credit
templates.env.filters["local_time"] = local_time
templates.env.filters["marked"] = marked
templates.env.filters["snippet"] = snippet
templates.env.globals["section_labels"] = SECTION_LABELS
templates.env.globals["csrf_token"] = csrf_token
templates.env.globals["signed_in"] = signed_in
