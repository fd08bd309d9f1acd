"""Signs of life while a run goes on.

- `TimedLimiter` notes when each request starts (right after the quota lets it go);
- `Progress` logs one line every `progress_interval_seconds` from a daemon thread. It reads
  counters without taking any lock (a stale figure is harmless; a lock that a signal
  handler or a stuck sender holds would stop the line), and never shows a requests/min
  figure above the cap: a burst shorter than a minute is shown as its count and span.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import typing as t

from target_shopimind.client import RateLimiter
from target_shopimind.compat import override

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from target_shopimind.report import Report, Tally

logger = logging.getLogger("target-shopimind")

MINUTE = 60.0


class RequestStarts:
    """Start times of the last minute's requests, and how many started in all."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.first: float | None = None
        self.total = 0
        self._recent: collections.deque[float] = collections.deque()

    def add(self) -> None:
        """One request starts now (any sender thread)."""
        now = self.clock()
        if self.first is None:
            self.first = now
        self.total += 1
        self._recent.append(now)
        with contextlib.suppress(IndexError):  # another thread emptied it first
            while len(self._recent) > 1 and self._recent[0] < now - 2 * MINUTE:
                self._recent.popleft()

    def in_last_minute(self, now: float) -> int:
        """Requests started during the minute before `now`."""
        try:
            starts = list(self._recent)
        except RuntimeError:  # changed while copied: the next line will say
            return 0
        return sum(1 for s in starts if s > now - MINUTE)

    def pace(self, cap: int | None, now: float | None = None) -> str:
        """`requests N` with the pace against the cap, or the count and span of a short burst."""
        now = self.clock() if now is None else now
        against = f" (cap {cap}/min)" if cap else ""
        if self.first is None:
            return f"requests 0{against}"
        span = now - self.first
        if span < MINUTE:
            return f"requests {self.total} in {span:.0f} s{against}"
        return f"requests {self.total}, {self.in_last_minute(now)} in the last minute{against}"


class TimedLimiter(RateLimiter):
    """The quota limiter, noting when each request it lets go starts."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.starts = RequestStarts()

    @override
    def acquire(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Wait for the quota, then note the start."""
        result = super().acquire(*args, **kwargs)
        self.starts.add()
        return result


def waiting(tally: Tally) -> int:
    """Items received but not yet settled (buffered, batched or in flight)."""
    settled = (
        tally.sent
        + tally.rejected
        + tally.deleted
        + tally.deletes_ignored
        + tally.merged
        + getattr(tally, "unchanged", 0)
    )
    return max(0, tally.received - settled)


class Progress:
    """One INFO line every `interval` seconds with the run's totals so far (0: off)."""

    def __init__(
        self,
        report: Report,
        starts: RequestStarts | None,
        *,
        interval: float,
        cap: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.report = report
        self.starts = starts
        self.interval = interval
        self.cap = cap
        self.clock = clock
        self._stopped = False  # a plain flag: stopping must not need a lock
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the line's thread (once; not when the interval is 0)."""
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shopimind-progress", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """No more lines (safe from a signal handler: sets a flag, waits for nothing)."""
        self._stopped = True

    def _running(self) -> bool:
        return not self._stopped

    def _run(self) -> None:
        due = self.clock() + self.interval
        while self._running():
            time.sleep(min(0.5, max(0.0, due - self.clock())))
            if self._running() and self.clock() >= due:
                due += self.interval
                logger.info("%s", self.line())

    def line(self) -> str:
        """The totals so far, read without locks."""
        try:
            tallies = list(self.report.tallies.values())
        except RuntimeError:  # a resource appeared while copied
            tallies = []
        received = sum(x.received for x in tallies)
        sent = sum(x.sent for x in tallies)
        unchanged = sum(getattr(x, "unchanged", 0) for x in tallies)
        rejected = sum(x.rejected for x in tallies)
        pending = sum(waiting(x) for x in tallies)
        verb = "would send" if self.report.dry_run else "sent"
        requests = f"requests {sum(x.requests for x in tallies)}"
        pace = self.starts.pace(self.cap) if self.starts is not None else requests
        elapsed = self.clock() - self.report.started
        return (
            f"progress: received {received}, {verb} {sent}, unchanged {unchanged}, rejected {rejected}, "
            f"items waiting {pending}, {pace}, elapsed {_duration(elapsed)}"
        )


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.0f} s"
