"""`meltano run tap-postgres target-shopimind` loading a table of the shop's own into custom data.

The repository's meltano.yml selects `shop-loyalty_accounts` and maps it (custom_data) to a
"Loyalty accounts" definition linked to contacts by e-mail, as the README's worked example
does. A first run creates the definition from the table's schema and loads the rows; a second
run, after a column was added and two rows changed (`--refresh-catalog`, so the tap
discovers the column), extends the definition and upserts.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

import pytest

from target_shopimind.sandbox import Sandbox

from .e2e_support import insert_sql, tap_env, target_env

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from .e2e_support import Meltano, PgCluster

DATABASE = "loyalty"
STATE_ID = "dev:tap-postgres-to-target-shopimind"
DEFINITION = "Loyalty accounts"
ROWS = 45
BAD_EMAIL_ID = 45  # this row's e-mail is invalid on purpose
DDL = """
CREATE SCHEMA shop;
CREATE TABLE shop.loyalty_accounts (
    account_id integer PRIMARY KEY,
    email      text NOT NULL,
    points     integer NOT NULL DEFAULT 0,
    tier       text,
    balance    numeric(10, 2),
    opened_at  timestamptz,
    updated_at timestamptz NOT NULL
);
"""
SECOND_RUN_SQL = """
ALTER TABLE shop.loyalty_accounts ADD COLUMN note text;
UPDATE shop.loyalty_accounts SET points = 9999, note = 'vip', updated_at = '2026-03-01 10:00:00+00'
 WHERE account_id IN (3, 7);
"""


def rows() -> list[dict[str, object]]:
    return [
        {
            "account_id": n,
            "email": "not-an-email" if n == BAD_EMAIL_ID else f"member{n}@example.com",
            "points": n * 10,
            "tier": "gold" if n % 3 == 0 else "silver",
            "balance": n + 0.5,
            "opened_at": f"2025-01-{1 + n % 28:02d} 09:00:00+01",
            "updated_at": f"2026-01-{1 + n % 28:02d} 12:00:00+00",
        }
        for n in range(1, ROWS + 1)
    ]


@dataclasses.dataclass
class Run:
    records: list[dict]
    definitions: list[dict]
    requests: list[dict]
    state: dict


@pytest.fixture(scope="module")
def loyalty_db(pg: PgCluster, meltano: Meltano) -> Iterator[str]:
    pg.recreate_database(DATABASE)
    pg.psql(DDL + insert_sql("shop.loyalty_accounts", rows()), DATABASE)
    meltano("state", "clear", "--force", STATE_ID, check=False)  # the shop tests use this state id too
    yield DATABASE
    meltano("state", "clear", "--force", STATE_ID, check=False)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as sb:
        yield sb


@pytest.fixture(scope="module")
def rejects_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rejects") / "rejected.jsonl"


def _run(meltano: Meltano, pg: PgCluster, sandbox: Sandbox, rejects: Path, *options: str) -> Run:
    before = len(sandbox.requests)
    env = {**tap_env(pg, DATABASE), **target_env(sandbox.url, rejects)}
    meltano("--log-format=json", "run", *options, "tap-postgres", "target-shopimind", extra_env=env)
    return Run(
        records=sandbox.items(f"custom:{DEFINITION}"),
        definitions=sandbox.items("custom_data_definitions"),
        requests=sandbox.requests[before:],
        state=meltano.state(STATE_ID).get("singer_state", {}),
    )


@pytest.fixture(scope="module")
def first_run(meltano: Meltano, pg: PgCluster, loyalty_db: str, sandbox: Sandbox, rejects_file: Path) -> Run:
    return _run(meltano, pg, sandbox, rejects_file)


@pytest.fixture(scope="module")
def second_run(first_run: Run, meltano: Meltano, pg: PgCluster, sandbox: Sandbox, rejects_file: Path) -> Run:
    pg.psql(SECOND_RUN_SQL, DATABASE)
    # Meltano caches the tap's catalog: a new column needs a fresh discovery.
    return _run(meltano, pg, sandbox, rejects_file, "--refresh-catalog")


def record_posts(run: Run) -> list[int]:
    return [
        e["items"]
        for e in run.requests
        if e["method"] == "POST" and e["path"].startswith("/v1/custom-data-records/") and e["status"] == 200
    ]


def test_first_run_creates_the_definition_from_the_table(first_run: Run) -> None:
    [definition] = first_run.definitions
    assert definition["name"] == DEFINITION
    assert definition["status"] == "active"
    assert definition["unique_keys"] == ["account_id"]
    assert {f["name"]: (f["type"], f["required"]) for f in definition["fields"]} == {
        "account_id": ("number", True),
        "email": ("text", False),
        "points": ("number", False),
        "tier": ("text", False),
        "balance": ("decimal", False),
        "opened_at": ("datetime", False),
        "updated_at": ("datetime", False),
    }
    assert definition["relationships"] == [
        {"sourceField": "email", "targetSchemaType": "system", "targetSchema": "contacts"}
    ]


def test_first_run_loads_every_valid_row_in_batches_of_20(first_run: Run, rejects_file: Path) -> None:
    by_id = {r["account_id"]: r for r in first_run.records}
    assert sorted(by_id) == [n for n in range(1, ROWS + 1) if n != BAD_EMAIL_ID]
    assert by_id[3] == {
        "account_id": 3,
        "email": {"by": "email", "value": "member3@example.com"},
        "points": 30,
        "tier": "gold",
        "balance": 3.5,
        "opened_at": "2025-01-04T08:00:00.000Z",
        "updated_at": "2026-01-04T12:00:00.000Z",
    }
    assert record_posts(first_run) == [20, 20, 4]
    report = first_run.state["target_shopimind"]
    assert report["rejected_count"] == {f"custom:{DEFINITION}": 1}
    [line] = [json.loads(x) for x in rejects_file.read_text().splitlines()]
    assert (line["resource"], line["key"], line["stage"]) == (f"custom:{DEFINITION}", str(BAD_EMAIL_ID), "validation")
    assert [e.split(":")[0] for e in line["errors"]] == ["email.value"]
    print(f"\nfirst run: {len(first_run.records)} records in {len(record_posts(first_run))} requests, 1 rejected")


def test_second_run_extends_the_definition_and_upserts(first_run: Run, second_run: Run) -> None:
    [definition] = second_run.definitions
    assert [f["name"] for f in definition["fields"]][-1] == "note"
    assert [f["type"] for f in definition["fields"]][-1] == "text"
    patches = [e["path"] for e in second_run.requests if e["method"] == "PATCH"]
    assert patches == [
        f"/v1/custom-data-definitions/{definition['id_definition']}/extend",
        f"/v1/custom-data-definitions/{definition['id_definition']}/activate",
    ]
    assert len(second_run.records) == len(first_run.records)  # upserted on account_id, not inserted
    by_id = {r["account_id"]: r for r in second_run.records}
    assert (by_id[3]["points"], by_id[3]["note"]) == (9999, "vip")
    assert (by_id[7]["points"], by_id[7]["note"]) == (9999, "vip")
    assert by_id[4] == next(r for r in first_run.records if r["account_id"] == 4)  # untouched
    sent = sum(record_posts(second_run))
    assert 2 <= sent <= 3  # the two changed rows, and the boundary row tap-postgres re-reads
    print(f"\nsecond run: {sent} records sent, {len(second_run.records)} held")
