"""Tracebacks of unexpected failures go to a file under the data folder's logs/, never to the user."""

from __future__ import annotations

import logging
from pathlib import Path


def log_traceback(logger: logging.Logger, path: Path, message: str, *args: object) -> Path:
    """Log the exception being handled, with its traceback, to `path` (as well as wherever `logger`
    already logs); returns `path`. Call it from an `except` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    logger.addHandler(handler)
    try:
        logger.exception(message, *args)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return path
