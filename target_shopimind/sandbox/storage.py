"""What the sandbox holds per resource: items by upsert key, in first-write order."""

from __future__ import annotations

import json
import threading
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from target_shopimind.resources import Resource


def key_string(item: dict, fields: Iterable[str]) -> str:
    """A key as the target renders it (`C1|2`), so log keys and reject keys compare equal."""
    return "|".join("" if item.get(f) is None else str(item.get(f)) for f in fields)


def _store_key(resource: Resource, item: dict) -> tuple[str, ...]:
    # Strings, so 12 and "12" are one entity, as deletes compare ids.
    return tuple("" if item.get(f) is None else str(item.get(f)) for f in resource.key)


class Storage:
    """Items of every resource; an upsert replaces by key, a delete removes by id (and parent)."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[tuple[str, ...], dict]] = {r.name: {} for r in resources}

    def items(self, name: str) -> list[dict]:
        """Copies of what is stored for resource `name` (KeyError for an unknown one)."""
        with self._lock:
            if name not in self._items:
                raise KeyError(f"unknown resource {name!r} (known: {', '.join(self._items)})")
            return [json.loads(json.dumps(item)) for item in self._items[name].values()]

    def rows(self, resource: Resource | None) -> list[dict]:
        """What a list page shows (no resource, as for carts: nothing)."""
        with self._lock:
            return list(self._items[resource.name].values()) if resource else []

    def counts(self) -> dict[str, int]:
        """Items per resource."""
        with self._lock:
            return {name: len(stored) for name, stored in self._items.items()}

    def upsert(self, resource: Resource, items: Iterable[dict]) -> None:
        """Store `items`, each replacing the one with its key."""
        with self._lock:
            stored = self._items[resource.name]
            for item in items:
                stored[_store_key(resource, item)] = item

    def delete(self, resource: Resource, parents: dict[str, str], ids: Iterable[t.Any]) -> None:
        """Remove the items with these ids (under these parents); unknown ids are skipped."""
        wanted = {str(i) for i in ids}
        with self._lock:
            stored = self._items[resource.name]
            doomed = [
                key
                for key, item in stored.items()
                if str(item.get(resource.id_field)) in wanted
                and all(str(item.get(field)) == value for field, value in parents.items())
            ]
            for key in doomed:
                del stored[key]

    def clear(self) -> None:
        """Forget every item."""
        with self._lock:
            for stored in self._items.values():
                stored.clear()

    def load(self, resources: Iterable[Resource], saved: dict[str, t.Any]) -> None:
        """Restore items as `dump` wrote them (objects only)."""
        for resource in resources:
            self.upsert(resource, [item for item in saved.get(resource.name) or [] if isinstance(item, dict)])

    def dump(self) -> dict[str, list[dict]]:
        """Every item by resource name, for the state file."""
        with self._lock:
            return {name: list(stored.values()) for name, stored in self._items.items()}
