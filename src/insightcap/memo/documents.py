"""The memo as something to share: rendered Markdown for the preview, a Word document, a PDF.

Markdown is rendered with raw HTML disabled, so nothing typed into a memo (or quoted from a
transcript) can inject markup or script into a page.
"""

from __future__ import annotations

import io

from docx import Document
from docx.text.paragraph import Paragraph
from markdown_it import MarkdownIt
from markdown_it.token import Token

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


class PdfUnavailable(RuntimeError):
    """WeasyPrint or the system libraries it needs are missing."""


def render_markdown(markdown: str) -> str:
    return _MARKDOWN.render(markdown)


def _add_inline(paragraph: Paragraph, inline: Token) -> None:
    bold = italic = False
    for child in inline.children or []:
        if child.type in ("strong_open", "strong_close"):
            bold = child.type == "strong_open"
        elif child.type in ("em_open", "em_close"):
            italic = child.type == "em_open"
        elif child.type in ("text", "code_inline"):
            run = paragraph.add_run(child.content)
            run.bold, run.italic = bold or None, italic or None
            if child.type == "code_inline":
                run.font.name = "Courier New"
        elif child.type == "softbreak":
            paragraph.add_run(" ")
        elif child.type == "hardbreak":
            paragraph.add_run().add_break()


def markdown_to_docx(markdown: str, title: str) -> bytes:
    """A Word document with real headings, lists and quotes (not a page of plain text)."""
    document = Document()
    document.core_properties.title = title
    lists: list[str] = []
    quote_depth = 0
    style_next: str | None = None
    tokens = _MARKDOWN.parse(markdown)
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
            _add_inline(document.add_paragraph(style=style), token)
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
