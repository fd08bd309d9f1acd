"""Re-reads that the sync store makes free, through `meltano run tap-postgres target-shopimind`.

A FULL_TABLE stream (every table without `updated_at`: memberships, stock, reference
tables) re-sends every row on every run, and `meltano run --full-refresh` re-reads every
table: with the rows unchanged, neither costs a single write request.
"""

from __future__ import annotations

import json
import typing as t

import pytest

from target_shopimind.sandbox import Sandbox

from . import shop_data as shop
from .e2e_support import insert_sql, log_events, tap_env, target_env

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from .e2e_support import Meltano, PgCluster

DATABASE = "shop_resync"
# Every selected table read whole on every run, as tables without a replication key are.
FULL_TABLE = json.dumps({"shop-*": {"replication-method": "FULL_TABLE"}})


@pytest.fixture(scope="module")
def resync_db(pg: PgCluster) -> str:
    pg.recreate_database(DATABASE)
    inserts = "\n".join(
        insert_sql(f"shop.{table}", [row for row, _ in shop.TABLES[table]], shop.CASTS.get(table))
        for table in shop.INSERT_ORDER
    )
    pg.psql(shop.DDL + inserts, DATABASE)
    return DATABASE


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as sb:
        yield sb


def writes(sandbox: Sandbox, since: int = 0) -> list[dict]:
    return [e for e in sandbox.requests[since:] if e.get("method") == "POST"]


def valid_items() -> int:
    return sum(len(shop.expected_items(resource)) for resource in set(shop.RESOURCE_OF.values()))


def run(meltano: Meltano, env: dict[str, str], *args: str) -> str:
    done = meltano("--log-format=json", "run", *args, "tap-postgres", "target-shopimind", extra_env=env)
    return done.stdout + done.stderr


def summary_total(output: str) -> str:
    totals = [e for e in log_events(output, "target-shopimind") if e.strip().startswith("total:")]
    assert totals, "no summary total line from target-shopimind in the meltano log"
    return totals[-1]


def test_a_full_table_stream_sends_nothing_the_second_time(
    meltano: Meltano, pg: PgCluster, resync_db: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    env = {
        **tap_env(pg, resync_db),
        **target_env(sandbox.url, tmp_path / "rejected.jsonl"),
        "TAP_POSTGRES__METADATA": FULL_TABLE,
    }
    suffix = "--state-id-suffix=full-table"
    first = run(meltano, env, suffix)
    assert f"sent {valid_items()}," in summary_total(first)
    after_first = len(sandbox.requests)
    assert after_first > 0
    second = run(meltano, env, suffix)
    assert writes(sandbox, after_first) == []  # every row read again, none sent
    total = summary_total(second)
    assert f"unchanged {valid_items()}," in total, total


def test_full_refresh_costs_no_request_for_unchanged_rows(
    meltano: Meltano, pg: PgCluster, resync_db: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    env = {**tap_env(pg, resync_db), **target_env(sandbox.url, tmp_path / "rejected.jsonl")}
    suffix = "--state-id-suffix=full-refresh"
    run(meltano, env, suffix)  # INCREMENTAL, as meltano.yml selects it
    after_first = len(sandbox.requests)
    assert after_first > 0
    refreshed = run(meltano, env, suffix, "--full-refresh")
    assert writes(sandbox, after_first) == []
    total = summary_total(refreshed)
    assert f"unchanged {valid_items()}," in total, total
