"""The stream buffers: merge by key, the body and id caps, and what each hands over."""

from __future__ import annotations

import contextlib
import json
import typing as t

from support import customers_stream, record, run_in_process, state, target_config

from target_shopimind.batching import DeleteBuffer, UpsertBuffer
from target_shopimind.resources import BY_NAME, DELETE_BATCH

if t.TYPE_CHECKING:
    from target_shopimind.batches import DeleteBatch, UpsertBatch
    from target_shopimind.sandbox import Sandbox

CUSTOMERS = BY_NAME["customers"]
ADDRESSES = BY_NAME["customers_addresses"]


def upsert_buffer(shipped: list[UpsertBatch], *, max_size: int = 10, room: int = 1_000) -> UpsertBuffer:
    return UpsertBuffer(CUSTOMERS, "public-customers", max_size=max_size, ship=shipped.append, room=room)


def test_a_newer_version_replaces_the_buffered_one_and_keeps_its_place() -> None:
    shipped: list[UpsertBatch] = []
    buffer = upsert_buffer(shipped)
    assert buffer.add("1", b'{"v":1}', "1", None, False) is False
    assert buffer.add("2", b'{"v":2}', "2", None, False) is False
    assert buffer.add("1", b'{"v":"new"}', "1", None, True) is True
    buffer.flush()
    [batch] = shipped
    assert batch.keys == ["1", "2"]
    assert batch.items == [b'{"v":"new"}', b'{"v":2}']
    assert batch.replayed == [True, False]
    assert batch.conflicts == {"1", "2"}
    assert len(buffer) == 0


def test_a_full_buffer_ships_at_once_and_starts_empty() -> None:
    shipped: list[UpsertBatch] = []
    buffer = upsert_buffer(shipped, max_size=3)
    for n in range(7):
        buffer.add(str(n), b"{}", str(n), None, False)
    assert [b.keys for b in shipped] == [["0", "1", "2"], ["3", "4", "5"]]
    assert len(buffer) == 1
    buffer.flush(after_references=True)
    assert shipped[-1].keys == ["6"]
    assert [b.after_references for b in shipped] == [False, False, True]


def test_items_that_would_overflow_the_body_go_to_the_next_batch() -> None:
    shipped: list[UpsertBatch] = []
    buffer = upsert_buffer(shipped, room=100)
    item = b"x" * 45  # 46 bytes each with its comma: two fit in 100, a third does not
    for n in range(5):
        buffer.add(str(n), item, str(n), None, False)
    buffer.flush()
    assert [b.keys for b in shipped] == [["0", "1"], ["2", "3"], ["4"]]
    assert all(sum(len(i) + 1 for i in b.items) <= 100 for b in shipped)


def test_a_merge_that_grows_an_item_counts_its_new_size() -> None:
    shipped: list[UpsertBatch] = []
    buffer = upsert_buffer(shipped, room=100)
    buffer.add("1", b"x" * 10, "1", None, False)
    buffer.add("1", b"x" * 60, "1", None, False)  # merged: 61 bytes now held
    buffer.add("2", b"x" * 45, "2", None, False)  # 61 + 46 > 100: the first goes alone
    assert [b.keys for b in shipped] == [["1"]]


def test_a_ship_that_fails_keeps_the_items_for_the_next_hand_over() -> None:
    calls: list[UpsertBatch] = []

    def ship(batch: UpsertBatch) -> None:
        calls.append(batch)
        if len(calls) == 1:
            raise RuntimeError("queue closed")

    buffer = UpsertBuffer(CUSTOMERS, "s", max_size=10, ship=ship)
    buffer.add("1", b"{}", "1", None, False)
    with contextlib.suppress(RuntimeError):
        buffer.flush()
    assert len(buffer) == 1
    buffer.flush()
    assert [b.keys for b in calls] == [["1"], ["1"]]


def test_waiting_items_merge_by_key_with_the_newest_in_its_own_place() -> None:
    buffer = upsert_buffer([], max_size=4)
    assert not buffer.wait("1", b"a", "1", None)
    assert not buffer.wait("2", b"b", "2", None)
    assert not buffer.wait("1", b"c", "1", None)
    assert buffer.wait("3", b"d", "3", None)  # a lookup's worth waits
    assert buffer.waiting_entities() == {"1", "2", "3"}
    chunk, merged = buffer.take_waiting()
    assert [(key, data) for key, data, _, _ in chunk] == [("2", b"b"), ("1", b"c"), ("3", b"d")]
    assert merged == 1
    assert buffer.waiting == []


def test_deletes_are_deduplicated_and_capped_per_request() -> None:
    shipped: list[DeleteBatch] = []
    buffer = DeleteBuffer(CUSTOMERS, "public-customers", ship=shipped.append)
    buffer.add(CUSTOMERS.path, b"1", "1")
    buffer.add(CUSTOMERS.path, b"1", "1")
    assert len(buffer) == 1
    for n in range(2, DELETE_BATCH + 3):
        buffer.add(CUSTOMERS.path, json.dumps(n).encode(), str(n))
    [full] = shipped
    assert len(full.ids) == DELETE_BATCH
    assert full.keys == [str(n) for n in range(1, DELETE_BATCH + 1)]
    assert full.conflicts == set(full.keys)
    assert buffer.held == {str(DELETE_BATCH + 1), str(DELETE_BATCH + 2)}
    buffer.flush(after_references=True)
    assert [b.ids for b in shipped[1:]] == [[b"21", b"22"]]
    assert shipped[1].after_references
    assert buffer.held == set()
    assert len(buffer) == 0


def test_each_delete_path_is_its_own_batch() -> None:
    shipped: list[DeleteBatch] = []
    buffer = DeleteBuffer(ADDRESSES, "public-addresses", ship=shipped.append)
    buffer.add("/v1/customers/1/addresses/bulk-delete", b"10", "10")
    buffer.add("/v1/customers/2/addresses/bulk-delete", b"20", "20")
    buffer.add("/v1/customers/1/addresses/bulk-delete", b"11", "11")
    buffer.flush()
    assert {b.path: b.ids for b in shipped} == {
        "/v1/customers/1/addresses/bulk-delete": [b"10", b"11"],
        "/v1/customers/2/addresses/bulk-delete": [b"20"],
    }


def test_an_upsert_after_a_delete_of_the_same_entity_sends_the_delete_first(sandbox: Sandbox) -> None:
    deleted = {**customers_stream([1])[1]["record"], "_sdc_deleted_at": "2026-05-08T00:00:00Z"}
    first = [*customers_stream([1, 2]), state({"b": 1})]
    assert run_in_process(target_config(sandbox), first).tally("customers").sent == 2
    again = customers_stream([1])[1]["record"]
    messages = [*customers_stream([]), record("public-customers", deleted), record("public-customers", again)]
    run = run_in_process(target_config(sandbox, on_deleted_record="delete", change_detection=False), messages)
    assert (run.tally("customers").deleted, run.tally("customers").sent) == (1, 1)
    writes = [r["path"] for r in sandbox.requests if r["method"] == "POST"][1:]
    assert writes == ["/v1/customers/bulk-delete", "/v1/customers"]
    assert {c["customer_id"] for c in sandbox.items("customers")} == {"1", "2"}
