"""Login rate limiting: after a few failed sign-ins from one address or for one account, wait.

In memory, per server process: the embedded default runs one process, and a restart forgetting
failures costs an attacker a restart they cannot trigger.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginThrottle:
    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window_seconds = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and now - failures[0] > self.window_seconds:
            failures.popleft()
        return failures

    def retry_after(self, *keys: str) -> float:
        """Seconds until any of `keys` (an address, an email) may try again; 0 when allowed now."""
        now = time.monotonic()
        with self._lock:
            waits = [self.window_seconds - (now - failures[0])
                     for failures in (self._recent(key, now) for key in keys) if len(failures) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
