"""Fields the SDK merely types as required are sent; the sandbox refuses them only when asked to."""

from __future__ import annotations

import json
import typing as t

import httpx
from support import CUSTOMER_PROPS, customer, record, run_target, schema, state, target_config

from target_shopimind.sandbox import Sandbox, _parser

if t.TYPE_CHECKING:
    import pathlib

STREAM = "public-clients"
# A shop table with neither an opt-in nor a subscription column.
PROPS = {k: v for k, v in CUSTOMER_PROPS.items() if k != "is_newsletter_subscribed"}


def bare_customer(n: int) -> dict:
    row = customer(n)
    del row["is_newsletter_subscribed"]
    return row


def clients(rows: list[dict], props: dict[str, dict] = PROPS) -> list[dict]:
    """One stream between two tap STATEs."""
    return [
        state({"bookmarks": {STREAM: {"replication_key_value": "start"}}}),
        schema(STREAM, props, ["id"]),
        *(record(STREAM, row) for row in rows),
        state({"bookmarks": {STREAM: {"replication_key_value": "end"}}}),
    ]


def test_customers_without_opt_in_columns_land_in_full(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    run = run_target(tmp_path, target_config(sandbox), clients([bare_customer(n) for n in range(1, 121)]))
    assert run.returncode == 0, run.stderr
    stored = sandbox.items("customers")
    assert len(stored) == 120
    assert all("is_newsletter_subscribed" not in c and "is_opt_in" not in c for c in stored)
    report = run.last_state["target_shopimind"]
    assert report["rejected_count"] == {}
    assert run.last_state["bookmarks"] == {STREAM: {"replication_key_value": "end"}}
    # One warning for the stream names the SDK-typed fields its items lack.
    warnings = [line for line in run.stderr.splitlines() if "is_newsletter_subscribed" in line]
    assert len(warnings) == 1
    assert "is_opt_in" in warnings[0]
    assert "is_active" in warnings[0]


def test_require_sdk_fields_turns_them_into_api_rejections(tmp_path: pathlib.Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    with Sandbox(port=0, require_sdk_fields=True) as server:
        # Customers carrying every SDK-typed field, among customers without the opt-in columns.
        full = {"is_opt_in": True, "is_active": True}
        rows = [customer(n, **full) if n % 4 == 0 else bare_customer(n) for n in range(1, 101)]
        flags = {name: {"type": ["boolean", "null"]} for name in ("is_newsletter_subscribed", "is_opt_in", "is_active")}
        messages = clients(rows, {**PROPS, **flags})
        run = run_target(tmp_path, target_config(server, rejected_records_path=str(rejects)), messages)
        stored = {c["customer_id"] for c in server.items("customers")}
    assert run.returncode == 0, run.stderr
    accepted = {str(n) for n in range(1, 101) if n % 4 == 0}
    refused = {str(n) for n in range(1, 101)} - accepted
    assert stored == accepted
    report = run.last_state["target_shopimind"]
    assert report["rejected_count"] == {"customers": len(refused)}
    assert {r["key"] for r in report["rejected"]} == refused
    assert {r["stage"] for r in report["rejected"]} == {"api"}
    assert all("is_newsletter_subscribed: is required" in r["errors"] for r in report["rejected"])
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert {r["key"] for r in lines} == refused
    assert {r["stage"] for r in lines} == {"api"}
    assert all(r["record"]["customer_id"] == r["key"] for r in lines)
    assert run.last_state["bookmarks"] == {STREAM: {"replication_key_value": "end"}}


def test_sandbox_default_follows_the_evidence_and_the_flag_adds_the_sdk_rules() -> None:
    item = {"customer_id": "C1", "email": "a@b.co"}
    with Sandbox(port=0) as default, Sandbox(port=0, require_sdk_fields=True) as strict:
        headers = {"spm-api-key": default.api_key}
        lenient = httpx.post(f"{default.url}/v1/customers", json=[item], headers=headers).json()
        refused = httpx.post(f"{strict.url}/v1/customers", json=[item, {**item, "customer_id": ""}], headers=headers)
    assert lenient["sent_count"] == 1
    assert refused.status_code == 400  # every item invalid
    assert _parser().parse_args(["--require-sdk-fields"]).require_sdk_fields is True
    assert _parser().parse_args([]).require_sdk_fields is False


def test_strict_sandbox_names_each_missing_sdk_field() -> None:
    item = {"customer_id": "C1", "email": "a@b.co", "first_name": "A", "last_name": "B"}
    with Sandbox(port=0, require_sdk_fields=True, reject_400_with_items=True) as strict:
        answer = httpx.post(f"{strict.url}/v1/customers", json=[item], headers={"spm-api-key": strict.api_key})
    errors = answer.json()["rejected_items"][0]["errors"]
    assert errors == [
        "is_opt_in: is required",
        "is_newsletter_subscribed: is required",
        "lang: is required",
        "is_active: is required",
        "created_at: is required",
        "updated_at: is required",
    ]
