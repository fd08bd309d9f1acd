"""Child streams over real HTTP: order lines, memberships and categories assembled from their own tables."""

from __future__ import annotations

import re
import typing as t

import pytest
from support import CUSTOMER_PROPS, customer, record, run_target, schema, state, target_config

if t.TYPE_CHECKING:
    import pathlib

    from support import Run

    from target_shopimind.sandbox import Sandbox

TS = "2026-05-07T08:00:00+00:00"
S: dict = {"type": ["string", "null"]}
I = {"type": ["integer", "null"]}  # noqa: E741
N = {"type": ["number", "null"]}
B = {"type": ["boolean", "null"]}
DT = {"type": ["string", "null"], "format": "date-time"}

ORDERS = "public-orders"
LINES = "public-order_lines"
MEMBERS = "public-customer_group"
CATEGORIES = "public-category_product"

ORDER_PROPS: dict[str, dict] = {
    "id": I,
    "lang": S,
    "status_id": S,
    "customer_id": I,
    "customer_email": S,
    "customer_created_at": DT,
    "cart_id": I,
    "amount": N,
    "amount_without_tax": N,
    "shipping_costs": N,
    "shipping_costs_without_tax": N,
    "currency": S,
    "is_confirmed": B,
    "created_at": DT,
    "updated_at": DT,
    "_sdc_deleted_at": DT,
}
LINE_PROPS: dict[str, dict] = {
    "id": I,
    "order_id": I,
    "product_id": I,
    "product_name": S,  # not an order-line field of ShopiMind: dropped with one warning
    "price": N,
    "price_without_tax": N,
    "quantity": {},  # any type: coerced to the integer ShopiMind wants
    "_sdc_deleted_at": DT,
}
MEMBER_PROPS: dict[str, dict] = {"customer_id": I, "group_id": I, "_sdc_deleted_at": DT}
PRODUCT_PROPS: dict[str, dict] = {
    "product_id": I,
    "lang": S,
    "name": S,
    "link": S,
    "currency": S,
    "price": N,
    "quantity_remaining": I,
    "is_active": B,
    "created_at": DT,
    "updated_at": DT,
}
CATEGORY_PROPS: dict[str, dict] = {"product_id": I, "category_id": I}

CHILDREN = {
    LINES: {"into": "orders.products", "parent_key": "order_id"},
    MEMBERS: {"into": "customers.group_ids", "parent_key": "customer_id", "value": "group_id"},
    CATEGORIES: {"into": "products.category_ids", "parent_key": "product_id", "value": "category_id"},
}


def order(n: int, **overrides: t.Any) -> dict:
    row = {
        "id": n,
        "lang": "fr",
        "status_id": "paid",
        "customer_id": 1,
        "customer_email": "c1@example.com",
        "customer_created_at": TS,
        "cart_id": n + 5000,
        "amount": 30,
        "amount_without_tax": 25,
        "shipping_costs": 0,
        "shipping_costs_without_tax": 0,
        "currency": "EUR",
        "is_confirmed": True,
        "created_at": TS,
        "updated_at": TS,
    }
    row.update(overrides)
    return row


def line(n: int, order_id: int, **overrides: t.Any) -> dict:
    row = {
        "id": n,
        "order_id": order_id,
        "product_id": 100 + n,
        "product_name": f"Product {n}",
        "price": 10,
        "price_without_tax": 8.33,
        "quantity": 1,
    }
    row.update(overrides)
    return row


def orders_msgs(*rows: dict) -> list[dict]:
    return [schema(ORDERS, ORDER_PROPS, ["id"]), *(record(ORDERS, r) for r in rows)]


def lines_msgs(*rows: dict) -> list[dict]:
    return [schema(LINES, LINE_PROPS, ["id"]), *(record(LINES, r) for r in rows)]


def members_msgs(*pairs: tuple[int, int], deleted: t.Iterable[tuple[int, int]] = ()) -> list[dict]:
    rows = [record(MEMBERS, {"customer_id": c, "group_id": g}) for c, g in pairs]
    rows += [record(MEMBERS, {"customer_id": c, "group_id": g, "_sdc_deleted_at": TS}) for c, g in deleted]
    return [schema(MEMBERS, MEMBER_PROPS, ["customer_id", "group_id"]), *rows]


def config(sandbox: Sandbox, tmp_path: pathlib.Path, **extra: t.Any) -> dict[str, t.Any]:
    return target_config(sandbox, store_path=str(tmp_path / "store"), child_streams=CHILDREN, **extra)


def sent_keys(sandbox: Sandbox, path: str, since: int = 0) -> list[str]:
    """Upsert keys of every accepted request to `path`, in order, from request number `since`."""
    return [k for r in sandbox.requests[since:] if r["path"] == path and r["status"] == 200 for k in r["keys"]]


def order_of(sandbox: Sandbox, order_id: str) -> dict:
    return next(o for o in sandbox.items("orders") if o["order_id"] == order_id)


def line_ids(sandbox: Sandbox, order_id: str) -> list[int]:
    """The product ids of an order's lines as ShopiMind holds them (line n has product 100 + n)."""
    return [p["product_id"] - 100 for p in order_of(sandbox, order_id)["products"]]


def ok(run: Run) -> Run:
    assert run.returncode == 0, run.stderr[-4000:]
    return run


@pytest.mark.parametrize("lines_first", [True, False], ids=["lines-before-orders", "orders-before-lines"])
def test_order_assembled_with_its_lines_in_key_order(
    sandbox: Sandbox, tmp_path: pathlib.Path, *, lines_first: bool
) -> None:
    lines = lines_msgs(line(10, 1001), line(9, 1001), line(2, 1002), line(1, 1001, quantity=3.0))
    orders = orders_msgs(order(1001), order(1002))
    messages = [*lines, *orders] if lines_first else [*orders, *lines]
    run = ok(run_target(tmp_path, config(sandbox, tmp_path), [*messages, state({"bookmarks": {ORDERS: {"v": 1}}})]))
    assert line_ids(sandbox, "1001") == [1, 9, 10]  # child-key order, numeric
    assert order_of(sandbox, "1001")["products"][0] == {
        "product_id": 101,
        "price": 10.0,
        "price_without_tax": 8.33,
        "quantity": 3,
    }
    assert line_ids(sandbox, "1002") == [2]
    assert sorted(sent_keys(sandbox, "/v1/orders")) == ["1001", "1002"]
    assert run.stderr.count("columns unknown to orders.products are dropped: product_name") == 1
    assert run.last_state["bookmarks"] == {ORDERS: {"v": 1}}


def test_a_line_changed_alone_resends_its_whole_order(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path)
    first = [*orders_msgs(order(1001), order(1002)), *lines_msgs(line(1, 1001), line(2, 1001), line(3, 1002))]
    ok(run_target(tmp_path, cfg, first))
    before = len(sandbox.requests)
    ok(run_target(tmp_path, cfg, lines_msgs(line(2, 1001, quantity=5))))
    assert sent_keys(sandbox, "/v1/orders", before) == ["1001"]
    assert line_ids(sandbox, "1001") == [1, 2]
    assert [p["quantity"] for p in order_of(sandbox, "1001")["products"]] == [1, 5]
    assert order_of(sandbox, "1001")["customer"]["email"] == "c1@example.com"  # the order row came from the store


def test_lines_added_deleted_and_moved(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path)
    first = [
        *orders_msgs(order(1001), order(1002), order(1003)),
        *lines_msgs(line(1, 1001), line(2, 1001), line(3, 1002), line(4, 1003)),
    ]
    ok(run_target(tmp_path, cfg, first))
    before = len(sandbox.requests)
    second = lines_msgs(
        line(5, 1001),  # added
        line(2, 1001, _sdc_deleted_at=TS),  # deleted
        line(3, 1003),  # moved from 1002 to 1003
    )
    run = ok(run_target(tmp_path, cfg, second))
    assert sorted(sent_keys(sandbox, "/v1/orders", before)) == ["1001", "1002", "1003"]
    assert line_ids(sandbox, "1001") == [1, 5]
    assert line_ids(sandbox, "1002") == []
    assert line_ids(sandbox, "1003") == [3, 4]
    assert "orders.products: received 3, " in run.stderr


def test_memberships_added_and_removed(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path)
    customers = [
        schema("public-customers", CUSTOMER_PROPS, ["id"]),
        *(record("public-customers", customer(n)) for n in (1, 2)),
    ]
    ok(run_target(tmp_path, cfg, [*members_msgs((1, 2), (1, 1), (2, 3)), *customers]))
    groups = {c["customer_id"]: c["group_ids"] for c in sandbox.items("customers")}
    assert groups == {"1": ["1", "2"], "2": ["3"]}
    before = len(sandbox.requests)
    ok(run_target(tmp_path, cfg, members_msgs((2, 4), deleted=[(1, 1)])))
    assert sorted(sent_keys(sandbox, "/v1/customers", before)) == ["1", "2"]
    groups = {c["customer_id"]: c["group_ids"] for c in sandbox.items("customers")}
    assert groups == {"1": ["2"], "2": ["3", "4"]}


def test_full_table_membership_sync_removes_rows_it_no_longer_brings(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path)
    customers = [
        schema("public-customers", CUSTOMER_PROPS, ["id"]),
        *(record("public-customers", customer(n)) for n in (1, 2)),
    ]
    activate = {"type": "ACTIVATE_VERSION", "stream": MEMBERS, "version": 1}
    ok(run_target(tmp_path, cfg, [*customers, *members_msgs((1, 1), (1, 2), (2, 3))]))
    before = len(sandbox.requests)
    full_table = [*members_msgs((1, 1), (2, 3))]
    full_table.insert(1, activate)
    ok(run_target(tmp_path, cfg, [*full_table, state({"bookmarks": {}})]))
    assert sent_keys(sandbox, "/v1/customers", before) == ["1"]
    groups = {c["customer_id"]: c["group_ids"] for c in sandbox.items("customers")}
    assert groups == {"1": ["1"], "2": ["3"]}


def test_orphans_wait_for_their_parent_in_a_later_run(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path)
    run = ok(
        run_target(tmp_path, cfg, [*lines_msgs(line(1, 1001), line(2, 1001)), state({"bookmarks": {LINES: {"v": 1}}})])
    )
    assert sandbox.items("orders") == []
    assert re.search(r"orders\.products: received 2, .*, waiting for parent 2$", run.stderr, re.MULTILINE)
    assert run.last_state["bookmarks"] == {LINES: {"v": 1}}
    run = ok(run_target(tmp_path, cfg, orders_msgs(order(1001))))
    assert line_ids(sandbox, "1001") == [1, 2]
    assert "waiting for parent" not in run.stderr


def test_a_deleted_order_takes_its_lines(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path, on_deleted_record="delete")
    ok(run_target(tmp_path, cfg, [*orders_msgs(order(1001)), *lines_msgs(line(1, 1001), line(2, 1001))]))
    assert line_ids(sandbox, "1001") == [1, 2]
    ok(run_target(tmp_path, cfg, orders_msgs(order(1001, _sdc_deleted_at=TS))))
    assert sandbox.items("orders") == []
    ok(run_target(tmp_path, cfg, [*orders_msgs(order(1001)), *lines_msgs(line(3, 1001))]))
    assert line_ids(sandbox, "1001") == [3]


def test_a_checkpoint_holds_state_back_while_parents_wait(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path, checkpoint_interval_seconds=1e-9)  # a checkpoint at every record
    messages = [
        *orders_msgs(order(1001)),
        state({"bookmarks": {ORDERS: {"v": 1}}}),
        *lines_msgs(line(1, 1001)),
        state({"bookmarks": {ORDERS: {"v": 1}, LINES: {"v": 2}}}),
        *lines_msgs(line(2, 1001)),
        state({"bookmarks": {ORDERS: {"v": 1}, LINES: {"v": 3}}}),
    ]
    run = ok(run_target(tmp_path, cfg, messages))
    assert [s["bookmarks"] for s in run.states] == [{ORDERS: {"v": 1}, LINES: {"v": 3}}]
    assert line_ids(sandbox, "1001") == [1, 2]


def test_state_is_not_held_by_unchanged_child_rows(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path, checkpoint_interval_seconds=1e-9)  # a checkpoint at every record
    ok(run_target(tmp_path, cfg, [*orders_msgs(order(1001)), *lines_msgs(line(1, 1001))]))
    again = [*lines_msgs(line(1, 1001)), state({"bookmarks": {LINES: {"v": 1}}}), *lines_msgs(line(1, 1001))]
    run = ok(run_target(tmp_path, cfg, [*again, state({"bookmarks": {LINES: {"v": 2}}})]))
    assert [s["bookmarks"] for s in run.states] == [{LINES: {"v": 1}}, {LINES: {"v": 2}}]


@pytest.mark.parametrize("bookmarked", [ORDERS, LINES])
def test_lost_store_guard_stops_a_resumed_run(sandbox: Sandbox, tmp_path: pathlib.Path, bookmarked: str) -> None:
    resumed = state({"bookmarks": {bookmarked: {"replication_key": "updated_at", "replication_key_value": TS}}})
    messages = [resumed, *orders_msgs(order(1001)), *lines_msgs(line(1, 1001))]
    run = run_target(tmp_path, config(sandbox, tmp_path), messages)
    assert run.returncode == 1
    assert sent_keys(sandbox, "/v1/orders") == []
    assert run.states == []
    last = run.stderr.strip().splitlines()[-1]
    assert str(tmp_path / "store") in last
    assert "--full-refresh" in last


def test_lost_store_guard_lets_a_known_store_resume(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = config(sandbox, tmp_path)
    ok(run_target(tmp_path, cfg, [*orders_msgs(order(1001)), *lines_msgs(line(1, 1001))]))
    resumed = state({"bookmarks": {ORDERS: {"replication_key": "updated_at", "replication_key_value": TS}}})
    before = len(sandbox.requests)
    ok(run_target(tmp_path, cfg, [resumed, *lines_msgs(line(2, 1001))]))
    assert sent_keys(sandbox, "/v1/orders", before) == ["1001"]
    assert line_ids(sandbox, "1001") == [1, 2]


def test_value_arrays_on_every_language_row_of_a_product(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    def product(lang: str) -> dict:
        return {
            "product_id": 7,
            "lang": lang,
            "name": f"Chair ({lang})",
            "link": "https://shop.example/p/7",
            "currency": "EUR",
            "price": 20,
            "quantity_remaining": 3,
            "is_active": True,
            "created_at": TS,
            "updated_at": TS,
        }

    messages = [
        schema(CATEGORIES, CATEGORY_PROPS, ["product_id", "category_id"]),
        *(record(CATEGORIES, {"product_id": 7, "category_id": c}) for c in (11, 3)),
        schema("public-products", PRODUCT_PROPS, ["product_id", "lang"]),
        record("public-products", product("fr")),
        record("public-products", product("en")),
    ]
    ok(run_target(tmp_path, config(sandbox, tmp_path), messages))
    rows = {p["lang"]: p["category_ids"] for p in sandbox.items("products")}
    assert rows == {"fr": [3, 11], "en": [3, 11]}


def test_a_line_breaking_a_nested_rule_is_rejected_and_the_order_goes_without_it(
    sandbox: Sandbox, tmp_path: pathlib.Path
) -> None:
    messages = [*orders_msgs(order(1001)), *lines_msgs(line(1, 1001), line(2, 1001, quantity="many"))]
    # A tap STATE to carry the report (a run without one prints no STATE at all).
    run = ok(run_target(tmp_path, config(sandbox, tmp_path), [*messages, state({"bookmarks": {}})]))
    rejected = run.last_state["target_shopimind"]["rejected"]
    assert [(r["stream"], r["resource"], r["key"], r["stage"]) for r in rejected] == [
        (LINES, "orders.products", "[2]", "validation")
    ]
    assert rejected[0]["errors"] == ["products.quantity: must be an integer"]
    assert line_ids(sandbox, "1001") == [1]


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (
            {"into": "orders.customer", "parent_key": "order_id"},
            "valid: customers.group_ids, orders.products, products.category_ids",
        ),
        ({"into": "customers.group_ids", "parent_key": "customer_id"}, "name the column holding each value"),
        ({"into": "orders.products"}, "parent_key"),
    ],
)
def test_bad_child_streams_entries_are_config_errors(
    sandbox: Sandbox, tmp_path: pathlib.Path, entry: dict, fragment: str
) -> None:
    cfg = target_config(sandbox, store_path=str(tmp_path / "store"), child_streams={LINES: entry})
    run = run_target(tmp_path, cfg, orders_msgs(order(1001)))
    assert run.returncode != 0
    assert fragment in run.stderr
    assert sandbox.requests == []


def test_a_dry_run_assembles_but_keeps_nothing(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    messages = [*orders_msgs(order(1001)), *lines_msgs(line(1, 1001), line(2, 1001)), state({"bookmarks": {}})]
    run = ok(run_target(tmp_path, config(sandbox, tmp_path, dry_run=True), messages))
    assert sandbox.requests == []
    assert "orders: received 1, would send 1," in run.stderr
    ok(run_target(tmp_path, config(sandbox, tmp_path), orders_msgs(order(1001))))
    assert line_ids(sandbox, "1001") == []  # the dry run's lines were not kept


def test_a_rejected_line_is_replayed_once_the_mapping_is_fixed(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    messages = [*orders_msgs(order(1001)), *lines_msgs(line(1, 1001), line(2, 1001, quantity="3 pieces"))]
    first = ok(run_target(tmp_path, config(sandbox, tmp_path), [*messages, state({"bookmarks": {}})]))
    assert first.last_state["target_shopimind"]["rejected_count"] == {"orders.products": 1}
    assert line_ids(sandbox, "1001") == [1]
    fixed = config(sandbox, tmp_path, stream_maps={LINES: {"quantity": "str(quantity).split(' ')[0]"}})
    # The lines stream comes again without that row (the tap's bookmark moved past it).
    second = ok(run_target(tmp_path, fixed, [*lines_msgs(), state({"bookmarks": {}})]))
    assert second.last_state["target_shopimind"]["rejected_count"] == {}
    assert line_ids(sandbox, "1001") == [1, 2]
    assert [p["quantity"] for p in order_of(sandbox, "1001")["products"]] == [1, 3]
    third = ok(run_target(tmp_path, fixed, [*lines_msgs(), state({"bookmarks": {}})]))
    assert third.last_state["target_shopimind"]["rejected_count"] == {}
    assert "orders.products: received 0, " in third.stderr  # nothing left to replay
