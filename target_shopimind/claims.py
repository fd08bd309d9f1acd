"""Which buffer holds an entity of a resource, across every stream routed to that resource.

Two streams may load one resource. Each buffers its own items, so an older version of a key
could wait in one stream's partial buffer while a newer version goes out in the other
stream's full batch, and then land after it. Before a buffer takes an entity that another
buffer of the same resource holds, that other buffer is handed over first; delivery then
keeps the two batches in that order (a batch never overtakes an earlier one holding the
same entity).
"""

from __future__ import annotations

import typing as t


class Holder(t.Protocol):
    """A buffer that can hand over what it holds."""

    def hand_over(self) -> None:
        """Submit everything buffered (it releases its claims)."""


class Claims:
    """resource → entity → the buffer holding it (only the reading thread uses this)."""

    def __init__(self) -> None:
        self._held: dict[str, dict[str, Holder]] = {}

    def take(self, resource: str, entity: str, holder: Holder) -> None:
        """`holder` is about to buffer `entity`: another buffer holding it goes first."""
        held = self._held.setdefault(resource, {})
        other = held.get(entity)
        if other is not None and other is not holder:
            other.hand_over()
        held[entity] = holder

    def release(self, resource: str, entities: t.Iterable[str], holder: Holder) -> None:
        """`holder` handed these entities over."""
        held = self._held.get(resource)
        if not held:
            return
        for entity in entities:
            if held.get(entity) is holder:
                del held[entity]
