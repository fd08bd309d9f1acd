"""The Meltano SDK's standard target tests, their streams routed to a resource of a sandbox.

Every stream of the SDK's test files goes to `products_manufacturers` (`stream_resource_map`), so
each test runs routing, mapping, validation, batching and delivery against a `Sandbox`. Stream
maps give the streams with an integer `id` a manufacturer's fields; the other streams' items go
without them or are refused and reported, which the run survives. The tests that cannot apply to
a target that reports a bad record instead of stopping are left out, each with why, and replaced
by a test of what the target does instead.
"""

from __future__ import annotations

import importlib.resources
import typing as t

import pytest
from singer_sdk.testing import get_target_test_class, target_test_streams
from singer_sdk.testing.runners import TargetTestRunner
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetArrayData,
    TargetCamelcaseComplexSchema,
    TargetCamelcaseTest,
    TargetCliPrintsTest,
    TargetDuplicateRecords,
    TargetEncodedStringData,
    TargetInvalidSchemaTest,
    TargetNoPrimaryKeys,
    TargetOptionalAttributes,
    TargetPrimaryKeyUpdates,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingOptionalFields,
    TargetSchemaNoProperties,
    TargetSchemaUpdates,
    TargetSpecialCharsInAttributes,
)
from support import run_in_process, target_config

from target_shopimind.sandbox import Sandbox
from target_shopimind.target import TargetShopiMind

if t.TYPE_CHECKING:
    from collections.abc import Iterator

RESOURCE = "products_manufacturers"
# The streams of the SDK's target_test_streams/*.singer files.
STREAMS_WITH_INT_ID = (
    "test_array_data",
    "test_duplicate_records",
    "test_strings",
    "test_strings_in_objects",
    "test_strings_in_arrays",
    "test_optional_attributes",
    "record_missing_fields",
    "test_schema_updates",
    "test_record_before_schema",
)
OTHER_STREAMS = (
    "test_record_missing_key_property",
    "TestCamelcase",
    "ForecastingTypeToCategory",
    "test_invalid_schema",
    "test_no_pk",
    "example_stream",
    "test_object_schema_with_properties",
    "test_object_schema_no_properties",
    "test:SpecialChars!in?attributes",
)
STAMP = "'2026-01-05T10:00:00Z'"
MANUFACTURER_FIELDS = {"is_active": "bool(1)", "created_at": STAMP, "updated_at": STAMP}


def stream_maps() -> dict[str, dict[str, str]]:
    """Names and the required fields for the streams with an integer `id` (their key)."""
    maps = {stream: {"name": "'Item ' + str(id)", **MANUFACTURER_FIELDS} for stream in STREAMS_WITH_INT_ID}
    # The name says which version of a duplicated record was kept.
    maps["test_duplicate_records"]["name"] = "'Metric ' + str(metric)"
    return maps


def config(server: Sandbox) -> dict[str, t.Any]:
    return target_config(
        server,
        stream_resource_map=dict.fromkeys((*STREAMS_WITH_INT_ID, *OTHER_STREAMS), RESOURCE),
        stream_maps=stream_maps(),
    )


def sdk_input(name: str) -> str:
    """The text of the SDK's test input `name`.singer."""
    return (importlib.resources.files(target_test_streams) / f"{name}.singer").read_text(encoding="utf-8")


target_tests = SingerTestSuite(
    kind="target",
    tests=[
        TargetArrayData,
        TargetCamelcaseComplexSchema,
        TargetCamelcaseTest,
        TargetCliPrintsTest,
        TargetDuplicateRecords,
        TargetEncodedStringData,
        TargetInvalidSchemaTest,
        # The SDK leaves it out of its own suite; and every STATE carries the target's report
        # under `target_shopimind`, so the tap's STATE is never relayed byte for byte
        # (tests/test_integration.py checks what STATE holds).
        # TargetMultipleStateMessages,
        TargetNoPrimaryKeys,
        TargetOptionalAttributes,
        TargetPrimaryKeyUpdates,
        TargetRecordBeforeSchemaTest,
        # A record of a routed stream without its key property is rejected and reported, the run
        # goes on; the SDK's test expects MissingKeyPropertiesError.
        # See test_record_missing_key_property_is_reported below.
        # TargetRecordMissingKeyProperty,
        TargetRecordMissingOptionalFields,
        TargetSchemaNoProperties,
        TargetSchemaUpdates,
        TargetSpecialCharsInAttributes,
    ],
)

StandardTargetTests = get_target_test_class(
    TargetShopiMind,
    config={},  # the `runner` fixture below gives each test its sandbox's config
    custom_suites=[target_tests],
    include_target_tests=False,
)


class TestTargetShopiMind(StandardTargetTests):  # type: ignore[misc,valid-type]
    """Standard target tests against a sandbox."""

    @pytest.fixture
    def resource(self) -> Iterator[Sandbox]:
        with Sandbox(port=0) as server:
            yield server

    @pytest.fixture
    def runner(self, resource: Sandbox) -> TargetTestRunner:
        return TargetTestRunner(TargetShopiMind, config=config(resource), parse_env_config=False)


# -- what the routed SDK streams did ------------------------------------------------------------


def manufacturers(server: Sandbox) -> dict[str, str]:
    return {item["manufacturer_id"]: item["name"] for item in server.items(RESOURCE)}


def test_sdk_array_data_reaches_the_sandbox(sandbox: Sandbox) -> None:
    run = run_in_process(config(sandbox), sdk_input("array_data"))
    assert manufacturers(sandbox) == {str(n): f"Item {n}" for n in range(1, 5)}
    tally = run.tally(RESOURCE)
    assert (tally.received, tally.sent, tally.rejected) == (4, 4, 0)


def test_sdk_duplicate_records_keep_the_last_version(sandbox: Sandbox) -> None:
    run = run_in_process(config(sandbox), sdk_input("duplicate_records"))
    assert manufacturers(sandbox) == {"1": "Metric 100", "2": "Metric 20"}
    tally = run.tally(RESOURCE)
    assert (tally.received, tally.sent, tally.merged, tally.rejected) == (5, 2, 3, 0)
    assert run.states[-1]["test_duplicate_records"] == 2


def test_record_missing_key_property_is_reported(sandbox: Sandbox) -> None:
    """Instead of the SDK's MissingKeyPropertiesError: one rejection, the run goes on."""
    run = run_in_process(config(sandbox), sdk_input("record_missing_key_property"))
    assert run.tally(RESOURCE).rejected_validation == 1
    assert run.target.report.state_value()["rejected_count"] == {RESOURCE: 1}
    assert manufacturers(sandbox) == {}


def test_sdk_camelcase_key_fills_the_id_field(sandbox: Sandbox) -> None:
    """The stream's only key (`Id`) fills `manufacturer_id`; unknown fields are dropped."""
    run = run_in_process(config(sandbox), sdk_input("camelcase"))
    assert sorted(item["manufacturer_id"] for item in sandbox.items(RESOURCE)) == ["1", "2"]
    assert not any("clientName" in item for item in sandbox.items(RESOURCE))
    tally = run.tally(RESOURCE)
    assert (tally.received, tally.sent, tally.rejected) == (2, 2, 0)
