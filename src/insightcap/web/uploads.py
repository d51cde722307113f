"""Receiving an upload: the multipart body is streamed straight to a temporary file on disk, chunk
by chunk, so a 4 GB recording never sits in memory; it is refused as soon as it passes the size
limit or its first bytes show it is neither a recording nor a transcript; and whatever happens,
an upload that did not complete leaves no file behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from insightcap.audio.decode import SUPPORTED_HINT
from insightcap.audio.sniff import identify
from insightcap.storage.files import safe_filename
from insightcap.web.models import Link

TRANSCRIPT_SUFFIXES = (".vtt", ".srt", ".txt")
DEFAULT_MAX_UPLOAD_BYTES = 4 * 1024**3
_MAX_FIELD_BYTES = 4096
_SNIFF_BYTES = 4096
# Room for the multipart boundaries and the small text fields around the file.
_ENVELOPE_BYTES = 64 * 1024


class UploadRejected(ValueError):
    """The upload cannot be accepted; the message says what to do instead, and `link` where to go, if
    somewhere. `fields` are the form's text fields as far as they were read, so the form can be shown
    again as the user filled it in."""

    def __init__(self, message: str, status_code: int = 422, fields: dict[str, str] | None = None,
                 link: Link | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.fields = fields or {}
        self.link = link


@dataclass
class ReceivedUpload:
    path: Path
    filename: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)

    @property
    def is_transcript(self) -> bool:
        return Path(self.filename).suffix.lower() in TRANSCRIPT_SUFFIXES


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


def _too_large(max_bytes: int) -> UploadRejected:
    return UploadRejected(
        f"The file is larger than the {human_size(max_bytes)} limit. Upload a shorter recording, or export "
        "it with audio only (for example as .m4a or .mp3), which is much smaller.",
        413,
    )


def _check_kind(filename: str, head: bytes) -> None:
    """Refuse early what is certainly not usable, judged by content rather than by extension."""
    kind = identify(head)
    if kind is None or kind.is_media:
        return
    if kind.label == "text file" and Path(filename).suffix.lower() in TRANSCRIPT_SUFFIXES:
        return
    if kind.label == "text file":
        raise UploadRejected(
            f"{filename} is a text file. Transcripts must be .vtt, .srt or .txt (Zoom/Teams export); "
            f"recordings must be audio or video. {SUPPORTED_HINT}",
            415,
        )
    raise UploadRejected(
        f"{filename} is not audio or video (detected: {kind.label}). {SUPPORTED_HINT} "
        "Or upload a transcript (.vtt, .srt, .txt).",
        415,
    )


class _FormReceiver:
    """python-multipart callbacks: text fields are kept (small), the one file part goes to disk."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        self.fields: dict[str, str] = {}
        self.upload: ReceivedUpload | None = None
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field_name = ""
        self._field_data = bytearray()
        self._file = None
        self._head = bytearray()
        self._checked = False

    def on_part_begin(self) -> None:
        self._disposition, self._field_data, self._file = b"", bytearray(), None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._field_name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            return
        if self.upload is not None:
            raise UploadRejected("Upload one file at a time.")
        filename = options[b"filename"].decode("utf-8", "replace")
        if self._field_name != "file" or not filename:
            raise UploadRejected("Choose a recording or transcript file to upload (form field 'file').")
        # The file keeps its (sanitised) name, which intake stores and the player's MIME type uses.
        path = Path(tempfile.mkdtemp(dir=self.folder, prefix=".upload-")) / safe_filename(filename)
        self._file = path.open("wb")
        self.upload = ReceivedUpload(path=path, filename=filename, size=0)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            if len(self._field_data) + len(chunk) > _MAX_FIELD_BYTES:
                raise UploadRejected(f"The form field '{self._field_name}' is too long.")
            self._field_data += chunk
            return
        self.upload.size += len(chunk)
        if self.upload.size > self.max_bytes:
            raise _too_large(self.max_bytes)
        if not self._checked:
            self._head += chunk[: _SNIFF_BYTES - len(self._head)]
            if len(self._head) >= _SNIFF_BYTES:
                self._check_head()
        self._file.write(chunk)

    def _check_head(self) -> None:
        self._checked = True
        _check_kind(self.upload.filename, bytes(self._head))

    def on_part_end(self) -> None:
        if self._file is None:
            self.fields[self._field_name] = self._field_data.decode("utf-8", "replace").strip()
            return
        if not self._checked:
            self._check_head()
        self._file.close()
        self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def callbacks(self) -> dict:
        return {name: getattr(self, name) for name in (
            "on_part_begin", "on_part_data", "on_part_end", "on_header_field",
            "on_header_value", "on_header_end", "on_headers_finished",
        )}


async def receive_upload(
    content_type: str, content_length: str | None, body: AsyncIterator[bytes], folder: Path, max_bytes: int
) -> ReceivedUpload:
    """Stream a multipart/form-data body with one `file` part into `folder`.

    The caller owns the returned file and must `discard()` it; on any error (too large, wrong type, the
    connection dropped) the partial file is deleted here before the error propagates.
    """
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise UploadRejected("Send the file as multipart/form-data with a 'file' field.", 415)
    if content_length and content_length.isdigit() and int(content_length) > max_bytes + _ENVELOPE_BYTES:
        raise _too_large(max_bytes)
    receiver = _FormReceiver(folder, max_bytes)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks())
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
        if receiver.upload is None:
            raise UploadRejected("Choose a recording or transcript file to upload.")
        if receiver.upload.size == 0:
            raise UploadRejected(f"{receiver.upload.filename} is empty (0 bytes). Choose the complete file.")
    except BaseException as error:
        receiver.close()
        if receiver.upload is not None:
            receiver.upload.discard()
        if isinstance(error, FormParserError):
            raise UploadRejected("The upload was garbled on the way; try again.") from None
        if isinstance(error, UploadRejected) and not error.fields:
            error.fields = dict(receiver.fields)  # as far as they were read
        raise
    receiver.upload.fields = receiver.fields
    return receiver.upload
