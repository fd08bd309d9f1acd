"""Rejected records kept in the sync store, so "fix the mapping and run again" finds them.

A tap moves its bookmark past rejected rows. Each rejected record is kept as the tap sent
it (before stream maps) with its stream, key properties and reasons. A later run that
brings the stream again replays the kept records at the end of input, except those whose
key arrived again (the newer version went instead). An accepted replay leaves the store;
a refused one stays.

The reading thread queues its changes and writes them in one transaction per flush (a
sink's batch, a checkpoint, the end of input); the delivery side writes inside the
transaction of the answer it settles.
"""

from __future__ import annotations

import hashlib
import json
import threading
import typing as t

from singer_sdk.singerlib.json import deserialize_json, serialize_json

if t.TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator, Sequence

    from target_shopimind.store import SyncStore

_FLUSH_AT = 500  # queued changes written together
_PAGE = 200  # kept records read per query during a replay


class Kept(t.NamedTuple):
    """One rejected record, as the tap sent it."""

    stream: str
    key_properties: tuple[str, ...]
    record: dict


def identity(record: dict, key_properties: Sequence[str]) -> str:
    """The record's key as the tap sees it (key properties joined by `|`), else its content."""
    if key_properties and all(k in record for k in key_properties):
        return "|".join("" if record[k] is None else str(record[k]) for k in key_properties)
    return "#" + hashlib.sha256(serialize_json(record, sort_keys=True).encode()).hexdigest()


class RejectionKeeper:
    """Keeps rejected records, notices their keys arriving again, and replays the rest."""

    def __init__(self, store: SyncStore, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        self.writes = enabled and not store.read_only
        self._lock = threading.Lock()
        self._queue: list[tuple[str, tuple[t.Any, ...]]] = []
        self._arrived_dry: set[tuple[str, str]] = set()  # dry run: nothing is deleted, keys are remembered
        self.streams: set[str] = set()  # streams that have kept records
        if enabled:
            with store.read() as db:
                self.streams = {row[0] for row in db.execute("SELECT DISTINCT stream FROM rejected")}
        self.replay_started = False
        self.replaying: int | None = None  # id of the kept record being replayed
        self.replay_pending = False  # it went to a sink's batch: acceptance will settle it

    # --- the reading thread ----------------------------------------------------------------

    def arrived(self, kept: Kept) -> None:
        """A record came from the tap: it supersedes a kept rejection of its key."""
        if kept.stream not in self.streams:
            return
        key = identity(kept.record, kept.key_properties)
        if self.writes:
            self._enqueue("arrive", (kept.stream, key))
        else:
            self._arrived_dry.add((kept.stream, key))

    def keep(self, kept: Kept, *, resource: str | None, item_key: str | None, stage: str, errors: list[str]) -> None:
        """A record of the reading thread was rejected: keep it (queued)."""
        if not self.enabled:
            return
        if self.replaying is not None:
            self.replay_pending = True  # settled: it stays
        if self.writes:
            self._enqueue("keep", self._row(kept, resource, item_key, stage, errors))
            with self._lock:
                self.streams.add(kept.stream)

    def flush(self) -> None:
        """Write the queued changes in one transaction."""
        with self._lock:
            queue, self._queue = self._queue, []
        if not queue:
            return
        with self.store.write() as db:
            for op, args in queue:
                if op == "arrive":
                    db.execute("DELETE FROM rejected WHERE stream = ? AND key = ?", args)
                elif op == "keep":
                    self._upsert(db, [args])
                else:
                    db.execute("DELETE FROM rejected WHERE id = ?", args)

    def _enqueue(self, op: str, args: tuple[t.Any, ...]) -> None:
        with self._lock:
            self._queue.append((op, args))
            full = len(self._queue) >= _FLUSH_AT
        if full:
            self.flush()

    # --- the delivery side (inside the answer's transaction) ---------------------------------

    def keep_in(
        self,
        db: sqlite3.Connection,
        kept: Kept,
        *,
        resource: str,
        item_key: str,
        errors: list[str],
    ) -> None:
        """ShopiMind refused a record: keep it in the transaction `db`."""
        if self.writes:
            self._upsert(db, [self._row(kept, resource, item_key, "api", errors)])
            with self._lock:
                self.streams.add(kept.stream)

    def accepted_in(self, db: sqlite3.Connection, resource: str, item_keys: Sequence[str]) -> None:
        """Replayed records accepted: they leave the store (transaction `db`)."""
        if self.writes and self.replay_started and item_keys:
            db.executemany(
                "DELETE FROM rejected WHERE resource = ? AND item_key = ? AND run <> ?",
                [(resource, key, self.store.run_id) for key in item_keys],
            )

    # --- replay --------------------------------------------------------------------------

    def to_replay(self, streams: set[str]) -> Iterator[tuple[int, Kept]]:
        """Kept records of earlier runs whose stream came in this run and whose key did not."""
        self.flush()
        self.replay_started = True
        last = 0
        while True:
            with self.store.read() as db:
                rows = db.execute(
                    "SELECT id, stream, key, key_properties, record FROM rejected"
                    " WHERE id > ? AND run <> ? ORDER BY id LIMIT ?",
                    (last, self.store.run_id, _PAGE),
                ).fetchall()
            if not rows:
                return
            for row_id, stream, key, key_properties, record in rows:
                last = row_id
                if stream in streams and (stream, key) not in self._arrived_dry:
                    yield row_id, Kept(stream, tuple(json.loads(key_properties)), deserialize_json(record))

    def begin(self, row_id: int) -> None:
        """The kept record `row_id` is about to go through maps, mapping and validation."""
        self.replaying = row_id
        self.replay_pending = False

    def end(self) -> None:
        """Neither rejected again nor sent (unchanged, filtered out, skipped): it leaves the store."""
        row_id, self.replaying = self.replaying, None
        if row_id is not None and not self.replay_pending and self.writes:
            self._enqueue("drop", (row_id,))

    # --- helpers ---------------------------------------------------------------------------

    def _row(
        self,
        kept: Kept,
        resource: str | None,
        item_key: str | None,
        stage: str,
        errors: list[str],
    ) -> tuple[t.Any, ...]:
        return (
            kept.stream,
            identity(kept.record, kept.key_properties),
            json.dumps(list(kept.key_properties)),
            serialize_json(kept.record),
            resource,
            item_key,
            stage,
            json.dumps(errors, ensure_ascii=False),
            self.store.run_id,
            self.store.clock(),
        )

    @staticmethod
    def _upsert(db: sqlite3.Connection, rows: Sequence[tuple[t.Any, ...]]) -> None:
        db.executemany(
            "INSERT INTO rejected (stream, key, key_properties, record, resource, item_key, stage, errors,"
            " run, rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (stream, key) DO UPDATE SET key_properties = excluded.key_properties,"
            " record = excluded.record, resource = excluded.resource, item_key = excluded.item_key,"
            " stage = excluded.stage, errors = excluded.errors, run = excluded.run,"
            " rejected_at = excluded.rejected_at",
            rows,
        )
