"""`meltano run tap-postgres target-shopimind` against a real PostgreSQL and the sandbox.

A first run loads the whole shop (INCREMENTAL on updated_at, orders through the json_agg
view); a second run, after some updates and inserts, must send only those rows (the boundary
row tap-postgres re-sends is unchanged: the sync store skips it), and they overwrite by upsert key.
"""

from __future__ import annotations

import dataclasses
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

STATE_ID = "dev:tap-postgres-to-target-shopimind"
SELECTED_STREAMS = {f"shop-{table}" for table in shop.RESOURCE_OF if table != "orders"} | {"shop-orders_with_lines"}
RESOURCES = sorted(set(shop.RESOURCE_OF.values()))


@dataclasses.dataclass
class Run:
    output: str
    items: dict[str, dict[str, dict]]  # resource -> key -> stored item (snapshot right after the run)
    requests: list[dict]  # sandbox request log entries of this run
    state: dict
    elapsed: float


def typed(value: object) -> object:
    """A value with its JSON type spelled out, so True != 1 and 1 != 1.0 in comparisons."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def assert_item(stored: dict, expected: dict, where: str) -> None:
    missing = sorted(set(expected) - set(stored))
    assert not missing, f"{where}: fields missing from the stored item: {missing}\nstored: {stored}"
    for field, value in expected.items():
        assert typed(stored[field]) == typed(value), f"{where}.{field}: stored {stored[field]!r}, expected {value!r}"


@pytest.fixture(scope="module")
def shop_db(pg: PgCluster) -> str:
    pg.recreate_database("shop")
    inserts = "\n".join(
        insert_sql(f"shop.{table}", [row for row, _ in shop.TABLES[table]], shop.CASTS.get(table))
        for table in shop.INSERT_ORDER
    )
    pg.psql(shop.DDL + inserts, "shop")
    return "shop"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as sb:
        yield sb


@pytest.fixture(scope="module")
def rejects_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rejects") / "rejected.jsonl"


def _run(meltano: Meltano, pg: PgCluster, sandbox: Sandbox, rejects: Path) -> Run:
    before = len(sandbox.requests)
    env = {**tap_env(pg, "shop"), **target_env(sandbox.url, rejects)}
    done = meltano("--log-format=json", "run", "tap-postgres", "target-shopimind", extra_env=env)
    items = {
        resource: {shop.key_of(resource, item): item for item in sandbox.items(resource)} for resource in RESOURCES
    }
    return Run(
        output=done.stdout + done.stderr,
        items=items,
        requests=sandbox.requests[before:],
        state=meltano.state(STATE_ID),
        elapsed=done.elapsed,  # type: ignore[attr-defined]
    )


@pytest.fixture(scope="module")
def first_run(meltano: Meltano, pg: PgCluster, shop_db: str, sandbox: Sandbox, rejects_file: Path) -> Run:
    return _run(meltano, pg, sandbox, rejects_file)


@pytest.fixture(scope="module")
def second_run(first_run: Run, meltano: Meltano, pg: PgCluster, sandbox: Sandbox, rejects_file: Path) -> Run:
    pg.psql(shop.SECOND_RUN_SQL, "shop")
    return _run(meltano, pg, sandbox, rejects_file)


def sent_keys(run: Run) -> dict[str, set[str]]:
    """Upsert keys each resource's bulk endpoint received (200 answers) during a run."""
    keys: dict[str, set[str]] = {}
    for entry in run.requests:
        if entry.get("method") == "POST" and entry.get("status") == 200 and "bulk-delete" not in entry.get("path", ""):
            keys.setdefault(entry["resource"], set()).update(entry.get("keys") or [])
    return keys


def test_every_row_arrives_as_the_expected_item(first_run: Run) -> None:
    counts = {}
    for resource in RESOURCES:
        expected = shop.expected_items(resource)
        stored = first_run.items[resource]
        assert set(stored) == set(expected), f"{resource}: stored keys {sorted(stored)} != expected {sorted(expected)}"
        for key, item in expected.items():
            assert_item(stored[key], item, f"{resource}[{key}]")
        counts[resource] = len(stored)
    print(f"\nitems per resource after the first run: {json.dumps(counts, sort_keys=True)}")
    # Only the view feeds `orders`: the raw orders/order_lines tables were not selected.
    assert not any(
        e.get("resource") == "orders" and e.get("items", 0) > len(shop.expected_items("orders"))
        for e in first_run.requests
    )


def test_the_target_reports_a_summary(first_run: Run) -> None:
    events = log_events(first_run.output, "target-shopimind")
    total = [e for e in events if e.strip().startswith("total:")]
    assert total, "no summary total line from target-shopimind in the meltano log"
    valid = sum(len(shop.expected_items(r)) for r in RESOURCES)
    assert f"sent {valid}," in total[-1], total[-1]
    assert f"rejected {len(shop.REJECTED)}," in total[-1], total[-1]


def test_state_holds_tap_bookmarks_and_the_target_report(first_run: Run, rejects_file: Path) -> None:
    state = first_run.state.get("singer_state", {})
    bookmarks = state.get("bookmarks", {})
    assert set(bookmarks) >= SELECTED_STREAMS, f"bookmarks for {sorted(bookmarks)}"
    for table, resource in shop.RESOURCE_OF.items():
        stream = "shop-orders_with_lines" if table == "orders" else f"shop-{table}"
        bookmark = bookmarks[stream]
        assert bookmark.get("replication_key") == "updated_at", (stream, bookmark)
        latest = max(row["updated_at"] for row, _ in shop.TABLES[table])  # '2026-01-06 12:00:00+00'
        assert str(bookmark["replication_key_value"]).startswith(latest[:10] + "T" + latest[11:19]), (
            stream,
            bookmark,
            resource,
        )

    report = state.get("target_shopimind")
    assert report is not None, f"no target_shopimind key in the state: {sorted(state)}"
    assert report["rejected_count"] == dict.fromkeys(shop.REJECTED, 1)
    for resource, (key, field) in shop.REJECTED.items():
        entries = [e for e in report["rejected"] if e["resource"] == resource and e["key"] == key]
        assert len(entries) == 1, (resource, key, report["rejected"])
        entry = entries[0]
        assert entry["stage"] == "validation"
        assert entry["stream"].startswith("shop-")
        assert any(field in error for error in entry["errors"]), entry

    lines = [json.loads(line) for line in rejects_file.read_text().splitlines()]
    assert {(line["resource"], line["key"]) for line in lines} == {(r, k) for r, (k, _) in shop.REJECTED.items()}
    assert all(isinstance(line["record"], dict) for line in lines)
    assert "api_key" not in json.dumps(state) and "sandbox-key" not in json.dumps(state)


def test_second_run_sends_only_changed_rows_not_the_boundary_row(first_run: Run, second_run: Run) -> None:
    boundary = shop.boundary_keys()
    sent = sent_keys(second_run)
    unchanged = second_run.state["singer_state"]["target_shopimind"]["unchanged_count"]
    for resource in RESOURCES:
        changed = shop.SECOND_RUN_CHANGED.get(resource, set())
        assert sent.get(resource, set()) == changed, (
            f"{resource}: second run sent {sorted(sent.get(resource, set()))}, expected {sorted(changed)}"
        )
        # The boundary row came again, with the bytes ShopiMind already has: not sent.
        assert unchanged.get(resource, 0) == len(boundary[resource] - changed), (resource, unchanged)
    total_first = sum(len(v) for v in sent_keys(first_run).values())
    total_second = sum(len(v) for v in sent.values())
    print(
        f"\nfirst run sent {total_first} items, second run {total_second}: {json.dumps({k: sorted(v) for k, v in sent.items()}, sort_keys=True)}"
    )
    assert total_second < total_first


def test_second_run_overwrites_by_upsert_key(first_run: Run, second_run: Run) -> None:
    for resource in RESOURCES:
        added = {k for r, k in shop.SECOND_RUN_ITEMS if r == resource} - set(first_run.items[resource])
        assert set(second_run.items[resource]) == set(first_run.items[resource]) | added, resource
    for (resource, key), fields in shop.SECOND_RUN_ITEMS.items():
        assert_item(second_run.items[resource][key], fields, f"second run {resource}[{key}]")
    # Untouched rows keep their first-run content.
    assert second_run.items["customers"]["1"] == first_run.items["customers"]["1"]


def test_second_run_state_moves_the_bookmarks(second_run: Run) -> None:
    bookmarks = second_run.state["singer_state"]["bookmarks"]
    assert bookmarks["shop-customers"]["replication_key_value"].startswith("2026-02-01T09:30:00")
    assert bookmarks["shop-orders_with_lines"]["replication_key_value"].startswith("2026-02-01T10:00:00")
    assert bookmarks["shop-carriers"]["replication_key_value"].startswith("2026-01-02T10:00:00")
    # Nothing was fixed: the kept rejections were replayed, refused again and reported again.
    report = second_run.state["singer_state"]["target_shopimind"]
    assert report["rejected_count"] == dict.fromkeys(shop.REJECTED, 1)
    assert sum(report.get("still_rejected_count", {}).values()) == sum(report.get("replayed_count", {}).values())
