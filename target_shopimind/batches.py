"""What one request carries: an upsert batch of items or a delete batch of ids.

Two types rather than a flag, so each side (delivery, the sync store's hooks) handles the
kind it is given. Low in the graph: the buffers build them, delivery sends them.
"""

from __future__ import annotations

import dataclasses
import itertools
import typing as t

if t.TYPE_CHECKING:
    from target_shopimind.replay import Kept
    from target_shopimind.resources import Resource

_sequence = itertools.count()


@dataclasses.dataclass(kw_only=True)
class Batch:
    """One request's worth of one resource; delivery orders batches by what they hold."""

    resource: Resource
    stream: str
    path: str
    keys: list[str]  # upsert key of each item (delete: the entity of each id)
    conflicts: set[str]  # entities this batch holds while pending/in flight
    after_references: bool = False  # a checkpoint flush: wait for referenced resources
    seq: int = dataclasses.field(default_factory=lambda: next(_sequence))


@dataclasses.dataclass(kw_only=True)
class UpsertBatch(Batch):
    """Serialized items for a bulk upsert, with the record each came from (for replay)."""

    items: list[bytes]
    kept: list[Kept | None]  # each item's record as the tap sent it, when rejections are kept
    replayed: list[bool]  # the item comes from a kept rejection of an earlier run


@dataclasses.dataclass(kw_only=True)
class DeleteBatch(Batch):
    """Serialized ids for a bulk delete."""

    ids: list[bytes]
