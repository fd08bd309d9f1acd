"""Records the SDK refuses before mapping are reported under their key after stream maps and key filling."""

from __future__ import annotations

import json
import logging
import typing as t

from singer_sdk.mapper import PluginMapper
from support import CUSTOMER_PROPS, customer, record, run_target, schema, state, target_config

from target_shopimind import refused

if t.TYPE_CHECKING:
    import pathlib

    from support import Run

    from target_shopimind.sandbox import Sandbox

STREAM = "public-customers"
PREFIXED = {STREAM: {"customer_id": "'C-' + str(id)"}}


def run_with_maps(
    sandbox: Sandbox,
    tmp_path: pathlib.Path,
    maps: dict[str, t.Any],
    rows: list[dict],
    props: dict[str, dict] | None = None,
) -> tuple[Run, list[dict]]:
    rejects = tmp_path / "rejects.jsonl"
    messages = [schema(STREAM, props or CUSTOMER_PROPS, ["id"]), *(record(STREAM, r) for r in rows), state({"b": 1})]
    config = target_config(sandbox, stream_maps=maps, rejected_records_path=str(rejects))
    run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in rejects.read_text().splitlines()] if rejects.exists() else []
    return run, lines


def test_schema_check_rejection_is_named_by_the_mapped_key(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    rows = [customer(1), customer(2, email=12345), customer(3)]
    run, lines = run_with_maps(sandbox, tmp_path, PREFIXED, rows)
    assert {c["customer_id"] for c in sandbox.items("customers")} == {"C-1", "C-3"}
    (entry,) = run.last_state["target_shopimind"]["rejected"]
    assert entry["key"] == "C-2"
    assert entry["stage"] == "validation"
    assert "the stream's schema" in entry["errors"][0]
    assert [line["key"] for line in lines] == ["C-2"]
    assert lines[0]["record"]["customer_id"] == "C-2"
    # The log names the place in the input: the third line, the stream's second record.
    assert "line 3, record 2 of stream 'public-customers'" in run.stderr


def test_schema_check_rejection_without_stream_maps_keeps_the_filled_key(
    sandbox: Sandbox,
    tmp_path: pathlib.Path,
) -> None:
    run, lines = run_with_maps(sandbox, tmp_path, {}, [customer(1), customer(2, email=12345)])
    assert [line["key"] for line in lines] == ["2"]
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 1}


def test_missing_key_property_is_named_by_the_mapped_key(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    maps = {STREAM: {"customer_id": "'C-' + str(code)"}}
    props = {**CUSTOMER_PROPS, "code": {"type": ["integer", "null"]}}
    without_id = {k: v for k, v in customer(2, code=2).items() if k != "id"}
    run, lines = run_with_maps(sandbox, tmp_path, maps, [customer(1, code=1), without_id], props)
    assert [c["customer_id"] for c in sandbox.items("customers")] == ["C-1"]
    assert [line["key"] for line in lines] == ["C-2"]
    assert lines[0]["errors"] == ["id: the stream's key property is missing"]
    assert run.last_state["target_shopimind"]["rejected"][0]["key"] == "C-2"


def test_stream_map_error_rejects_the_record_under_its_mapped_key(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    maps = {STREAM: {"customer_id": "'C-' + str(id)", "first_name": "first_name.upper()"}}
    rows = [customer(1), customer(2, first_name=None), customer(3)]
    run, lines = run_with_maps(sandbox, tmp_path, maps, rows)
    assert {c["customer_id"] for c in sandbox.items("customers")} == {"C-1", "C-3"}
    assert [line["key"] for line in lines] == ["C-2"]
    assert lines[0]["errors"][0].startswith("stream map failed")
    assert lines[0]["record"]["id"] == 2  # shown as the tap sent it
    state_entry = run.last_state["target_shopimind"]["rejected"][0]
    assert (state_entry["key"], state_entry["stage"]) == ("C-2", "validation")


def test_a_failing_key_expression_falls_back_to_the_raw_key(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    maps = {STREAM: {"customer_id": "'C-' + first_name"}}
    run, lines = run_with_maps(sandbox, tmp_path, maps, [customer(1, first_name="x"), customer(2, first_name=None)])
    assert [c["customer_id"] for c in sandbox.items("customers")] == ["C-x"]
    assert [line["key"] for line in lines] == ["2"]
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 1}


def test_key_fields_evaluates_only_the_key_expressions() -> None:
    stream_maps: dict[str, t.Any] = {STREAM: {"customer_id": "'C-' + str(id)", "first_name": "first_name.upper()"}}
    mapper = PluginMapper(plugin_config={"stream_maps": stream_maps}, logger=logging.getLogger("test"))
    mapper.register_raw_stream_schema(STREAM, {"type": "object", "properties": CUSTOMER_PROPS}, ["id"])
    maps = mapper.stream_maps[STREAM]
    raw = customer(5, first_name=None)
    failed = refused.failing_map(maps, raw)
    assert failed is not None
    assert failed[0] is maps[0]
    fields = refused.KeyFields(stream_maps).of(maps[0], raw, {"customer_id", "id"})
    assert fields["customer_id"] == "C-5"
    assert refused.failing_map(maps, customer(6)) is None
