"""Names what a file is from its first bytes, because an upload's extension says nothing reliable.

Two uses: refuse documents, archives, programs and text before FFmpeg sees them (FFmpeg happily
"opens" a subtitle file or a playlist that points elsewhere), and name the format a damaged
recording claims to be, so the user hears "this MP4 is incomplete" rather than "invalid data".
"""

from __future__ import annotations

from typing import NamedTuple


class FileKind(NamedTuple):
    label: str
    is_media: bool


# (offset, magic bytes, kind). Offsets matter: MP4's "ftyp" box type follows a 4-byte size.
_SIGNATURES: tuple[tuple[int, bytes, FileKind], ...] = (
    (0, b"%PDF", FileKind("PDF document", False)),
    (0, b"PK\x03\x04", FileKind("ZIP archive, e.g. a Word, Excel or PowerPoint file", False)),
    (0, b"PK\x05\x06", FileKind("ZIP archive", False)),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", FileKind("Microsoft Office document", False)),
    (0, b"{\\rtf", FileKind("RTF document", False)),
    (0, b"\x7fELF", FileKind("program (Linux executable)", False)),
    (0, b"MZ", FileKind("program (Windows executable)", False)),
    (0, b"\xcf\xfa\xed\xfe", FileKind("program (macOS executable)", False)),
    (0, b"\x1f\x8b", FileKind("gzip archive", False)),
    (0, b"Rar!\x1a\x07", FileKind("RAR archive", False)),
    (0, b"7z\xbc\xaf\x27\x1c", FileKind("7-Zip archive", False)),
    (0, b"SQLite format 3\x00", FileKind("SQLite database", False)),
    (0, b"\x89PNG\r\n\x1a\n", FileKind("PNG image", False)),
    (0, b"\xff\xd8\xff", FileKind("JPEG image", False)),
    (0, b"GIF8", FileKind("GIF image", False)),
    (8, b"WEBP", FileKind("WebP image", False)),
    (8, b"WAVE", FileKind("WAV audio", True)),
    (0, b"fLaC", FileKind("FLAC audio", True)),
    (0, b"OggS", FileKind("Ogg audio", True)),
    (0, b"\x1a\x45\xdf\xa3", FileKind("WebM/Matroska recording", True)),
    (4, b"ftyp", FileKind("MP4/M4A recording", True)),
    (0, b"ID3", FileKind("MP3 audio", True)),
    (0, b"#!AMR", FileKind("AMR audio", True)),
    (8, b"AIFF", FileKind("AIFF audio", True)),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", FileKind("Windows Media recording", True)),
)


def _looks_like_text(head: bytes) -> bool:
    """No NUL bytes and valid UTF-8: compressed audio is never both over a few kilobytes."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut off by the end of the sample is still text.
        return error.reason == "unexpected end of data"
    return True


def identify(head: bytes) -> FileKind | None:
    """The kind of file whose first bytes are `head`, or None when nothing here recognises it."""
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if _looks_like_text(head):
        return FileKind("text file", False)
    return None
