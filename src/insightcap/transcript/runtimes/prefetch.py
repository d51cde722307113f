"""Run a producer one step ahead of its consumer on a background thread.

Decoding audio, voice detection and spectrograms then overlap with Whisper's decoder: CTranslate2,
ONNX Runtime, FFmpeg and NumPy all release the GIL, so the two threads really run at the same time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of `items`, produced up to `depth` ahead; the producer's errors are raised here."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except Exception as error:
            put(_Failure(error))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="insightcap-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
