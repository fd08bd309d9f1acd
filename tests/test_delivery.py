"""The delivery engine's ordering rules, with a recording sender instead of HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from target_shopimind.batches import Batch, UpsertBatch
from target_shopimind.delivery import Delivery
from target_shopimind.errors import TargetError
from target_shopimind.resources import BY_NAME


class Recorder:
    """Records start/end of each batch; each send takes `delay` seconds."""

    def __init__(self, delay: float = 0.05, fail_on: str | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.events: list[tuple[str, float, float, int]] = []  # resource, start, end, seq
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, batch: Batch) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        start = time.monotonic()
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
            self.events.append((batch.resource.name, start, time.monotonic(), batch.seq))
        if self.fail_on and self.fail_on in batch.keys:
            raise TargetError("boom")


def batch(resource: str, keys: list[str], *, after: bool = False) -> UpsertBatch:
    return UpsertBatch(
        resource=BY_NAME[resource],
        stream=f"s-{resource}",
        path=BY_NAME[resource].path,
        items=[b"{}" for _ in keys],
        kept=[None for _ in keys],
        replayed=[False for _ in keys],
        keys=keys,
        conflicts=set(keys),
        after_references=after,
    )


def test_runs_up_to_workers_in_parallel():
    rec = Recorder(delay=0.1)
    engine = Delivery(rec, workers=3)
    for n in range(9):
        engine.submit(batch("customers", [f"c{n}"]))
    engine.wait_idle()
    engine.close()
    assert len(rec.events) == 9
    assert rec.max_in_flight == 3


def test_same_key_never_in_flight_twice_and_keeps_order():
    rec = Recorder(delay=0.05)
    engine = Delivery(rec, workers=4)
    submitted = [batch("customers", ["k1", "a"]), batch("customers", ["b"]), batch("customers", ["k1", "c"])]
    for b in submitted:
        engine.submit(b)
    engine.wait_idle()
    engine.close()
    first = next(e for e in rec.events if e[3] == submitted[0].seq)
    third = next(e for e in rec.events if e[3] == submitted[2].seq)
    assert third[1] >= first[2], "a later version of k1 started before the earlier one finished"
    second = next(e for e in rec.events if e[3] == submitted[1].seq)
    assert second[1] < first[2], "an unrelated batch should not wait"


def test_checkpoint_flush_waits_for_referenced_resources():
    rec = Recorder(delay=0.1)
    engine = Delivery(rec, workers=4)
    engine.submit(batch("products_categories", ["10"], after=True))
    engine.submit(batch("products", ["100"], after=True))
    engine.submit(batch("products_images", ["100|1"], after=True))
    engine.submit(batch("newsletter_subscribers", ["n@x.y"], after=True))
    engine.wait_idle()
    engine.close()
    by_name = {e[0]: e for e in rec.events}
    assert by_name["products"][1] >= by_name["products_categories"][2]
    assert by_name["products_images"][1] >= by_name["products"][2]
    # independent of the chain: starts at once
    assert by_name["newsletter_subscribers"][1] < by_name["products_categories"][2]


def test_full_batches_do_not_wait_for_references():
    rec = Recorder(delay=0.1)
    engine = Delivery(rec, workers=4)
    engine.submit(batch("products_categories", ["10"]))
    engine.submit(batch("products", ["100"]))
    engine.wait_idle()
    engine.close()
    by_name = {e[0]: e for e in rec.events}
    assert by_name["products"][1] < by_name["products_categories"][2]


def test_failure_reaches_the_reading_thread():
    rec = Recorder(delay=0.01, fail_on="bad")
    engine = Delivery(rec, workers=2)
    engine.submit(batch("customers", ["bad"]))
    with pytest.raises(TargetError, match="boom"):
        engine.wait_idle()
    with pytest.raises(TargetError):
        engine.submit(batch("customers", ["later"]))
    engine.close()


def test_queue_is_bounded():
    rec = Recorder(delay=0.05)
    engine = Delivery(rec, workers=1, max_pending=2)
    peak = 0
    for n in range(8):
        engine.submit(batch("customers", [f"c{n}"]))
        peak = max(peak, len(engine._pending))
    engine.wait_idle()
    engine.close()
    assert peak <= 2
    assert len(rec.events) == 8


def test_the_head_of_a_waiting_chain_starts_before_an_independent_batch():
    # One request at a time: the order of starts is the engine's choice. While the first batch
    # is in flight, an independent batch and a chain (categories <- products <- images) wait.
    rec = Recorder(delay=0.1)
    engine = Delivery(rec, workers=1)
    engine.submit(batch("customers", ["c1"]))
    deadline = time.monotonic() + 5
    while not rec.in_flight and time.monotonic() < deadline:
        time.sleep(0.001)
    queued = [("newsletter_subscribers", "n@x.y"), ("products_categories", "10"), ("products", "100")]
    queued.append(("products_images", "100|1"))
    for resource, key in queued:
        engine.submit(batch(resource, [key], after=True))
    engine.wait_idle()
    engine.close()
    started = [e[0] for e in sorted(rec.events, key=lambda e: e[1])]
    assert started == ["customers", "products_categories", "products", "newsletter_subscribers", "products_images"]
