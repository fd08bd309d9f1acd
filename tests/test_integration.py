"""The target over real HTTP against the sandbox on loopback (the real CLI, as a subprocess)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import subprocess
import threading
import time
from typing import TYPE_CHECKING

import pytest
from support import (
    API_KEY,
    CUSTOMER_PROPS,
    TARGET,
    customer,
    customers_stream,
    record,
    run_in_process,
    run_target,
    schema,
    state,
    summary,
    target_config,
    write_config,
)

from target_shopimind.resources import BY_NAME
from target_shopimind.sandbox import Sandbox

if TYPE_CHECKING:
    import types

DATA = pathlib.Path(__file__).parent / "data"


def _shop_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("make_shop_singer", DATA / "make_shop_singer.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_resource_lands_with_contract_types(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    run = run_target(
        tmp_path,
        target_config(sandbox, rejected_records_path=str(rejects)),
        (DATA / "shop.singer.jsonl").read_text(),
    )
    assert run.returncode == 0, run.stderr
    expected_rejections = _shop_module().EXPECTED_REJECTIONS
    counts = {name: len(sandbox.items(name)) for name in BY_NAME}
    assert counts == {
        "customers_groups": 3,
        "orders_statuses": 2,
        "orders_carriers": 1,
        "products_categories": 2,
        "products_manufacturers": 1,
        "products": 3,
        "products_images": 1,
        "products_variations": 1,
        "customers": 4,
        "customers_addresses": 1,
        "orders": 1,
        "vouchers": 1,
        "newsletter_subscribers": 1,
    }
    customer_1 = next(c for c in sandbox.items("customers") if c["customer_id"] == "1")
    assert customer_1 == {
        "customer_id": "1",
        "email": "c1@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "birth_date": "1990-12-10",
        "is_newsletter_subscribed": True,
        "lang": "fr",
        "group_ids": ["1", "2"],
        "created_at": "2026-05-07T08:00:00.000Z",
        "updated_at": "2026-05-07T08:00:00.000Z",
    }
    product = next(p for p in sandbox.items("products") if p["product_id"] == 100)
    assert product["price"] == 20.0
    assert product["quantity_remaining"] == 3
    assert product["category_ids"] == [10, 11]
    assert product["currency"] == "EUR"
    assert product["is_active"] is True
    assert product["manufacturer_id"] == "5"
    order = sandbox.items("orders")[0]
    assert order["customer"] == {
        "customer_id": "1",
        "email": "c1@example.com",
        "created_at": "2026-05-07T08:00:00.000Z",
    }
    assert order["products"] == [{"product_id": 100, "price": 19.99, "price_without_tax": 16.66, "quantity": 2}]
    assert order["carrier_id"] == "1"
    assert order["cart_id"] == "77"
    statuses = sandbox.items("orders_statuses")
    assert all(s["is_deleted"] is False and s["created_at"].endswith("Z") for s in statuses)
    category_10 = next(c for c in sandbox.items("products_categories") if c["category_id"] == 10)
    assert category_10["description"] == ""
    assert category_10["parent_category_id"] is None
    assert sandbox.items("customers_addresses")[0]["country"] == "FR"
    assert sandbox.items("vouchers")[0]["customer_id"] == "1"

    report = run.last_state["target_shopimind"]
    got = {(r["resource"], r["key"]) for r in report["rejected"]}
    assert got == {(resource, key) for resource, key, _ in expected_rejections}
    for resource, key, fragment in expected_rejections:
        entry = next(r for r in report["rejected"] if (r["resource"], r["key"]) == (resource, key))
        assert entry["stage"] == "validation"
        assert any(fragment in e for e in entry["errors"]), entry
    assert sum(report["rejected_count"].values()) == len(expected_rejections)
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert {(r["resource"], r["key"]) for r in lines} == got
    assert all(set(r) == {"stream", "resource", "key", "stage", "errors", "record"} for r in lines)
    assert run.last_state["bookmarks"]  # the tap's state is kept
    assert "carts are read-only" in run.stderr
    figures = summary(run.stderr)["customers"]
    assert (figures["received"], figures["sent"], figures["rejected"]) == (5, 4, 1)


@pytest.mark.parametrize("style", ["strings", "nestjs", "no-index"])
def test_api_rejections_are_mapped_back_to_records(tmp_path: pathlib.Path, style: str) -> None:
    with Sandbox(port=0, error_style="nestjs" if style == "nestjs" else "strings", index=style != "no-index") as sb:
        sb.refuse("customers", "7", ["email: already used by another customer"])
        sb.refuse("customers", "60", ["first_name: is too long"])
        run = run_target(tmp_path, target_config(sb), [*customers_stream(range(1, 81)), state({"b": 1})])
        assert run.returncode == 0, run.stderr
        stored = {c["customer_id"] for c in sb.items("customers")}
    assert stored == {str(n) for n in range(1, 81)} - {"7", "60"}
    report = run.last_state["target_shopimind"]
    assert report["rejected_count"] == {"customers": 2}
    by_key = {r["key"]: r for r in report["rejected"]}
    assert by_key["7"]["stage"] == "api"
    assert by_key["7"]["errors"] == ["email: already used by another customer"]
    assert by_key["60"]["errors"] == ["first_name: is too long"]


def test_400_without_rejected_items_is_split_until_the_bad_items_are_isolated(tmp_path: pathlib.Path) -> None:
    with Sandbox(port=0, strict_400=True) as sb:
        for bad in ("3", "17", "18"):
            sb.refuse("customers", bad, [f"customer {bad}: refused"])
        run = run_target(tmp_path, target_config(sb), [*customers_stream(range(1, 51)), state({"b": 1})])
        assert run.returncode == 0, run.stderr
        stored = {c["customer_id"] for c in sb.items("customers")}
        statuses = [r["status"] for r in sb.requests]
    assert stored == {str(n) for n in range(1, 51)} - {"3", "17", "18"}
    report = run.last_state["target_shopimind"]
    assert {r["key"] for r in report["rejected"]} == {"3", "17", "18"}
    assert all(r["stage"] == "api" for r in report["rejected"])
    assert 400 in statuses
    assert statuses.count(200) >= 1


def test_all_invalid_batch_answered_400(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    for n in range(1, 5):
        sandbox.refuse("customers", str(n), ["no"])
    run = run_target(tmp_path, target_config(sandbox), [*customers_stream(range(1, 5)), state({"b": 1})])
    assert run.returncode == 0, run.stderr
    assert sandbox.items("customers") == []
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 4}


def test_429_with_retry_after_is_waited_out(tmp_path: pathlib.Path) -> None:
    with Sandbox(port=0, retry_after=1) as sb:
        sb.script_faults(["429", "429"])
        started = time.monotonic()
        run = run_in_process(target_config(sb), [*customers_stream(range(1, 11)), state({"b": 1})])
        elapsed = time.monotonic() - started
        assert len(sb.items("customers")) == 10
        assert [r["status"] for r in sb.requests] == [429, 429, 200]
    assert elapsed >= 2.0  # two Retry-After: 1 waits
    tally = run.tally("customers")
    assert (tally.throttled, tally.requests, tally.sent) == (2, 3, 10)


def test_5xx_then_success(tmp_path: pathlib.Path) -> None:
    with Sandbox(port=0, retry_after=0) as sb:
        sb.script_faults(["500", "503", "drop", "applied500"])
        run = run_in_process(target_config(sb), [*customers_stream(range(1, 11)), state({"b": 1})])
        assert len(sb.items("customers")) == 10
        assert [r["status"] for r in sb.requests] == [500, 503, 0, 500, 200]
    tally = run.tally("customers")
    assert (tally.retries, tally.requests, tally.throttled, tally.sent) == (4, 5, 0, 10)
    assert run.states[-1]["target_shopimind"]["rejected_count"] == {}


def test_retries_exhausted_stops_with_no_state_past_the_failure(tmp_path: pathlib.Path) -> None:
    with Sandbox(port=0) as sb:
        messages = [*customers_stream(range(1, 11)), state({"first": 1})]
        run_ok = run_target(tmp_path, target_config(sb), messages)
        assert run_ok.returncode == 0
        sb.set_rates(fail_500_rate=1.0)
        run = run_target(
            tmp_path,
            target_config(sb, max_retries=2),
            [*customers_stream(range(11, 21)), state({"second": 1})],
        )
    assert run.returncode == 1
    assert run.states == []
    assert "giving up after 3 attempts" in run.stderr
    assert "Traceback" not in run.stderr


def test_401_stops_with_no_state_and_names_the_setting(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    config = {**target_config(sandbox), "api_key": "wrong-key-00000000000000"}
    run = run_target(tmp_path, config, [*customers_stream(range(1, 5)), state({"b": 1})])
    assert run.returncode == 1
    assert run.stdout == ""
    assert "api_key" in run.stderr
    assert "401" in run.stderr
    assert "Traceback" not in run.stderr
    assert sandbox.items("customers") == []


def test_deletes_go_to_bulk_delete_in_batches_of_20(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    upserts = [*customers_stream(range(1, 31)), state({"b": 1})]
    assert run_target(tmp_path, target_config(sandbox), upserts).returncode == 0
    deleted = [record("public-customers", customer(n, _sdc_deleted_at="2026-05-08T00:00:00Z")) for n in range(1, 26)]
    messages = [*customers_stream([]), *deleted, state({"b": 2})]
    ignored = run_target(tmp_path, target_config(sandbox), messages)
    assert ignored.returncode == 0, ignored.stderr
    assert len(sandbox.items("customers")) == 30
    assert summary(ignored.stderr)["customers"]["deletes ignored"] == 25
    run = run_target(tmp_path, target_config(sandbox, on_deleted_record="delete"), messages)
    assert run.returncode == 0, run.stderr
    assert {c["customer_id"] for c in sandbox.items("customers")} == {str(n) for n in range(26, 31)}
    deletes = [r for r in sandbox.requests if r["path"] == "/v1/customers/bulk-delete"]
    assert sorted((r["items"] for r in deletes), reverse=True) == [20, 5]  # concurrent: any order
    assert summary(run.stderr)["customers"]["deleted"] == 25


def test_address_deletes_use_the_per_customer_route(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    props = {
        k: {"type": ["string", "integer", "boolean", "null"]}
        for k in ("customer_id", "id", "first_name", "last_name", "address_line_1", "postal_code", "city", "is_active")
    }
    props["_sdc_deleted_at"] = {"type": ["string", "null"]}
    row = {
        "first_name": "A",
        "last_name": "B",
        "address_line_1": "1 rue",
        "postal_code": "75001",
        "city": "Paris",
        "is_active": True,
    }
    messages = [
        schema("public-addresses", props, ["id"]),
        record("public-addresses", {"customer_id": 1, "id": 10, **row}),
        record("public-addresses", {"customer_id": 2, "id": 11, **row}),
        record("public-addresses", {"customer_id": 1, "id": 10, "_sdc_deleted_at": "2026-05-08T00:00:00Z"}),
        state({"b": 1}),
    ]
    run = run_target(tmp_path, target_config(sandbox, on_deleted_record="delete"), messages)
    assert run.returncode == 0, run.stderr
    assert [(a["customer_id"], a["address_id"]) for a in sandbox.items("customers_addresses")] == [("2", 11)]
    paths = [r["path"] for r in sandbox.requests]
    assert "/v1/customers/1/addresses/bulk-delete" in paths
    # the upsert of 1|10 went before its delete
    assert paths.index("/v1/customers/addresses/bulk") < paths.index("/v1/customers/1/addresses/bulk-delete")


def test_dry_run_sends_nothing_and_says_what_it_would_send(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    config = {"dry_run": True, "base_url": sandbox.url}
    messages = [*customers_stream(range(1, 8)), record("public-customers", customer(99, email="x")), state({"b": 1})]
    run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr
    assert sandbox.requests == []
    assert summary(run.stderr)["customers"]["would send"] == 7
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 1}


def test_batches_are_full_and_batch_size_rows_is_capped(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    run = run_target(tmp_path, target_config(sandbox, batch_size_rows=500), [*customers_stream(range(120)), state({})])
    assert run.returncode == 0, run.stderr
    assert sorted((r["items"] for r in sandbox.requests), reverse=True) == [50, 50, 20]  # concurrent: any order
    sandbox.reset()
    run = run_target(tmp_path, target_config(sandbox, batch_size_rows=10), [*customers_stream(range(25)), state({})])
    assert run.returncode == 0, run.stderr
    assert sorted((r["items"] for r in sandbox.requests), reverse=True) == [10, 10, 5]


def test_duplicate_keys_in_one_batch_send_the_latest_version(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    messages = [
        *customers_stream([1, 2]),
        record("public-customers", customer(1, first_name="Newer")),
        state({}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0, run.stderr
    assert [r["items"] for r in sandbox.requests] == [2]
    assert next(c for c in sandbox.items("customers") if c["customer_id"] == "1")["first_name"] == "Newer"


def test_state_never_precedes_acceptance_of_earlier_records(tmp_path: pathlib.Path) -> None:
    with Sandbox(port=0, latency_ms=150) as sb:
        config = write_config(tmp_path, target_config(sb, checkpoint_interval_seconds=0.3))
        with subprocess.Popen(
            [*TARGET, "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdin is not None
            assert proc.stdout is not None
            seen: list[tuple[dict, set[str]]] = []

            def read_states() -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    landed = {c["customer_id"] for c in sb.items("customers")}
                    seen.append((json.loads(line), landed))

            reader = threading.Thread(target=read_states)
            reader.start()
            proc.stdin.write(json.dumps(customers_stream([])[0]).encode() + b"\n")
            for step in range(8):  # the first ones may all arrive while the target starts
                for n in range(step * 30, step * 30 + 30):
                    proc.stdin.write(json.dumps(record("public-customers", customer(n))).encode() + b"\n")
                proc.stdin.write(json.dumps(state({"step": step})).encode() + b"\n")
                proc.stdin.flush()
                time.sleep(0.6)
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0
            reader.join(timeout=10)
    steps = [value["step"] for value, _ in seen]
    assert len(steps) >= 3, steps  # checkpoints happened while input kept coming
    for value, landed in seen:
        wanted = {str(n) for n in range((value["step"] + 1) * 30)}
        assert wanted <= landed, f"STATE {value} emitted before records {sorted(wanted - landed)[:5]} landed"


def test_api_key_never_appears_in_any_output(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    rejects = tmp_path / "rejects.jsonl"
    messages = [*customers_stream(range(1, 5)), record("public-customers", customer(9, email="bad")), state({"b": 1})]
    run = run_target(tmp_path, target_config(sandbox, rejected_records_path=str(rejects)), messages)
    assert run.returncode == 0
    wrong = run_target(tmp_path, {**target_config(sandbox), "api_key": "secret-wrong-key-1234567890"}, messages)
    assert wrong.returncode == 1
    for text in (run.stdout, run.stderr, rejects.read_text()):
        assert API_KEY not in text
    assert "secret-wrong-key-1234567890" not in wrong.stdout + wrong.stderr


def test_max_rejected_records_stops_the_run(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    bad = [record("public-customers", customer(n, email="nope")) for n in range(100, 105)]
    run = run_target(
        tmp_path, target_config(sandbox, max_rejected_records=3), [*customers_stream([1]), *bad, state({})]
    )
    assert run.returncode == 1
    assert "max_rejected_records=3" in run.stderr
    assert run.states == []


def test_unknown_stream_skip_and_fail(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    messages = [
        schema("public-audit_log", {"id": {"type": "integer"}}, ["id"]),
        record("public-audit_log", {"id": 1}),
        *customers_stream([1]),
        state({}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0
    assert "Skipping stream 'public-audit_log'" in run.stderr
    assert summary(run.stderr)["public-audit_log"]["skipped"] == 1
    run = run_target(tmp_path, target_config(sandbox, on_unknown_stream="fail"), messages)
    assert run.returncode == 1
    assert "public-audit_log" in run.stderr
    assert "on_unknown_stream" in run.stderr


def test_stream_resource_map_and_stream_maps(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    """The README example: a `clients` table whose columns have other names."""
    props = {
        "id": {"type": "integer"},
        "firstname": {"type": "string"},
        "lastname": {"type": "string"},
        "mail": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "optin": {"type": "boolean"},
    }
    rows = [
        {
            "id": n,
            "firstname": "Ada",
            "lastname": "L",
            "mail": f"a{n}@x.fr",
            "created": "2026-01-01T00:00:00Z",
            "optin": True,
        }
        for n in (1, 2)
    ]
    config = target_config(
        sandbox,
        default_lang="fr",
        stream_resource_map={"shop-clients": "customers", "shop-ignored": None},
        stream_maps={
            "shop-clients": {
                "first_name": "firstname",
                "last_name": "lastname",
                "email": "mail",
                "created_at": "created",
                "updated_at": "created",
                "customer_id": "'C-' + str(id)",
                "is_newsletter_subscribed": "optin",
                "firstname": None,
                "lastname": None,
                "mail": None,
                "created": None,
                "optin": None,
            },
        },
    )
    messages = [
        schema("shop-clients", props, ["id"]),
        *(record("shop-clients", r) for r in rows),
        schema("shop-ignored", {"id": {"type": "integer"}}, ["id"]),
        record("shop-ignored", {"id": 1}),
        state({}),
    ]
    run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr
    stored = sandbox.items("customers")
    assert [c["customer_id"] for c in stored] == ["C-1", "C-2"]
    assert stored[0]["first_name"] == "Ada"
    assert stored[0]["lang"] == "fr"
    assert stored[0]["is_newsletter_subscribed"] is True
    assert "Skipping stream 'shop-ignored'" not in run.stderr  # dropped on purpose: no warning
    assert "fields unknown" not in run.stderr


def test_plain_http_refused_for_a_remote_host(tmp_path: pathlib.Path) -> None:
    run = run_target(tmp_path, {"api_key": API_KEY, "base_url": "http://shopimind.example"}, [state({})])
    assert run.returncode == 1
    assert "https://" in run.stderr


def test_report_replaces_the_copy_that_came_back_through_the_tap(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    stale = {"rejected_count": {"orders": 99}, "rejected": [{"key": "old"}]}
    run = run_target(
        tmp_path,
        target_config(sandbox),
        [*customers_stream([1]), state({"bookmarks": {"x": 1}, "target_shopimind": stale})],
    )
    assert run.returncode == 0, run.stderr
    assert run.last_state["bookmarks"] == {"x": 1}
    report = run.last_state["target_shopimind"]
    assert (report["rejected_count"], report["rejected"]) == ({}, [])


def test_a_new_schema_does_not_let_newer_versions_overtake(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    wider = {**CUSTOMER_PROPS, "nickname": {"type": ["string", "null"]}}
    messages = [
        *customers_stream([1, 2, 3]),
        schema("public-customers", wider, ["id"]),
        *(record("public-customers", customer(n, first_name="Second")) for n in range(1, 51)),
        state({"b": 1}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0, run.stderr
    assert [len(r["keys"]) for r in sandbox.requests] == [3, 50]  # the retired sink's buffer first
    assert next(c for c in sandbox.items("customers") if c["customer_id"] == "1")["first_name"] == "Second"
