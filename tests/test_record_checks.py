"""Records the SDK's own checks would stop the run for are refused one by one, on its public hooks."""

from __future__ import annotations

import typing as t

from support import CUSTOMER_PROPS, customer, record, run_in_process, schema, state, target_config

from target_shopimind.record_checks import RecordCheck
from target_shopimind.resources import BY_NAME

if t.TYPE_CHECKING:
    from target_shopimind.sandbox import Sandbox

STREAM = "public-customers"
CUSTOMERS = BY_NAME["customers"].path


def test_unparsable_date_time_is_refused_even_without_schema_validation(sandbox: Sandbox) -> None:
    rows = [customer(1), customer(2, created_at="2026-13-45T00:00:00Z"), customer(3)]
    messages = [schema(STREAM, CUSTOMER_PROPS, ["id"]), *(record(STREAM, r) for r in rows), state({"b": 1})]
    run = run_in_process(target_config(sandbox, validate_records=False), messages)
    assert sorted(c["customer_id"] for c in sandbox.items("customers")) == ["1", "3"]
    (entry,) = run.states[-1]["target_shopimind"]["rejected"]
    assert entry["key"] == "2"
    assert entry["errors"] == [
        "created_at: not a valid date-time (Could not parse value '2026-13-45T00:00:00Z' for field 'created_at'.)"
    ]
    assert run.tally("customers").received == 3


def test_a_number_where_a_date_time_belongs_is_refused_not_raised(sandbox: Sandbox) -> None:
    """The SDK's parser raises TypeError on a number, which it does not treat: the run would stop."""
    props = {**CUSTOMER_PROPS, "created_at": {"type": ["string", "integer", "null"], "format": "date-time"}}
    rows = [customer(1), customer(2, created_at=20260507), customer(3)]
    messages = [schema(STREAM, props, ["id"]), *(record(STREAM, r) for r in rows), state({"b": 1})]
    run = run_in_process(target_config(sandbox), messages)
    assert sorted(c["customer_id"] for c in sandbox.items("customers")) == ["1", "3"]
    assert [e["key"] for e in run.states[-1]["target_shopimind"]["rejected"]] == ["2"]


def test_a_new_schema_hands_the_old_sinks_items_over_first(sandbox: Sandbox) -> None:
    """The same customer buffered under two SCHEMAs: the version read last is the one ShopiMind keeps."""
    wider = {**CUSTOMER_PROPS, "phone": {"type": ["string", "null"]}}
    messages = [
        schema(STREAM, CUSTOMER_PROPS, ["id"]),
        record(STREAM, customer(1, last_name="Old")),
        record(STREAM, customer(2)),
        schema(STREAM, wider, ["id"]),
        record(STREAM, customer(1, last_name="New")),
        state({"b": 1}),
    ]
    run = run_in_process(target_config(sandbox), messages)
    assert {c["customer_id"]: c["last_name"] for c in sandbox.items("customers")} == {"1": "New", "2": "Lovelace 2"}
    assert run.tally("customers").sent == 3
    keys = [sorted(r["keys"]) for r in sandbox.requests if r["path"] == CUSTOMERS and r["status"] == 200]
    assert keys == [["1", "2"], ["1"]]


def test_record_check_notes_instead_of_raising() -> None:
    check = RecordCheck(
        {"type": "object", "properties": {"id": {"type": "integer"}, "at": {"type": "string", "format": "date"}}}
    )
    good = {"id": 1, "at": "2026-05-07"}
    check.validate(good)
    assert check.problems == []
    bad: dict[str, t.Any] = {"id": "x", "at": "never"}
    check.validate(bad)
    assert check.problems == ["id: 'x' is not of type 'integer' (the stream's schema)"]
    assert bad["at"] is None  # nulled, so the SDK's own parser has nothing left to fail on
    keyless: dict[str, t.Any] = {"at": "2026-05-07"}
    check.validate(keyless)
    check.missing_keys(keyless, ["id"])
    assert check.missing == ["id"]
    assert keyless["id"] is None
    assert check.problems == ["id: the stream's key property is missing"]
