"""The sandbox's request log: one entry per /v1 request, counters, the concurrency high-water mark."""

from __future__ import annotations

import collections
import contextlib
import sys
import threading
import typing as t

from target_shopimind.sandbox.faults import OK
from target_shopimind.sandbox.storage import key_string

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from target_shopimind.sandbox.routes import Route

LOG_LIMIT = 100_000  # entries kept (oldest dropped); the counters keep counting


def describe_write(route: Route, body: t.Any, entry: dict[str, t.Any]) -> None:
    """Item count and keys of a bulk write, so tests can check batch sizes and key overlap."""
    resource = route.resource
    if resource is None:
        return
    if route.kind == "upsert" and isinstance(body, list):
        objects = [item for item in body if isinstance(item, dict)]
        entry["items"] = len(body)
        entry["keys"] = [key_string(item, resource.key) for item in objects]
        entry["conflict_keys"] = [key_string(item, resource.conflict_fields) for item in objects]
    elif route.kind == "delete" and isinstance(body, dict) and isinstance(body.get(resource.delete_ids), list):
        ids = body[resource.delete_ids]
        parents = [route.params.get(field, "") for field in resource.delete_parents]
        entry["items"] = len(ids)
        entry["keys"] = entry["conflict_keys"] = ["|".join([*parents, str(i)]) for i in ids]


class RequestLog:
    """Finished requests (oldest first), requests per status, requests in flight."""

    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose  # one line per request on stderr
        self._lock = threading.Lock()
        self._entries: collections.deque[dict] = collections.deque(maxlen=LOG_LIMIT)
        self._total = 0
        self._by_status: collections.Counter[str] = collections.Counter()
        self._in_flight = 0
        self._max_in_flight = 0

    @property
    def entries(self) -> list[dict]:
        """Copies of the entries, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def counters(self) -> dict[str, t.Any]:
        """Requests, requests per status, the in-flight high-water mark and the current count."""
        with self._lock:
            return {
                "requests": self._total,
                "by_status": dict(self._by_status),
                "max_in_flight": self._max_in_flight,
                "in_flight": self._in_flight,
            }

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request as in flight while the block runs."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def record(self, entry: dict) -> None:
        """Log a finished request (before its answer is written, so tests see it first)."""
        with self._lock:
            self._entries.append(entry)
            self._total += 1
            self._by_status[str(entry["status"])] += 1
        if self.verbose:
            fault = f" fault={entry['fault']}" if entry.get("fault") not in {None, OK} else ""
            ms = (entry["ended"] - entry["started"]) * 1000
            sys.stderr.write(
                f"{entry['method']} {entry['path']} -> {entry['status'] or 'dropped'}"
                f" items={entry['items']}{fault} {ms:.0f}ms\n",
            )

    def clear(self) -> None:
        """Forget the entries and counters; the high-water mark restarts from what is in flight."""
        with self._lock:
            self._entries.clear()
            self._total = 0
            self._by_status.clear()
            self._max_in_flight = self._in_flight
