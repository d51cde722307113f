"""The memo as something to share: rendered Markdown for the preview, a Word document, a PDF.

Markdown is rendered with raw HTML disabled, so nothing typed into a memo (or quoted from a
transcript) can inject markup or script into a page. Its times and bare web addresses are linked as
the memo's HTML template links them, so an edited memo keeps the links of the generated one.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import RGBColor
from docx.text.paragraph import Paragraph
from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from insightcap.memo.render import CLOCK_PATTERN
from insightcap.transcript.formats.cues import parse_clock

if TYPE_CHECKING:
    from docx.document import Document as DocumentObject

# A time in the recording as the memo writes it ("[12:03]", "[1:02:03]"), or a bare web address, which
# ends before the punctuation of the sentence around it.
_LINKABLE = re.compile(
    rf"\[(?P<clock>{CLOCK_PATTERN})\]"
    r"|(?P<url>https?://[^\s<>\"]*[^\s<>\".,;:!?'\")\]”’»])"
)


def _link_times_and_urls(state: StateCore) -> None:
    """Links the times (to the session in `state.env`, when there is one) and web addresses of the text
    that is not already a link's: a link inside a link is not HTML."""
    session_id = state.env.get("session_id")
    for block in state.tokens:
        if block.type == "inline" and block.children:
            block.children = _linked(block.children, session_id)


def _linked(children: list[Token], session_id: str | None) -> list[Token]:
    linked: list[Token] = []
    link_depth = 0
    for child in children:
        link_depth += {"link_open": 1, "link_close": -1}.get(child.type, 0)
        linked.extend(_split_links(child, session_id) if child.type == "text" and not link_depth else [child])
    return linked


def _split_links(text: Token, session_id: str | None) -> list[Token]:
    """`text` as text and links, split at each time (when the session is known) and web address."""
    pieces: list[Token] = []
    done = 0
    for match in _LINKABLE.finditer(text.content):
        attrs = _link_attrs(match, session_id)
        if attrs is not None:
            pieces += [
                Token("text", "", 0, content=text.content[done : match.start()], level=text.level),
                Token("link_open", "a", 1, attrs=attrs, level=text.level),
                Token("text", "", 0, content=match[0], level=text.level + 1),
                Token("link_close", "a", -1, level=text.level),
            ]
            done = match.end()
    return [*pieces, Token("text", "", 0, content=text.content[done:], level=text.level)] if pieces else [text]


def _link_attrs(match: re.Match[str], session_id: str | None) -> dict[str, str | int | float] | None:
    """The link of a web address, or of a time: from the app's root, like the HTML template's (an
    export makes it absolute), so the time opens the session at that second."""
    if match["url"]:
        return {"href": normalizeLink(match["url"])}
    if session_id is None:
        return None
    return {"class": "t", "href": f"/sessions/{quote(session_id, safe='')}?t={int(parse_clock(match['clock']))}"}


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
# Last, after text_join: a time escaped as "\[00:12\]" is then one text like an unescaped "[00:12]".
_MARKDOWN.core.ruler.push("link_times_and_urls", _link_times_and_urls)


class PdfUnavailable(RuntimeError):
    """WeasyPrint or the system libraries it needs are missing."""


def render_markdown(markdown: str, session_id: str | None = None, *, within_page: bool = False) -> str:
    """`markdown` as HTML; given the memo's `session_id`, each time in it links to that session at that
    moment, as in the memo generated as HTML. `within_page` puts its headings one level down, under
    the page's own heading: a page has one h1, or screen-reader users lose their place."""
    env = {"session_id": session_id}
    tokens = _MARKDOWN.parse(markdown, env)
    if within_page:
        for token in tokens:
            if token.type in ("heading_open", "heading_close"):
                token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    return _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, env)


# Word's own colour for a hyperlink, so a link looks like one in any template.
_LINK_COLOUR = RGBColor(0x05, 0x63, 0xC1)


def _add_hyperlink(paragraph: Paragraph, text: str, url: str) -> None:
    """A run of `text` that opens `url`: python-docx reads hyperlinks but has no call to add one."""
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True))
    run = paragraph.add_run(text)
    run.font.underline, run.font.color.rgb = True, _LINK_COLOUR
    paragraph._p.append(link)
    link.append(run._r)  # moves the run inside the link


def _add_inline(paragraph: Paragraph, inline: Token, app_url: str) -> None:
    bold = italic = False
    href: str | None = None
    for child in inline.children or []:
        if child.type in ("strong_open", "strong_close"):
            bold = child.type == "strong_open"
        elif child.type in ("em_open", "em_close"):
            italic = child.type == "em_open"
        elif child.type in ("link_open", "link_close"):
            href = str(child.attrs["href"]) if child.type == "link_open" else None
        elif child.type == "text" and href:
            _add_hyperlink(paragraph, child.content, f"{app_url.rstrip('/')}{href}" if href.startswith("/") else href)
        elif child.type in ("text", "code_inline"):
            run = paragraph.add_run(child.content)
            run.bold, run.italic = bold or None, italic or None
            if child.type == "code_inline":
                run.font.name = "Courier New"
        elif child.type == "softbreak":
            paragraph.add_run(" ")
        elif child.type == "hardbreak":
            paragraph.add_run().add_break()


def _describe(document: DocumentObject, title: str) -> None:
    """The file's properties as Word shows them (File > Info): python-docx's blank document names
    python-docx as author and 2013 as its date, which a reader of the memo would see."""
    properties = document.core_properties
    now = datetime.now(UTC)
    properties.title, properties.author, properties.last_modified_by = title, "insightcap", "insightcap"
    properties.comments, properties.created, properties.modified = "Debrief memo drafted by insightcap", now, now


def markdown_to_docx(markdown: str, title: str, session_id: str, app_url: str) -> bytes:
    """A Word document with real headings, lists, quotes and links (not a page of plain text): each
    time opens the session at `app_url` at that moment, as in the HTML and PDF memo."""
    document = Document()
    _describe(document, title)
    lists: list[str] = []
    quote_depth = 0
    style_next: str | None = None
    tokens = _MARKDOWN.parse(markdown, {"session_id": session_id})
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            style_next = f"Heading {min(int(token.tag[1]), 4)}"
        elif token.type in ("bullet_list_open", "ordered_list_open"):
            lists.append("List Bullet" if token.type == "bullet_list_open" else "List Number")
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif token.type == "blockquote_open":
            quote_depth += 1
        elif token.type == "blockquote_close":
            quote_depth -= 1
        elif token.type == "inline" and tokens[index - 1].type in ("paragraph_open", "heading_open"):
            style = style_next or (lists[-1] if lists else "Quote" if quote_depth else None)
            _add_inline(document.add_paragraph(style=style), token, app_url)
            style_next = None
        elif token.type in ("fence", "code_block"):
            run = document.add_paragraph().add_run(token.content.rstrip("\n"))
            run.font.name = "Courier New"
        elif token.type == "hr":
            document.add_paragraph("—" * 12)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def html_to_pdf(html: str) -> bytes:
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as error:
        raise PdfUnavailable(
            "PDF export needs WeasyPrint and its system libraries: `pip install weasyprint` and "
            "`apt install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0`."
        ) from error
    # Only inline data: images; a memo must never make the exporting machine fetch a URL.
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()
