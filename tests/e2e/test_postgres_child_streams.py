"""Child streams from raw PostgreSQL tables through `meltano run` (tap-postgres, tap-postgres-cdc).

orders, order_lines, customer_group and category_product are plain tables (no view): the
target assembles lines into orders.products, memberships into customers.group_ids and
categories into products.category_ids. A second INCREMENTAL run after changing only lines
(the orders rows untouched) re-sends those orders complete; a LOG_BASED run on order_lines
with a deleted line re-sends its order without it; with the store deleted, a resumed run
stops (lost-store guard) and a full refresh heals it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import typing as t

import pytest

from target_shopimind.sandbox import Sandbox

from .e2e_support import log_events, tap_env, target_env

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from .e2e_support import Meltano, PgCluster

DATABASE = "kids_shop"
SLOT = "kids_lines"
SUFFIX = "children"
STATE_ID = f"dev:tap-postgres-to-target-shopimind:{SUFFIX}"

DDL = """
CREATE SCHEMA kids;
CREATE TABLE kids.customers (
    id integer PRIMARY KEY, email text NOT NULL, first_name text NOT NULL, last_name text NOT NULL,
    lang text NOT NULL, is_newsletter_subscribed boolean NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE kids.customer_group (
    customer_id integer NOT NULL, group_id integer NOT NULL, PRIMARY KEY (customer_id, group_id));
CREATE TABLE kids.products (
    product_id integer NOT NULL, lang text NOT NULL, name text NOT NULL, link text NOT NULL,
    currency text NOT NULL, price numeric(10, 2) NOT NULL, quantity_remaining integer NOT NULL,
    is_active boolean NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    PRIMARY KEY (product_id, lang));
CREATE TABLE kids.category_product (
    product_id integer NOT NULL, category_id integer NOT NULL, PRIMARY KEY (product_id, category_id));
CREATE TABLE kids.orders (
    id integer PRIMARY KEY, lang text NOT NULL, status_id text NOT NULL, customer_id integer NOT NULL,
    customer_email text NOT NULL, customer_created_at timestamptz NOT NULL, cart_id integer NOT NULL,
    amount numeric(10, 2) NOT NULL, amount_without_tax numeric(10, 2) NOT NULL,
    shipping_costs numeric(10, 2) NOT NULL, shipping_costs_without_tax numeric(10, 2) NOT NULL,
    currency text NOT NULL, is_confirmed boolean NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE kids.order_lines (
    id integer PRIMARY KEY, order_id integer NOT NULL, product_id integer NOT NULL,
    price numeric(10, 2) NOT NULL, price_without_tax numeric(10, 2) NOT NULL, quantity integer NOT NULL,
    updated_at timestamptz NOT NULL);
ALTER TABLE kids.order_lines REPLICA IDENTITY FULL;
"""

ROWS = """
INSERT INTO kids.customers VALUES
  (1, 'c1@example.com', 'Ada', 'Lovelace', 'fr', true, '2026-01-01 08:00:00+00', '2026-01-01 08:00:00+00'),
  (2, 'c2@example.com', 'Alan', 'Turing', 'fr', false, '2026-01-01 08:00:00+00', '2026-01-02 08:00:00+00');
INSERT INTO kids.customer_group VALUES (1, 1), (1, 2), (2, 3);
INSERT INTO kids.products VALUES
  (7, 'fr', 'Chaise', 'https://shop.example/p/7', 'EUR', 20, 3, true, '2026-01-01 08:00:00+00', '2026-01-01 08:00:00+00'),
  (7, 'en', 'Chair', 'https://shop.example/en/p/7', 'EUR', 20, 3, true, '2026-01-01 08:00:00+00', '2026-01-01 08:00:00+00'),
  (8, 'fr', 'Table', 'https://shop.example/p/8', 'EUR', 90, 1, true, '2026-01-01 08:00:00+00', '2026-01-02 08:00:00+00');
INSERT INTO kids.category_product VALUES (7, 11), (7, 3), (8, 3);
INSERT INTO kids.orders VALUES
  (1001, 'fr', 'paid', 1, 'c1@example.com', '2026-01-01 08:00:00+00', 5001, 30, 25, 0, 0, 'EUR', true,
   '2026-01-03 08:00:00+00', '2026-01-03 08:00:00+00'),
  (1002, 'fr', 'paid', 2, 'c2@example.com', '2026-01-01 08:00:00+00', 5002, 20, 16.67, 0, 0, 'EUR', true,
   '2026-01-03 09:00:00+00', '2026-01-03 09:00:00+00'),
  (1003, 'fr', 'paid', 1, 'c1@example.com', '2026-01-01 08:00:00+00', 5003, 110, 91.67, 0, 0, 'EUR', true,
   '2026-01-03 10:00:00+00', '2026-01-03 10:00:00+00');
INSERT INTO kids.order_lines VALUES
  (1, 1001, 7, 10, 8.33, 1, '2026-01-03 08:00:00+00'),
  (2, 1001, 8, 20, 16.67, 1, '2026-01-03 08:00:00+00'),
  (3, 1002, 7, 20, 16.67, 1, '2026-01-03 09:00:00+00'),
  (4, 1003, 8, 90, 75, 1, '2026-01-03 10:00:00+00'),
  (5, 1003, 7, 20, 16.67, 1, '2026-01-03 10:00:00+00');
"""

# Run 2: only lines change (an update in 1002, an insert in 1003); the orders rows are untouched.
SECOND_RUN_SQL = """
UPDATE kids.order_lines SET quantity = 3, updated_at = '2026-02-01 08:00:00+00' WHERE id = 3;
INSERT INTO kids.order_lines VALUES (6, 1003, 7, 20, 16.67, 2, '2026-02-01 09:00:00+00');
"""

STREAMS = ["customers", "customer_group", "products", "category_product", "orders", "order_lines"]
CHILD_STREAMS = {
    "kids-order_lines": {"into": "orders.products", "parent_key": "order_id"},
    "kids-customer_group": {"into": "customers.group_ids", "parent_key": "customer_id", "value": "group_id"},
    "kids-category_product": {"into": "products.category_ids", "parent_key": "product_id", "value": "category_id"},
}
METADATA = {
    "kids-*": {"replication-method": "INCREMENTAL", "replication-key": "updated_at"},
    "kids-customer_group": {"replication-method": "FULL_TABLE", "replication-key": None},
    "kids-category_product": {"replication-method": "FULL_TABLE", "replication-key": None},
}


@dataclasses.dataclass
class Run:
    returncode: int
    output: str
    requests: list[dict]

    def sent(self, path: str) -> list[str]:
        return [k for e in self.requests if e["path"] == path and e["status"] == 200 for k in e["keys"]]

    @property
    def target_log(self) -> str:
        """What target-shopimind logged (the reason a run failed is its last line)."""
        return "\n".join(log_events(self.output, "target-shopimind"))[-6000:]


@pytest.fixture(scope="module")
def kids_db(pg: PgCluster) -> str:
    pg.recreate_database(DATABASE)
    pg.psql(DDL, DATABASE)
    try:
        pg.psql(f"SELECT pg_create_logical_replication_slot('{SLOT}', 'wal2json')", DATABASE)
    except AssertionError as exc:
        pytest.fail(f"cannot create a wal2json replication slot (apt-get install postgresql-15-wal2json): {exc}")
    pg.psql(ROWS, DATABASE)
    return DATABASE


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as sb:
        yield sb


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store")


def _env(pg: PgCluster, sandbox: Sandbox, store: Path) -> dict[str, str]:
    rejects = store.parent / "rejected.jsonl"
    return {
        **tap_env(pg, DATABASE),
        **tap_env(pg, DATABASE, prefix="TAP_POSTGRES_CDC"),
        **target_env(sandbox.url, rejects),
        "TAP_POSTGRES_FILTER_SCHEMAS": '["kids"]',
        "TAP_POSTGRES__SELECT": json.dumps([f"kids-{s}.*" for s in STREAMS]),
        "TAP_POSTGRES__METADATA": json.dumps(METADATA),
        "TAP_POSTGRES_EMIT_ACTIVATE_VERSION_MESSAGES": "true",
        "TAP_POSTGRES_CDC_FILTER_SCHEMAS": '["kids"]',
        "TAP_POSTGRES_CDC_REPLICATION_SLOT_NAME": SLOT,
        "TAP_POSTGRES_CDC_REPLICATION_IDLE_EXIT_SECONDS": "2",
        "TAP_POSTGRES_CDC__SELECT": json.dumps(["kids-order_lines.*"]),
        "TAP_POSTGRES_CDC__METADATA": json.dumps({"kids-*": {"replication-method": "LOG_BASED"}}),
        "TARGET_SHOPIMIND_CHILD_STREAMS": json.dumps(CHILD_STREAMS),
        "TARGET_SHOPIMIND_STORE_PATH": str(store),
    }


def _run(meltano: Meltano, pg: PgCluster, sandbox: Sandbox, store: Path, tap: str = "tap-postgres", *extra: str) -> Run:
    before = len(sandbox.requests)
    args = ["--log-format=json", "run", f"--state-id-suffix={SUFFIX}", *extra, tap, "target-shopimind"]
    done = meltano(*args, check=False, extra_env=_env(pg, sandbox, store))
    return Run(done.returncode, done.stdout + done.stderr, sandbox.requests[before:])


def lines_of(sandbox: Sandbox) -> dict[str, list[tuple[int, int]]]:
    """Each order's lines as (product_id, quantity), in the order ShopiMind holds them."""
    return {o["order_id"]: [(p["product_id"], p["quantity"]) for p in o["products"]] for o in sandbox.items("orders")}


@pytest.fixture(scope="module")
def runs(meltano: Meltano, pg: PgCluster, kids_db: str, sandbox: Sandbox, store: Path) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {}
    out["first"] = _run(meltano, pg, sandbox, store)
    out["first_lines"] = lines_of(sandbox)
    out["first_groups"] = {c["customer_id"]: c["group_ids"] for c in sandbox.items("customers")}
    out["first_categories"] = {(p["product_id"], p["lang"]): p["category_ids"] for p in sandbox.items("products")}
    pg.psql(SECOND_RUN_SQL + "DELETE FROM kids.customer_group WHERE customer_id = 1 AND group_id = 1;", DATABASE)
    pg.psql("INSERT INTO kids.customer_group VALUES (2, 4);", DATABASE)
    out["second"] = _run(meltano, pg, sandbox, store)
    out["second_lines"] = lines_of(sandbox)
    out["second_groups"] = {c["customer_id"]: c["group_ids"] for c in sandbox.items("customers")}
    out["cdc_first"] = _run(meltano, pg, sandbox, store, "tap-postgres-cdc")
    pg.psql("DELETE FROM kids.order_lines WHERE id = 4;", DATABASE)
    out["cdc_second"] = _run(meltano, pg, sandbox, store, "tap-postgres-cdc")
    out["cdc_lines"] = lines_of(sandbox)
    shutil.rmtree(store)
    store.mkdir()
    out["lost"] = _run(meltano, pg, sandbox, store)
    out["refresh"] = _run(meltano, pg, sandbox, store, "tap-postgres", "--full-refresh")
    out["refresh_lines"] = lines_of(sandbox)
    return out


def test_first_run_assembles_every_parent(runs: dict[str, t.Any]) -> None:
    first = runs["first"]
    assert first.returncode == 0, first.target_log
    assert runs["first_lines"] == {"1001": [(7, 1), (8, 1)], "1002": [(7, 1)], "1003": [(8, 1), (7, 1)]}
    assert runs["first_groups"] == {"1": ["1", "2"], "2": ["3"]}
    assert runs["first_categories"] == {(7, "fr"): [3, 11], (7, "en"): [3, 11], (8, "fr"): [3]}


def test_second_run_resends_the_orders_whose_lines_changed_complete(runs: dict[str, t.Any]) -> None:
    second = runs["second"]
    assert second.returncode == 0, second.target_log
    print(f"\nrun 2 re-sent orders: {sorted(second.sent('/v1/orders'))}")
    assert sorted(second.sent("/v1/orders")) == ["1002", "1003"]
    assert runs["second_lines"] == {"1001": [(7, 1), (8, 1)], "1002": [(7, 3)], "1003": [(8, 1), (7, 1), (7, 2)]}
    # The FULL_TABLE membership table: one removed, one added.
    assert sorted(second.sent("/v1/customers")) == ["1", "2"]
    assert runs["second_groups"] == {"1": ["2"], "2": ["3", "4"]}


def test_log_based_delete_resends_the_order_without_the_line(runs: dict[str, t.Any]) -> None:
    first, second = runs["cdc_first"], runs["cdc_second"]
    assert first.returncode == 0, first.target_log
    assert first.sent("/v1/orders") == []  # the slot replays lines the store already holds: nothing changed
    assert second.returncode == 0, second.target_log
    assert second.sent("/v1/orders") == ["1003"]
    assert runs["cdc_lines"]["1003"] == [(7, 1), (7, 2)]
    print(f"\nlines of order 1003 in ShopiMind after the LOG_BASED delete: {len(runs['cdc_lines']['1003'])}")


def test_lost_store_stops_the_resumed_run_and_a_full_refresh_heals_it(runs: dict[str, t.Any], store: Path) -> None:
    lost = runs["lost"]
    assert lost.returncode != 0
    assert lost.sent("/v1/orders") == []
    assert str(store) in lost.output
    assert "--full-refresh" in lost.output
    refresh = runs["refresh"]
    assert refresh.returncode == 0, refresh.target_log
    assert runs["refresh_lines"] == {"1001": [(7, 1), (8, 1)], "1002": [(7, 3)], "1003": [(7, 1), (7, 2)]}
