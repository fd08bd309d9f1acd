"""Child streams below the target: the setting, child-row mapping and the store tables (real SQLite)."""

from __future__ import annotations

import decimal
import json
import sqlite3
import typing as t

import pytest

from target_shopimind.children import (
    ChildMapper,
    ChildStore,
    ChildStreams,
    PlainDatabase,
    array_targets,
    assemble,
    parse_child_streams,
)

if t.TYPE_CHECKING:
    import pathlib

LINES = {"public-order_lines": {"into": "orders.products", "parent_key": "order_id"}}
GROUPS = {"public-customer_group": {"into": "customers.group_ids", "parent_key": "customer_id", "value": "group_id"}}


def test_valid_targets_come_from_the_resource_table() -> None:
    assert sorted(array_targets()) == ["customers.group_ids", "orders.products", "products.category_ids"]


def test_parse_valid_entries() -> None:
    specs, errors = parse_child_streams({**LINES, **GROUPS})
    assert errors == []
    assert specs["public-order_lines"].into == "orders.products"
    assert specs["public-order_lines"].objects is True
    assert specs["public-customer_group"].value == "group_id"
    assert specs["public-customer_group"].objects is False


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("orders.products", "must be an object"),
        ({"into": "orders.lines", "parent_key": "order_id"}, "valid: customers.group_ids, orders.products"),
        ({"into": "orders.products", "parent_key": ""}, "parent_key"),
        ({"into": "orders.products", "parent_key": "order_id", "value": "id"}, "`value` is only for value arrays"),
        ({"into": "products.category_ids", "parent_key": "product_id"}, "name the column holding each value"),
        ({"into": "orders.products", "parent_key": "order_id", "extra": 1}, "unknown key(s) extra"),
    ],
)
def test_parse_refuses_bad_entries(entry: object, fragment: str) -> None:
    specs, errors = parse_child_streams({"s": entry})
    assert len(errors) == 1
    assert fragment in errors[0]
    assert errors[0].startswith("child_streams['s']")
    assert "s" not in specs or fragment.startswith("unknown")


def test_object_rows_are_coerced_checked_and_keyed() -> None:
    spec = parse_child_streams(LINES)[0]["public-order_lines"]
    mapper = ChildMapper(spec, ["id"])
    row = mapper.map(
        {"id": decimal.Decimal(7), "order_id": decimal.Decimal(1042), "product_id": "12", "price": "9.999",
         "price_without_tax": 8, "quantity": decimal.Decimal("2.0"), "name": "Chair"}
    )  # fmt: skip
    assert row.errors == []
    assert row.key == "[7]"
    assert row.parent == "1042"
    assert row.dropped == ["name"]
    assert row.element is not None
    assert json.loads(row.element) == {"product_id": 12, "price": 10.0, "price_without_tax": 8.0, "quantity": 2}
    bad = mapper.map({"id": 8, "order_id": None, "product_id": "x", "price": 1, "price_without_tax": 1, "quantity": 1})
    assert bad.element is None
    assert bad.errors == ["order_id: is required (the parent's order_id)", "products.product_id: must be an integer"]


def test_membership_rows_without_key_properties_are_keyed_by_parent_and_value() -> None:
    spec = parse_child_streams(GROUPS)[0]["public-customer_group"]
    row = ChildMapper(spec, []).map({"customer_id": 3, "group_id": decimal.Decimal(12)})
    assert (row.key, row.parent, row.element) == ("[3,12]", "3", b'"12"')


def _store(conn: sqlite3.Connection, *, read_only: bool = False) -> ChildStore:
    return ChildStore(PlainDatabase(conn, read_only=read_only))


def test_store_assembles_in_key_order_and_follows_moves(tmp_path: pathlib.Path) -> None:
    conn = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    spec = parse_child_streams(LINES)[0]["public-order_lines"]
    store = _store(conn)
    store.put_parent("orders", "1", "1", "public-orders", b'{"order_id":"1"}')
    store.put_parent("orders", "2", "2", "public-orders", b'{"order_id":"2"}')
    for key, parent in (("[10]", "1"), ("[9]", "1"), ("[3]", "2")):
        store.put_child(spec, key, parent, json.dumps({"line": key}).encode())
    got = [item for _, item in assemble(store, [spec])]
    assert got == [
        {"order_id": "1", "products": [{"line": "[9]"}, {"line": "[10]"}]},
        {"order_id": "2", "products": [{"line": "[3]"}]},
    ]
    store.clear_pending()
    store.put_child(spec, "[3]", "1", b'{"line":"[3]"}')  # moved from order 2 to order 1
    got = [item for _, item in assemble(store, [spec])]
    assert [len(i["products"]) for i in got] == [3, 0]


def test_scratch_store_never_writes_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    spec = parse_child_streams(LINES)[0]["public-order_lines"]
    store = _store(conn)
    store.put_child(spec, "[1]", "1", b"{}")
    store.flush()
    conn.close()
    before = path.read_bytes()
    conn = sqlite3.connect(path, isolation_level=None)
    scratch = _store(conn, read_only=True)
    scratch.put_child(spec, "[2]", "1", b"{}")
    scratch.put_parent("orders", "1", "1", "public-orders", b'{"order_id":"1"}')
    assert [len(item["products"]) for _, item in assemble(scratch, [spec])] == [2]
    conn.close()
    assert path.read_bytes() == before


def test_guard_looks_at_the_child_streams_of_the_same_source(tmp_path: pathlib.Path) -> None:
    entry = {"into": "customers.group_ids", "parent_key": "customer_id", "value": "group_id"}
    specs = parse_child_streams({"demo-customer_group": entry, "shop-customer_group": entry})[0]
    conn = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    children = ChildStreams(specs, _store(conn), store_path="store")
    children.store.mark_held(["shop-customer_group"])
    resumed = {"bookmarks": {"shop-customers": {"replication_key_value": "2026-01-01"}}}
    assert children.check_state(resumed, before_records=True) is None
    other = {"bookmarks": {"demo-customers": {"replication_key_value": "1"}}}
    problem = children.check_state(other, before_records=True)
    assert problem is not None
    assert "demo-customer_group" in problem
    # A parent stream named without that prefix: every child stream of its resource counts.
    assert children.check_state({"bookmarks": {"customers": {"v": 1}}}, before_records=True) is not None
    assert children.check_state(resumed, before_records=False) is None  # only the first STATE
    foreign = {"target_shopimind": {"store_id": "other"}}
    assert "another sync store" in str(children.check_state(foreign, before_records=False, store_id="mine"))
