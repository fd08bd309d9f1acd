"""The delivery engine: full batches, several requests in flight, order where it matters.

The reading thread hands over batches and goes on reading; worker threads send them
within the quota. Two rules keep this safe:
- a batch never starts while an earlier one holding the same entity is pending or in
  flight, so a later version (or a delete) cannot overtake an earlier one;
- a batch flushed by a checkpoint waits for earlier batches of the resources it
  points to, so reference data lands before what refers to it.
STATE is written only once every batch before it is settled (`wait_idle`).
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
import typing as t

from target_shopimind.answers import (
    delete_unaccounted,
    error_message,
    match_rejections,
    refusal,
    rejected_entries,
    unaccounted,
)
from target_shopimind.batches import Batch, DeleteBatch, UpsertBatch
from target_shopimind.errors import TargetError
from target_shopimind.stopping import Stop

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from target_shopimind.client import ApiClient
    from target_shopimind.report import Report


SPLIT_STATUS = frozenset({400, 409, 413, 422})
# How often a waiting thread looks at a stop signal (it cannot be woken from a signal handler).
_POLL_SECONDS = 0.1


def body_of(items: list[bytes]) -> bytes:
    """A JSON array from already-serialized items."""
    return b"[" + b",".join(items) + b"]"


class Settled(t.Protocol):
    """Told what became of each item of a batch (the sync store listens here)."""

    def accepted(self, batch: UpsertBatch, positions: Sequence[int]) -> None:
        """A 200 answer that does not list the items at `positions`: they are accepted."""

    def rejected(self, batch: UpsertBatch, position: int, errors: list[str]) -> None:
        """ShopiMind refused the item at `position`."""

    def deleted(self, batch: DeleteBatch) -> None:
        """A bulk delete succeeded."""

    def settled(self, batch: Batch) -> None:
        """The batch is done (every item accepted or rejected, or the run failed)."""


class Sender:
    """Sends one batch and settles every item in it: accepted or rejected-and-reported."""

    def __init__(self, client: ApiClient | None, report: Report, settled: Settled | None = None) -> None:
        self.client = client  # None: dry run
        self.report = report
        self.hooks = settled

    def __call__(self, batch: Batch) -> None:
        """Send `batch`; raises `TargetError` when it cannot be settled."""
        try:
            if isinstance(batch, DeleteBatch):
                self._delete(batch)
            elif isinstance(batch, UpsertBatch):
                self._upsert(batch, list(range(len(batch.items))))
            else:
                msg = f"not a batch to send: {type(batch).__name__}"
                raise TypeError(msg)
        finally:
            if self.hooks is not None:
                self.hooks.settled(batch)

    def accepted(self, batch: UpsertBatch, positions: list[int], *, unidentified: int = 0) -> None:
        """The one place where items are known accepted: `positions` of `batch`, after a 200.

        `unidentified`: rejected_items of that answer that matched no item (reported with
        key `?`), so that many of `positions` may have been refused after all.
        """
        self.report.accepted(batch.resource.name, sent=max(0, len(positions) - unidentified))
        if self.hooks is not None and not unidentified:  # unsure which were refused: none is recorded
            self.hooks.accepted(batch, positions)

    def _post(self, batch: Batch, body: bytes, check: t.Callable[[t.Any], str | None]) -> tuple[int, t.Any]:
        if self.client is None:
            return 200, {"statusCode": 200, "rejected_items": []}
        return self.client.post(batch.path, body, batch.resource.name, unaccounted=check)

    def _delete(self, batch: DeleteBatch) -> None:
        ids = [json.loads(raw) for raw in batch.ids]
        assert batch.resource.delete_ids is not None
        body = json.dumps({batch.resource.delete_ids: ids}).encode()
        status, answer = self._post(batch, body, delete_unaccounted)
        if status != 200:
            self._fatal(batch, status, answer)
        self.report.accepted(batch.resource.name, deleted=len(ids))
        if self.hooks is not None:
            self.hooks.deleted(batch)

    def _upsert(self, batch: UpsertBatch, positions: list[int]) -> None:
        """Send `positions` of the batch; every one of them ends accepted or reported, once."""
        count = len(positions)
        body = body_of([batch.items[i] for i in positions])
        status, answer = self._post(batch, body, lambda answer: unaccounted(answer, count))
        if status != 200 and status not in SPLIT_STATUS:
            self._fatal(batch, status, answer)
        keys = [batch.keys[i] for i in positions]
        matched, unmatched = match_rejections(rejected_entries(answer) or [], keys, self._key_of(batch))
        if status != 200 and len(positions) == 1:
            # A refused single item: whatever the answer says is about that item.
            errors = matched.get(0) or [e for found in unmatched for e in found] or error_message(answer, status)
            self._reject(batch, positions[0], errors)
            return
        for local, errors in matched.items():
            self._reject(batch, positions[local], errors)
        rest = [p for i, p in enumerate(positions) if i not in matched]
        if status == 200:
            for errors in unmatched:  # still reported: a rejection is never dropped
                self.report.reject(
                    stream=batch.stream, resource=batch.resource.name, key="?", stage="api", errors=errors, record=None
                )
            self.accepted(batch, rest, unidentified=len(unmatched))
        elif rest and matched:
            self._upsert(batch, rest)  # a refused batch accepted nothing: resend the others
        elif rest:
            # Entries that match no item are not reported here: halving finds their items,
            # and each item is reported once, where it is refused alone.
            self._split(batch, rest)

    def _split(self, batch: UpsertBatch, positions: list[int]) -> None:
        """Find the refused items of a 400 without usable `rejected_items` by halving."""
        middle = len(positions) // 2
        self._upsert(batch, positions[:middle])
        self._upsert(batch, positions[middle:])

    def _reject(self, batch: UpsertBatch, position: int, errors: list[str]) -> None:
        if self.hooks is not None:
            self.hooks.rejected(batch, position, errors)
        self.report.reject(
            stream=batch.stream,
            resource=batch.resource.name,
            key=batch.keys[position],
            stage="api",
            errors=errors,
            record=json.loads(batch.items[position]),
        )

    @staticmethod
    def _key_of(batch: Batch) -> t.Callable[[dict], str]:
        fields = batch.resource.key
        return lambda item: "|".join("" if item.get(f) is None else str(item.get(f)) for f in fields)

    @staticmethod
    def _fatal(batch: Batch, status: int, answer: t.Any) -> t.NoReturn:
        raise TargetError(refusal(status, answer, f"POST {batch.path}", batch.resource.name, suffix="; not retried"))


class Delivery:
    """Worker threads that send batches; the reading thread submits and waits."""

    def __init__(
        self,
        send: t.Callable[[Batch], None],
        *,
        workers: int,
        max_pending: int | None = None,
        stop: Stop | None = None,
    ) -> None:
        self._send = send
        self._workers = max(1, workers)
        self._max_pending = max_pending or max(4, 2 * self._workers)
        self._stop = stop or Stop()
        self._cond = threading.Condition(threading.RLock())
        self._pending: collections.deque[Batch] = collections.deque()
        self._in_flight: list[Batch] = []
        self._fatal: BaseException | None = None
        self._closing = False
        self._threads: list[threading.Thread] = []

    def _start(self) -> None:
        for n in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"shopimind-sender-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, batch: Batch) -> None:
        """Queue a batch; blocks while the queue is full (bounded memory)."""
        with self._cond:
            if not self._threads:
                self._start()
            self._raise_if_failed()
            while len(self._pending) >= self._max_pending:
                self._cond.wait(_POLL_SECONDS)
                self._raise_if_failed()
                self._raise_if_aborted()
            self._pending.append(batch)
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> None:
        """Return once every submitted batch is settled; raise the failure that stopped one.

        Ends with a `TargetError` once `timeout` seconds pass, or once the grace after a stop
        signal is over: a stop must end the run within seconds, whatever the server does.
        """
        end = math.inf if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._in_flight:
                self._raise_if_failed()
                self._raise_if_aborted()
                if time.monotonic() >= end:
                    unsettled = len(self._pending) + len(self._in_flight)
                    msg = f"{unsettled} batches still unsettled after {timeout:.0f} s"
                    raise TargetError(msg)
                self._cond.wait(_POLL_SECONDS)
            self._raise_if_failed()

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers (after `wait_idle`, nothing is lost); `wait=False` on a failure."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        end = time.monotonic() + 5
        for thread in self._threads if wait else ():
            thread.join(timeout=max(0.0, end - time.monotonic()))

    @property
    def failed(self) -> BaseException | None:
        """The failure that stopped delivery, if any."""
        return self._fatal

    def _raise_if_failed(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _raise_if_aborted(self) -> None:
        if self._stop.aborted:
            unsettled = len(self._pending) + len(self._in_flight)
            msg = (
                f"stopped by signal {self._stop.signum} with {unsettled} batches unsettled after "
                f"{self._stop.grace:.0f} s; the last STATE is safe to resume from"
            )
            raise TargetError(msg)

    def _ready(self) -> Batch | None:
        """The pending batch to start next (see the module docstring).

        Of the batches allowed to start, the one that heads the longest chain of later batches
        waiting for their references goes first (a checkpoint's flush of dependent resources then
        fills the quota while the chain settles); among equals, the earliest.
        """
        held: dict[str, set[str]] = collections.defaultdict(set)
        busy: set[str] = set()
        for batch in self._in_flight:
            held[batch.resource.name].update(batch.conflicts)
            busy.add(batch.resource.name)
        allowed: list[int] = []
        for index, batch in enumerate(self._pending):
            name = batch.resource.name
            blocked = not held[name].isdisjoint(batch.conflicts) or (
                batch.after_references and any(dep in busy for dep in batch.resource.depends_on)
            )
            if not blocked:
                allowed.append(index)
            held[name].update(batch.conflicts)  # an earlier pending batch, whether it starts now or not
            busy.add(name)
        if not allowed:
            return None
        index = allowed[0]
        if len(allowed) > 1:
            chains = _waiting_chains(self._pending)
            index = max(allowed, key=lambda i: (chains[i], -i))
        batch = self._pending[index]
        del self._pending[index]
        return batch

    def _work(self) -> None:
        while True:
            with self._cond:
                batch = None
                while batch is None:
                    if (self._closing and (not self._pending or self._fatal is not None)) or self._stop.aborted:
                        return
                    if self._fatal is None:
                        batch = self._ready()
                    if batch is None:
                        self._cond.wait(1.0)
                self._in_flight.append(batch)
            try:
                self._send(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                with self._cond:
                    if self._fatal is None:
                        # Only the type: the text of a transport error may quote request headers.
                        problem = f"delivery failed: {type(exc).__name__} while sending {batch.resource.name}"
                        self._fatal = exc if isinstance(exc, TargetError) else TargetError(problem)
            finally:
                with self._cond:
                    self._in_flight.remove(batch)
                    self._cond.notify_all()


def _waiting_chains(pending: Sequence[Batch]) -> list[int]:
    """For each pending batch, how many batches deep the chain of later ones waiting for it goes."""
    chains = [0] * len(pending)
    waiting = [i for i, batch in enumerate(pending) if batch.after_references]  # only these wait for references
    if not waiting:
        return chains
    for index in range(len(pending) - 1, -1, -1):
        name = pending[index].resource.name
        for later in waiting:
            if later > index and name in pending[later].resource.depends_on:
                chains[index] = max(chains[index], chains[later] + 1)
    return chains
