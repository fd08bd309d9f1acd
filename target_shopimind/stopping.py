"""A stop request (SIGTERM/SIGINT) that every wait of the process can see.

A signal handler runs in the main thread between two bytecodes, possibly while that thread
holds a lock (the report's, a condition's, an `Event`'s). So `request` only assigns plain
attributes: it takes no lock, logs nothing and starts no thread. The waits poll it in short
steps instead of being woken, and the reading loop acts on it at a safe point.
"""

from __future__ import annotations

import math
import time
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable

# After a stop signal, batches already handed over get this long to settle; then every wait ends.
STOP_GRACE_SECONDS = 10.0
_STEP = 0.05


class Interrupted(Exception):
    """Raised in the reading thread at a safe point once a stop signal came."""


class Stop:
    """Set by a signal handler; polled by sleeps and waits (no locks, see the module docstring)."""

    def __init__(self, grace: float = STOP_GRACE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace = grace
        self._clock = clock
        self.signum: int | None = None
        self._abort_at = math.inf

    def request(self, signum: int) -> None:
        """A stop signal came (signal-handler safe); a second one ends every wait at once."""
        if self.signum is None:
            self.signum = signum
            self._abort_at = self._clock() + self.grace
        else:
            self._abort_at = -math.inf

    @property
    def requested(self) -> bool:
        """A stop signal came: no new retry, no new input."""
        return self.signum is not None

    @property
    def aborted(self) -> bool:
        """The grace after the signal is over: nothing is waited for any more."""
        return self._clock() >= self._abort_at

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False when a stop request cut it short."""
        return self._sleep(seconds, lambda: self.requested)

    def sleep_unless_aborted(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False when the grace after a stop request ran out."""
        return self._sleep(seconds, lambda: self.aborted)

    def _sleep(self, seconds: float, cut: Callable[[], bool]) -> bool:
        end = self._clock() + max(0.0, seconds)
        while not cut():
            left = end - self._clock()
            if left <= 0:
                return True
            time.sleep(min(left, _STEP))
        return False
