"""The memo as a user reads it: the latest saved version, as Markdown or as an HTML page.

While the memo is still exactly the generated draft, HTML comes from the richer HTML template of the
draft; once a facilitator has edited it, their Markdown is the memo, rendered with raw HTML disabled
so transcript text can never inject markup, and with its times still linked to the session. Either
way the memo leaves the app as a file or an email, so its links into the web app are made absolute.
"""

from __future__ import annotations

import logging
import re
from functools import partial
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape

from insightcap.config import Settings
from insightcap.memo.documents import html_to_pdf, markdown_to_docx, render_markdown
from insightcap.memo.render import MemoTemplateError, program_memo
from insightcap.memo.schema import MemoDraft
from insightcap.resources import resource_dir
from insightcap.storage import repository as repo
from insightcap.storage.db import session_scope
from insightcap.storage.files import replacing, safe_filename

log = logging.getLogger(__name__)

# A link target from the app's root ("/sessions/…", not "//host"): in Markdown after "](" that is not
# escaped (an escaped "\](" is a quote's text), in HTML in an href.
_ROOT_LINK = {"md": re.compile(r"(?<!\\)(\]\()/(?!/)"), "html": re.compile(r'(href=")/(?!/)')}


class MemoMissing(LookupError):
    """The session has no memo yet (still processing, or it failed)."""


def markdown_to_html_page(markdown: str, title: str, session_id: str) -> str:
    body = render_markdown(markdown, session_id)
    environment = Environment(
        loader=FileSystemLoader(resource_dir("web") / "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    return environment.get_template("memo_page.html.j2").render(title=title, body=body)


def absolute_links(text: str, fmt: Literal["md", "html"], app_url: str) -> str:
    """`text` with its links into the web app made absolute: "/sessions/…" opens nothing from a file
    or an email, while "http://127.0.0.1:8000/sessions/…" opens the session in the user's app."""
    return _ROOT_LINK[fmt].sub(lambda link: f"{link[1]}{app_url.rstrip('/')}/", text)


def export_memo(settings: Settings, session_ref: str, fmt: Literal["md", "html"], *, version: int | None = None) -> str:
    """The latest memo version, or the `version` asked for (the one a download was named after: what
    the reader may read), with absolute links."""
    with session_scope(settings) as db:
        record = repo.get_session(db, session_ref)
        latest = repo.memo_version(db, record.id, version) if version is not None else repo.latest_memo(db, record.id)
        draft = repo.load_output(db, record.id, "memo", MemoDraft)
        title = record.title
    if latest is None:
        raise MemoMissing(
            f"Session {record.id} has no memo yet (status: {record.status}). "
            f"Check it with `insightcap show {record.id}`."
        )
    if fmt == "md":
        return absolute_links(latest.markdown, fmt, settings.app_url)
    return absolute_links(_memo_page(settings, record.id, draft, latest.markdown, title), fmt, settings.app_url)


def _memo_page(settings: Settings, session_id: str, draft: MemoDraft | None, markdown: str, title: str) -> str:
    """The memo `markdown` as an HTML page. Unedited, the memo is the draft: its HTML template lays it
    out better than converted Markdown, and links every time to the session at that moment."""
    try:
        if draft is not None and program_memo(settings.data_dir, draft, "md") == markdown:
            return program_memo(settings.data_dir, draft, "html", session_id=session_id)
    except MemoTemplateError as error:
        log.warning("%s Exporting the memo's Markdown as HTML instead.", error)
    return markdown_to_html_page(markdown, title, session_id)


MemoFileFormat = Literal["md", "html", "docx", "pdf"]


def memo_file_name(title: str, fmt: str, *, draft: bool = False) -> str:
    """The memo's file name, from its session's title: the web app's downloads and `insightcap memo -o
    FOLDER` name it alike. A `draft` is named so: once downloaded, a draft not approved looks like the
    memo members read unless its name says otherwise."""
    return f"{safe_filename(title)}-memo{'-draft' if draft else ''}.{fmt}"


def export_memo_file(settings: Settings, session_ref: str, fmt: MemoFileFormat, *, version: int | None = None) -> bytes:
    """The latest memo (or `version`) as the bytes of a file: Markdown, HTML, Word or PDF (rendered
    from the HTML)."""
    text = partial(export_memo, settings, session_ref, version=version)
    if fmt in ("md", "html"):
        return text(fmt).encode("utf-8")
    if fmt == "docx":
        with session_scope(settings) as db:
            record = repo.get_session(db, session_ref)
            title, session_id = record.title, record.id
        markdown = text("md")
        return markdown_to_docx(markdown, title, session_id, settings.app_url)
    return html_to_pdf(text("html"))


def write_memo_file(settings: Settings, path: Path, content: bytes) -> None:
    """Write a memo file, making the folders it needs. In the data folder it is private to its owner
    (0600) whatever the umask, like everything there; a file the user puts elsewhere is made as any
    new file there is: who may read it is theirs to decide."""
    if path.resolve().is_relative_to(settings.data_dir.resolve()):
        with replacing(path) as out:  # a temporary file made 0600, moved into place when complete
            out.write(content)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def write_session_memos(settings: Settings, session_id: str) -> list[Path]:
    """The latest memo as `exports/<session>/memo.md` and `memo.html` in the data folder."""
    written = []
    for fmt in ("md", "html"):
        path = settings.exports_dir(session_id) / f"memo.{fmt}"
        write_memo_file(settings, path, export_memo(settings, session_id, fmt).encode("utf-8"))
        written.append(path)
    return written
