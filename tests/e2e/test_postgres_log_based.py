"""LOG_BASED replication (wal2json): `meltano run tap-postgres-cdc target-shopimind`.

Inserts, updates and deletes are read from a logical replication slot; with
`on_deleted_record: delete` (set in meltano.yml) the deleted rows reach ShopiMind's
bulk-delete endpoints, addresses through their per-customer route.
"""

from __future__ import annotations

import dataclasses
import typing as t

import pytest

from target_shopimind.sandbox import Sandbox

from . import shop_data as shop
from .e2e_support import insert_sql, tap_env, target_env

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from .e2e_support import Meltano, PgCluster

DATABASE = "shop_cdc"
SLOT = "shopimind"  # replication_slot_name of tap-postgres-cdc in meltano.yml
STATE_ID = "dev:tap-postgres-cdc-to-target-shopimind"


@dataclasses.dataclass
class CdcRun:
    customers: dict[str, dict]
    addresses: dict[str, dict]
    requests: list[dict]
    state: dict


@pytest.fixture(scope="module")
def cdc_db(pg: PgCluster) -> str:
    pg.recreate_database(DATABASE)
    pg.psql(shop.DDL, DATABASE)
    try:
        pg.psql(f"SELECT pg_create_logical_replication_slot('{SLOT}', 'wal2json')", DATABASE)
    except AssertionError as exc:  # the exact server error, e.g. wal2json not installed
        pytest.fail(f"cannot create a wal2json replication slot (apt-get install postgresql-15-wal2json): {exc}")
    customers = [row for row, item in shop.TABLES["customers"] if item is not None]
    addresses = [row for row, item in shop.TABLES["addresses"] if item is not None]
    pg.psql(
        insert_sql("shop.customers", customers, shop.CASTS["customers"])
        + "\n"
        + insert_sql("shop.addresses", addresses),
        DATABASE,
    )
    return DATABASE


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as sb:
        yield sb


def _run(meltano: Meltano, pg: PgCluster, sandbox: Sandbox, rejects: Path) -> CdcRun:
    before = len(sandbox.requests)
    env = {
        **tap_env(pg, DATABASE),
        **tap_env(pg, DATABASE, prefix="TAP_POSTGRES_CDC"),
        **target_env(sandbox.url, rejects),
        # Stop reading the slot after 2 s without changes.
        "TAP_POSTGRES_CDC_REPLICATION_IDLE_EXIT_SECONDS": "2",
    }
    meltano("--log-format=json", "run", "tap-postgres-cdc", "target-shopimind", extra_env=env)
    return CdcRun(
        customers={i["customer_id"]: i for i in sandbox.items("customers")},
        addresses={f"{i['customer_id']}|{i['address_id']}": i for i in sandbox.items("customers_addresses")},
        requests=sandbox.requests[before:],
        state=meltano.state(STATE_ID),
    )


@pytest.fixture(scope="module")
def cdc_first(
    meltano: Meltano, pg: PgCluster, cdc_db: str, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> CdcRun:
    return _run(meltano, pg, sandbox, tmp_path_factory.mktemp("cdc") / "rejected.jsonl")


@pytest.fixture(scope="module")
def cdc_second(
    cdc_first: CdcRun, meltano: Meltano, pg: PgCluster, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> CdcRun:
    pg.psql(
        """
        DELETE FROM shop.addresses WHERE id = 21;
        DELETE FROM shop.customers WHERE id = 2;
        UPDATE shop.customers SET last_name = 'Martin-Durand', updated_at = '2026-02-02 08:00:00+00' WHERE id = 1;
        """,
        DATABASE,
    )
    return _run(meltano, pg, sandbox, tmp_path_factory.mktemp("cdc2") / "rejected.jsonl")


def test_log_based_first_run_loads_the_inserted_rows(cdc_first: CdcRun) -> None:
    assert set(cdc_first.customers) == set(shop.expected_items("customers"))
    for key, item in shop.expected_items("customers").items():
        for field, value in item.items():
            assert cdc_first.customers[key][field] == value, (key, field, cdc_first.customers[key][field], value)
    assert set(cdc_first.addresses) == set(shop.expected_items("customers_addresses"))
    bookmarks = cdc_first.state["singer_state"]["bookmarks"]
    assert bookmarks["shop-customers"]["replication_key"] == "_sdc_lsn"
    assert isinstance(bookmarks["shop-customers"]["replication_key_value"], int)


def test_log_based_deletes_reach_bulk_delete(cdc_second: CdcRun) -> None:
    deletes = [e for e in cdc_second.requests if "bulk-delete" in e.get("path", "")]
    by_path = {e["path"]: e for e in deletes}
    assert "/v1/customers/bulk-delete" in by_path, [e.get("path") for e in cdc_second.requests]
    assert by_path["/v1/customers/bulk-delete"]["keys"] == ["2"]
    assert by_path["/v1/customers/bulk-delete"]["status"] == 200
    assert "/v1/customers/2/addresses/bulk-delete" in by_path, sorted(by_path)
    assert by_path["/v1/customers/2/addresses/bulk-delete"]["keys"] == ["2|21"]
    # What is left in ShopiMind: the deleted rows are gone, the update overwrote.
    assert set(cdc_second.customers) == {"1", "3"}
    assert set(cdc_second.addresses) == {"1|11"}
    assert cdc_second.customers["1"]["last_name"] == "Martin-Durand"
    # Only the changes travelled: no re-send of unchanged customer 3.
    upserted = {k for e in cdc_second.requests if e.get("path") == "/v1/customers" for k in e.get("keys", [])}
    assert upserted == {"1"}
