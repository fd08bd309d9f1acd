"""The sync store's part in a run: settings, change detection, kept rejections, delivery hooks.

Sinks ask `detector` which items to send and report rejections to `keep_rejected`;
the delivery side settles each batch through the hooks below, which write everything
one answered batch taught in one transaction.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import typing as t

from target_shopimind.batches import UpsertBatch
from target_shopimind.changes import ChangeDetector
from target_shopimind.replay import RejectionKeeper
from target_shopimind.store import SyncStore, item_hash, store_file

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from target_shopimind.batches import Batch, DeleteBatch
    from target_shopimind.replay import Kept
    from target_shopimind.settings import Settings


@dataclasses.dataclass
class _Settling:
    """What one upsert batch's answers taught, written when the batch is settled."""

    accepted: list[int] = dataclasses.field(default_factory=list)
    rejected: list[tuple[int, list[str]]] = dataclasses.field(default_factory=list)


class Sync:
    """Change detection and kept rejections over one open `SyncStore`."""

    def __init__(self, store: SyncStore, detector: ChangeDetector, keeper: RejectionKeeper) -> None:
        self.store = store
        self.detector = detector
        self.keeper = keeper
        self.current: Kept | None = None  # the record being processed, as the tap sent it
        self._lock = threading.Lock()
        self._batches: dict[int, _Settling] = {}
        self.on_still_rejected: Callable[[str], None] | None = None  # resource → tally
        self._closed = False

    @classmethod
    def open(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> Sync:
        """The store of the settings' base_url + api_key, read-only under `dry_run`."""
        path = store_file(settings.store_path, settings.base_url, settings.api_key)
        store = SyncStore.open(
            path,
            read_only=settings.dry_run,
            lock_timeout=settings.store_lock_timeout_seconds,
            clock=clock,
        )
        detector = ChangeDetector(
            store,
            enabled=settings.change_detection,
            full_resync=settings.full_resync,
            resend_after_days=settings.resend_after_days,
        )
        keeper = RejectionKeeper(store, enabled=settings.replay_rejected)
        return cls(store, detector, keeper)

    @property
    def store_id(self) -> str:
        """Goes into every STATE."""
        return self.store.store_id

    @property
    def replaying(self) -> bool:
        """A kept record is going through the sinks again."""
        return self.keeper.replaying is not None

    # --- the reading thread ------------------------------------------------------------

    def keep_rejected(self, *, resource: str | None, item_key: str | None, stage: str, errors: list[str]) -> None:
        """The current record was rejected before sending."""
        if self.current is not None:
            self.keeper.keep(self.current, resource=resource, item_key=item_key, stage=stage, errors=errors)

    def hold(self, batch: Batch) -> None:
        """A batch is about to be submitted: an upsert's answers are gathered until it is settled."""
        if self.keeper.writes:
            self.keeper.flush()  # arrivals first: an answer's rejection must not be superseded by them
        self.detector.submitted(batch.resource.name, batch.keys)
        if isinstance(batch, UpsertBatch):
            with self._lock:
                self._batches[batch.seq] = _Settling()

    # --- delivery hooks ----------------------------------------------------------------------

    def accepted(self, batch: UpsertBatch, positions: Sequence[int]) -> None:
        """ShopiMind answered 200 for these positions and listed none of them."""
        with self._lock:
            settling = self._batches.get(batch.seq)
        if settling is not None:
            settling.accepted.extend(positions)

    def rejected(self, batch: UpsertBatch, position: int, errors: list[str]) -> None:
        """ShopiMind refused the item at `position`."""
        with self._lock:
            settling = self._batches.get(batch.seq)
        if settling is None:
            return
        settling.rejected.append((position, errors))
        if batch.replayed[position] and self.on_still_rejected is not None:
            self.on_still_rejected(batch.resource.name)

    def deleted(self, batch: DeleteBatch) -> None:
        """A bulk delete succeeded: forget the deleted entities."""
        self.detector.deleted(batch.resource.name, batch.keys)

    def settled(self, batch: Batch) -> None:
        """Every item of `batch` is accepted or rejected: one transaction for what it taught."""
        with self._lock:
            settling = self._batches.pop(batch.seq, None)
        self.detector.settled(batch.resource.name, batch.keys)
        if settling is None or self.store.read_only or not isinstance(batch, UpsertBatch):
            return
        resource = batch.resource.name
        hashes = [(batch.keys[i], item_hash(batch.items[i])) for i in settling.accepted] if self.detector.writes else []
        kept = [(i, e) for i, e in settling.rejected if batch.kept[i] is not None] if self.keeper.writes else []
        leaving = [batch.keys[i] for i in settling.accepted if batch.replayed[i]]
        if not hashes and not kept and not leaving:
            return
        with self.store.write() as db:
            self.store.record_hashes(db, resource, hashes)
            for position, errors in kept:
                entry = batch.kept[position]
                assert entry is not None
                self.keeper.keep_in(db, entry, resource=resource, item_key=batch.keys[position], errors=errors)
            self.keeper.accepted_in(db, resource, leaving)

    def close(self) -> None:
        """Write what is queued, close the file (once)."""
        if self._closed:
            return
        self._closed = True
        if self.keeper.writes:
            self.keeper.flush()
        self.store.close()
