"""Names what a file is from its first bytes, because an upload's extension says nothing reliable.

Two uses: refuse documents, archives, programs and text before FFmpeg sees them (FFmpeg happily
"opens" a subtitle file or a playlist that points elsewhere), and name the format a damaged
recording claims to be, so the user hears "this MP4 is incomplete" rather than "invalid data".
For the two formats that state where they end (WAV, Ogg), `cut_short` also reads the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class FileKind(NamedTuple):
    label: str
    is_media: bool


WAV = FileKind("WAV audio", True)
OGG = FileKind("Ogg audio", True)

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
    (0, b"BZh", FileKind("bzip2 archive", False)),
    (0, b"\xfd7zXZ\x00", FileKind("xz archive", False)),
    (0, b"\x28\xb5\x2f\xfd", FileKind("zstd archive", False)),
    (257, b"ustar", FileKind("tar archive", False)),
    (0, b"SQLite format 3\x00", FileKind("SQLite database", False)),
    (0, b"\x89PNG\r\n\x1a\n", FileKind("PNG image", False)),
    (0, b"\xff\xd8\xff", FileKind("JPEG image", False)),
    (0, b"GIF8", FileKind("GIF image", False)),
    (8, b"WEBP", FileKind("WebP image", False)),
    (8, b"WAVE", WAV),
    (0, b"fLaC", FileKind("FLAC audio", True)),
    (0, b"OggS", OGG),
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


# Placeholders that streaming WAV writers put in the data size before they know it.
_WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
# The largest possible Ogg page (27-byte header, 255 lacing values, 255 * 255 bytes of body).
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_OGG_END_OF_STREAM = 0x04


def _wav_cut_short(path: Path, size: int) -> bool:
    """The data chunk's stated size runs past the end of the file (or no data chunk is there)."""
    with path.open("rb") as handle:
        if handle.read(4) != b"RIFF":
            return False  # RF64 and big-endian RIFX state sizes elsewhere; FFmpeg judges those
        position = 12
        while True:
            handle.seek(position)
            header = handle.read(8)
            if len(header) < 8:
                return True
            chunk_size = int.from_bytes(header[4:], "little")
            if header[:4] == b"data":
                return chunk_size not in _WAV_UNKNOWN_SIZES and position + 8 + chunk_size > size
            position += 8 + chunk_size + (chunk_size & 1)


def _ogg_cut_short(path: Path, size: int) -> bool:
    """The last page is incomplete or is not marked as the end of the stream."""
    with path.open("rb") as handle:
        handle.seek(max(0, size - _OGG_MAX_PAGE))
        tail = handle.read()
    start = tail.rfind(b"OggS\x00")
    if start < 0 or len(tail) < start + 27:
        return True
    lacing_end = start + 27 + tail[start + 26]
    if len(tail) < lacing_end:
        return True
    page_end = lacing_end + sum(tail[start + 27 : lacing_end])
    return page_end > len(tail) or not tail[start + 5] & _OGG_END_OF_STREAM


def cut_short(path: Path, kind: FileKind) -> bool:
    """Whether a WAV or Ogg file ends before its own structure says it does.

    FFmpeg reports these formats' length from the bytes that are present, so a copy cut in half
    would pass as a shorter recording; their structure knows better. Other formats announce a
    length that a full decode is compared with instead (decode.read_through).
    """
    size = path.stat().st_size
    if kind == WAV:
        return _wav_cut_short(path, size)
    if kind == OGG:
        return _ogg_cut_short(path, size)
    return False
