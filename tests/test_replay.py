"""Replay of rejected records kept in the sync store, over real HTTP against the sandbox."""

from __future__ import annotations

import json
import sqlite3
import typing as t

import pytest
from support import API_KEY, customer, customers_stream, record, run_target, state, target_config

from target_shopimind.sandbox import Sandbox
from target_shopimind.store import store_file

if t.TYPE_CHECKING:
    import pathlib
    from collections.abc import Iterator

STREAM = "public-customers"


@pytest.fixture
def strict() -> Iterator[Sandbox]:
    """A sandbox that refuses items lacking SDK-typed fields, such as a customer's `lang`."""
    with Sandbox(port=0, require_sdk_fields=True) as server:
        yield server


def shopper(n: int, **overrides: t.Any) -> dict[str, t.Any]:
    """A customer row with every field the strict sandbox wants (unless overridden)."""
    return customer(n, is_opt_in=False, is_active=True, **overrides)


def kept(server: Sandbox, folder: pathlib.Path) -> dict[str, dict[str, t.Any]]:
    """The kept rejections by key: their record as the tap sent it, stage and errors."""
    with sqlite3.connect(store_file(folder, server.url, API_KEY)) as db:
        rows = db.execute("SELECT key, stream, key_properties, record, stage, errors FROM rejected").fetchall()
    return {
        key: {
            "stream": stream,
            "key_properties": json.loads(props),
            "record": json.loads(raw),
            "stage": stage,
            "errors": json.loads(errors),
        }
        for key, stream, props, raw, stage, errors in rows
    }


def first_run(server: Sandbox, tmp_path: pathlib.Path, folder: pathlib.Path, **extra: t.Any) -> None:
    """Customers 1-5 without a language and no default_lang yet (refused by the API), 6-10 fine,
    11 with a bad e-mail (refused locally)."""
    messages = [
        customers_stream([])[0],
        *(record(STREAM, shopper(n, lang=None)) for n in range(1, 6)),
        *(record(STREAM, shopper(n)) for n in range(6, 11)),
        record(STREAM, shopper(11, email="not-an-email")),
        state({"bookmarks": {STREAM: {"replication_key_value": 11}}}),
    ]
    run = run_target(tmp_path, target_config(server, store_path=str(folder), **extra), messages)
    assert run.returncode == 0, run.stderr
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 6}
    assert len(server.items("customers")) == 5


def test_fix_the_mapping_and_run_again(strict: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    first_run(strict, tmp_path, folder)
    assert set(kept(strict, folder)) == {"1", "2", "3", "4", "5", "11"}
    # The tap's bookmark moved past them: the next run brings only customer 3 (edited at the source).
    messages = [
        customers_stream([])[0],
        record(STREAM, shopper(3, lang=None, first_name="Edited")),
        state({"bookmarks": {STREAM: {"replication_key_value": 12}}}),
    ]
    run = run_target(tmp_path, target_config(strict, store_path=str(folder), default_lang="fr"), messages)
    assert run.returncode == 0, run.stderr
    report = run.last_state["target_shopimind"]
    assert report["replayed_count"] == {"customers": 5}  # 1, 2, 4, 5 and 11; 3 came again
    assert report["still_rejected_count"] == {"customers": 1}
    assert [(r["key"], r["stage"]) for r in report["rejected"]] == [("11", "validation")]
    stored = {c["customer_id"]: c for c in strict.items("customers")}
    assert set(stored) == {str(n) for n in range(1, 11)}
    assert {stored[str(n)]["lang"] for n in (1, 2, 3, 4, 5)} == {"fr"}
    assert stored["3"]["first_name"] == "Edited"  # the newer version, not the kept one
    assert set(kept(strict, folder)) == {"11"}
    # Refused again: stays and is reported again on the next run.
    again = run_target(
        tmp_path,
        target_config(strict, store_path=str(folder), default_lang="fr"),
        [*customers_stream([]), state({"b": 3})],
    )
    assert again.returncode == 0
    assert set(kept(strict, folder)) == {"11"}
    assert [r["key"] for r in again.last_state["target_shopimind"]["rejected"]] == ["11"]


def test_the_record_is_kept_as_the_tap_sent_it(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    maps = {"stream_maps": {STREAM: {"nickname": "first_name", "__else__": None, "id": "id", "email": "email"}}}
    messages = [*customers_stream([]), record(STREAM, customer(1, email="nope")), state({"b": 1})]
    run = run_target(tmp_path, target_config(sandbox, store_path=str(folder), **maps), messages)
    assert run.returncode == 0, run.stderr
    entry = kept(sandbox, folder)["1"]
    assert entry["record"] == customer(1, email="nope")  # before stream maps
    assert entry["stream"] == STREAM
    assert entry["key_properties"] == ["id"]
    assert entry["stage"] == "validation"
    assert entry["errors"]


def test_replays_go_through_the_current_stream_maps(strict: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    first_run(strict, tmp_path, folder)
    maps = {"stream_maps": {STREAM: {"lang": "'de'"}}}
    run = run_target(
        tmp_path, target_config(strict, store_path=str(folder), **maps), [*customers_stream([]), state({"b": 2})]
    )
    assert run.returncode == 0, run.stderr
    assert {c["customer_id"]: c["lang"] for c in strict.items("customers") if c["customer_id"] in "12345"} == {
        str(n): "de" for n in range(1, 6)
    }
    assert set(kept(strict, folder)) == {"11"}


def test_an_api_refusal_is_kept_and_replayed_once_the_server_takes_it(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    config = target_config(sandbox, store_path=str(folder))
    sandbox.refuse("customers", "2", ["first_name: refused by the server"])
    run = run_target(tmp_path, config, [*customers_stream([1, 2, 3]), state({"b": 1})])
    assert run.returncode == 0, run.stderr
    assert {k: v["stage"] for k, v in kept(sandbox, folder).items()} == {"2": "api"}
    sandbox.refusals.clear()
    again = run_target(tmp_path, config, [*customers_stream([]), state({"b": 1})])
    assert again.returncode == 0, again.stderr
    assert again.last_state["target_shopimind"]["replayed_count"] == {"customers": 1}
    assert again.last_state["target_shopimind"]["still_rejected_count"] == {"customers": 0}
    assert kept(sandbox, folder) == {}
    assert {c["customer_id"] for c in sandbox.items("customers")} == {"1", "2", "3"}


def test_no_replay_for_a_stream_that_did_not_come(strict: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    first_run(strict, tmp_path, folder)
    other = [customers_stream([], stream="public-clients")[0], record("public-clients", shopper(20)), state({"b": 1})]
    run = run_target(tmp_path, target_config(strict, store_path=str(folder), default_lang="fr"), other)
    assert run.returncode == 0, run.stderr
    assert "replayed_count" not in run.last_state["target_shopimind"]
    assert len(kept(strict, folder)) == 6


def test_replay_rejected_false_turns_replays_off(strict: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    first_run(strict, tmp_path, folder)
    config = target_config(strict, store_path=str(folder), default_lang="fr", replay_rejected=False)
    run = run_target(tmp_path, config, [*customers_stream([]), state({"b": 2})])
    assert run.returncode == 0, run.stderr
    assert len(strict.items("customers")) == 5
    assert len(kept(strict, folder)) == 6


def test_dry_run_replays_without_changing_the_store(strict: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    first_run(strict, tmp_path, folder)
    before = store_file(folder, strict.url, API_KEY).read_bytes()
    config = target_config(strict, store_path=str(folder), default_lang="fr", dry_run=True)
    run = run_target(tmp_path, config, [*customers_stream([]), state({"b": 1})])
    assert run.returncode == 0, run.stderr
    assert run.last_state["target_shopimind"]["replayed_count"] == {"customers": 6}
    assert run.last_state["target_shopimind"]["still_rejected_count"] == {"customers": 1}
    assert len(strict.items("customers")) == 5
    assert store_file(folder, strict.url, API_KEY).read_bytes() == before
    assert len(kept(strict, folder)) == 6
