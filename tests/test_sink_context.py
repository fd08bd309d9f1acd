"""Sinks keep the context their target gives, never the target itself."""

from __future__ import annotations

import pytest
from support import CUSTOMER_PROPS, fresh_store_path

from target_shopimind.child_sink import ChildSink
from target_shopimind.context import context_of
from target_shopimind.custom_sink import CustomDataSink
from target_shopimind.sinks import ShopiMindSink
from target_shopimind.target import TargetShopiMind

CONFIG = {
    "dry_run": True,
    "store_path": "",
    "on_deleted_record": "delete",
    "child_streams": {
        "public-customer_groups": {"into": "customers.group_ids", "parent_key": "customer_id", "value": "id_group"}
    },
    "custom_data": {"public-loyalty": {"definition": "loyalty"}},
}


def test_every_sink_keeps_the_context_and_not_the_target() -> None:
    target = TargetShopiMind(config={**CONFIG, "store_path": fresh_store_path()})
    try:
        streams = {
            "public-customers": (CUSTOMER_PROPS, ["id"]),
            "public-customer_groups": (
                {"customer_id": {"type": "integer"}, "id_group": {"type": "integer"}},
                ["customer_id", "id_group"],
            ),
            "public-loyalty": ({"id": {"type": "integer"}, "points": {"type": "integer"}}, ["id"]),
            "public-nowhere": ({"id": {"type": "integer"}}, ["id"]),
        }
        sinks = {
            name: target.get_sink(name, schema={"type": "object", "properties": props}, key_properties=key)
            for name, (props, key) in streams.items()
        }
        kinds = {name: type(sink) for name, sink in sinks.items()}
        assert kinds == {
            "public-customers": ShopiMindSink,
            "public-customer_groups": ChildSink,
            "public-loyalty": CustomDataSink,
            "public-nowhere": ShopiMindSink,
        }
        for name, sink in sinks.items():
            assert getattr(sink, "context", None) is target.sink_context, name
            kept = [attribute for attribute, value in vars(sink).items() if value is target]
            assert kept == [], name
        assert target.sink_context.settings.on_deleted_record == "delete"
    finally:
        target.close()


def test_a_target_that_gives_no_context_is_told_so() -> None:
    with pytest.raises(TypeError, match="gives its sinks no sink_context"):
        context_of(object())
