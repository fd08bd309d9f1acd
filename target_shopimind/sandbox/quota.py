"""ShopiMind's per-key quota: at most `limit` requests in any sliding window of `window_seconds`."""

from __future__ import annotations

import collections
import math
import threading
import time


class Quota:
    """Counts each key's requests at arrival; a full window answers how long to wait."""

    def __init__(self, limit: int = 600, window_seconds: float = 60.0) -> None:
        self.limit = limit  # 0 or less: unlimited
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        self._windows: dict[str, collections.deque[float]] = {}

    def admit(self, api_key: str) -> int | None:
        """Count a request in the key's window; seconds to wait (at least 1) when the window is full."""
        if self.limit <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(api_key, collections.deque())
            while window and window[0] <= now - self.window_seconds:
                window.popleft()
            if len(window) >= self.limit:
                return max(1, math.ceil(window[0] + self.window_seconds - now))
            window.append(now)
        return None

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._windows.clear()
