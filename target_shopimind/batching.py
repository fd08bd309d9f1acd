"""One stream's buffers: items become upsert batches, deleted records become delete batches.

A buffer hands a batch to its `ship` callable as soon as it is full (by count, or for upserts
by request body size) and clears itself only once `ship` returned: a hand-over interrupted by
a failure resends, never loses. What a batch is to the rest of the run (the sync store, the
claims of other streams, delivery) is the caller's business, in `ship`.
"""

from __future__ import annotations

import typing as t

from target_shopimind.batches import DeleteBatch, UpsertBatch
from target_shopimind.resources import DELETE_BATCH, MAX_BODY_BYTES

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from target_shopimind.replay import Kept
    from target_shopimind.resources import Resource

# Room for the brackets and commas of the array around the items.
BODY_ROOM = MAX_BODY_BYTES - 1024

# An item waiting for the sync store's change lookup: (upsert key, bytes, entity, kept record).
Waiting: t.TypeAlias = tuple[str, bytes, str, "Kept | None"]


class UpsertBuffer:
    """The next upsert batch of one stream: merged by key, capped by count and body bytes.

    Items may first wait for the sync store's change lookup (`wait`), one lookup per
    batch's worth; the caller then `add`s those the store says changed.
    """

    def __init__(
        self,
        resource: Resource,
        stream: str,
        *,
        max_size: int,
        ship: Callable[[UpsertBatch], None],
        room: int = BODY_ROOM,
    ) -> None:
        self.resource = resource
        self.stream = stream
        self.max_size = max_size
        self.room = room
        self._ship = ship
        self.assembled = False  # from the end of input: full batches wait for what they refer to
        self.waiting: list[Waiting] = []
        self._clear()

    def _clear(self) -> None:
        self.items: list[bytes] = []
        self.kept: list[Kept | None] = []
        self.replayed: list[bool] = []
        self.keys: list[str] = []
        self.positions: dict[str, int] = {}  # upsert key → index in `items`
        self.entities: set[str] = set()
        self.bytes = 0

    def __len__(self) -> int:
        """Items buffered or waiting for the change lookup."""
        return len(self.waiting) + len(self.items)

    def wait(self, key: str, data: bytes, entity: str, kept: Kept | None) -> bool:
        """Hold an item for the change lookup; True once a batch's worth waits."""
        self.waiting.append((key, data, entity, kept))
        return len(self.waiting) >= self.max_size

    def take_waiting(self) -> tuple[list[Waiting], int]:
        """The waiting items, each key once, and how many older versions that merged away.

        A newer version of a key replaces the older one and keeps its own (later) place.
        """
        waiting, self.waiting = self.waiting, []
        latest: dict[str, Waiting] = {}
        for entry in waiting:
            if entry[0] in latest:
                del latest[entry[0]]
            latest[entry[0]] = entry
        return list(latest.values()), len(waiting) - len(latest)

    def waiting_entities(self) -> set[str]:
        """Entities of the items still waiting for the change lookup."""
        return {entry[2] for entry in self.waiting}

    def add(self, key: str, data: bytes, entity: str, kept: Kept | None, replayed: bool) -> bool:
        """Buffer an item; True when it replaced a buffered version of its key (which keeps its place)."""
        index = self.positions.get(key)
        if index is not None:
            self.bytes += len(data) - len(self.items[index])
            self.items[index] = data
            self.kept[index] = kept
            self.replayed[index] = replayed
            return True
        if self.bytes + len(data) > self.room:
            self.flush()
        self.positions[key] = len(self.items)
        self.items.append(data)
        self.kept.append(kept)
        self.replayed.append(replayed)
        self.keys.append(key)
        self.entities.add(entity)
        self.bytes += len(data) + 1
        if len(self.items) >= self.max_size:
            self.flush(after_references=self.assembled)
        return False

    def flush(self, *, after_references: bool = False) -> None:
        """Ship the buffered items (not those waiting for the change lookup) as one batch."""
        if not self.items:
            return
        batch = UpsertBatch(
            resource=self.resource,
            stream=self.stream,
            path=self.resource.path,
            items=self.items,
            kept=self.kept,
            replayed=self.replayed,
            keys=self.keys,
            conflicts=self.entities,
            after_references=after_references,
        )
        self._ship(batch)
        self._clear()


class DeleteBuffer:
    """The next delete batches of one stream, one per delete path, each entity once, at most `cap` ids."""

    def __init__(
        self,
        resource: Resource,
        stream: str,
        *,
        ship: Callable[[DeleteBatch], None],
        cap: int = DELETE_BATCH,
    ) -> None:
        self.resource = resource
        self.stream = stream
        self.cap = cap
        self._ship = ship
        self._paths: dict[str, tuple[list[bytes], list[str]]] = {}  # path → (ids, entities)
        self.held: set[str] = set()  # every entity buffered, whatever its path

    def __len__(self) -> int:
        """Ids buffered."""
        return sum(len(ids) for ids, _ in self._paths.values())

    def add(self, path: str, id_: bytes, entity: str) -> None:
        """Buffer the serialized id of a deleted entity (once per path); a full path is shipped."""
        ids, entities = self._paths.setdefault(path, ([], []))
        if entity in entities:
            return
        ids.append(id_)
        entities.append(entity)
        self.held.add(entity)
        if len(ids) >= self.cap:
            self._flush_path(path, after_references=False)

    def flush(self, *, after_references: bool = False) -> None:
        """Ship every path's ids."""
        for path in list(self._paths):
            self._flush_path(path, after_references=after_references)

    def _flush_path(self, path: str, *, after_references: bool) -> None:
        ids, entities = self._paths[path]
        self._ship(
            DeleteBatch(
                resource=self.resource,
                stream=self.stream,
                path=path,
                ids=ids,
                keys=entities,
                conflicts=set(entities),
                after_references=after_references,
            )
        )
        del self._paths[path]
        self.held = {entity for _, held in self._paths.values() for entity in held}
