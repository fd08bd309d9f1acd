"""Change detection: an item whose bytes ShopiMind already accepted is not sent again.

The reading side asks `to_send` for a chunk of (key, bytes) at a time (one SELECT per
chunk); the delivery side calls `accepted` once per answered request. Works for any
resource name, including `custom:<definition>`.
"""

from __future__ import annotations

import collections
import threading
import typing as t

from target_shopimind.store import item_hash

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from target_shopimind.store import SyncStore

_DAY = 86_400.0


class ChangeDetector:
    """Compares items with the store's hashes; remembers what ShopiMind accepts."""

    def __init__(
        self,
        store: SyncStore,
        *,
        enabled: bool = True,
        full_resync: bool = False,
        resend_after_days: float = 7.0,
    ) -> None:
        self.store = store
        # `change_detection: false` neither reads nor writes; `full_resync` only stops the reads.
        self.reads = enabled and not full_resync and resend_after_days > 0
        self.writes = enabled and not store.read_only
        self.resend_after = float(resend_after_days) * _DAY
        self._lock = threading.Lock()
        # Keys submitted but not settled yet: a later version equal to the stored hash
        # must still go, or the earlier (different) version in flight would win.
        self._in_flight: collections.Counter[tuple[str, str]] = collections.Counter()

    def to_send(self, resource: str, items: Sequence[tuple[str, bytes]]) -> list[bool]:
        """For each (key, bytes): True when it must be sent (new, changed, stale or in flight)."""
        if not self.reads or not items:
            return [True] * len(items)
        known = self.store.accepted(resource, list(dict.fromkeys(key for key, _ in items)))
        horizon = self.store.clock() - self.resend_after
        with self._lock:
            busy = {key for key, _ in items if (resource, key) in self._in_flight}
        send = []
        for key, data in items:
            hit = known.get(key)
            send.append(hit is None or hit[1] <= horizon or key in busy or hit[0] != item_hash(data))
        return send

    def submitted(self, resource: str, keys: Sequence[str]) -> None:
        """Items handed to delivery (reading thread)."""
        if self.reads:
            with self._lock:
                self._in_flight.update((resource, key) for key in keys)

    def settled(self, resource: str, keys: Sequence[str]) -> None:
        """Items accepted or rejected (delivery thread)."""
        if self.reads:
            with self._lock:
                counts = self._in_flight
                for key in keys:
                    left = counts.get((resource, key), 0) - 1
                    if left > 0:
                        counts[resource, key] = left
                    else:
                        counts.pop((resource, key), None)

    def accepted(self, resource: str, items: Sequence[tuple[str, bytes]]) -> None:
        """ShopiMind answered 200 without listing these (key, bytes): one transaction."""
        if self.writes and items:
            self.store.record_accepted(resource, [(key, item_hash(data)) for key, data in items])

    def deleted(self, resource: str, entities: Sequence[str]) -> None:
        """A bulk delete succeeded: the next upsert of these goes whatever its bytes."""
        if self.writes and entities:
            self.store.forget(resource, entities)
