"""Pins the private Meltano SDK members the target overrides or reads.

The SDK may change a private member in any release; pinned here, such a change fails this
test instead of changing the target's behaviour without a word. Each entry says why the
target touches the member. When the SDK is upgraded and a pin fails, read the SDK's new code,
adapt the target, then update the pin.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing as t

import pytest
from singer_sdk import Sink, Target
from singer_sdk.io_base import SingerReader

import target_shopimind
from target_shopimind.record_checks import datelike_kind
from target_shopimind.target import TargetShopiMind

# (owner, member, the SDK's signature, why the target touches it)
PINNED_METHODS: list[tuple[type, str, str, str]] = [
    (
        Target,
        "_drain_all",
        "(self, sink_list: 'Iterable[Sink]', parallelism: 'int') -> 'None'",
        "overridden: buffers are handed to delivery in reference order (groups before customers, ...)",
    ),
    (
        Target,
        "_write_state_message",
        "(self, state: 'dict') -> 'None'",
        "overridden (no public hook): STATE waits for delivery and carries the report under target_shopimind",
    ),
    (
        Target,
        "_handle_termination",
        "(self, signum: 'int', frame: 'FrameType | None') -> 'None'",
        "overridden: the SDK drains inside the signal handler (a lock may be held there); this one notes the stop",
    ),
    (
        SingerReader,
        "process_lines",
        "(self, file_input: 't.IO[_RT] | None', callbacks: 'dict[str, t.Callable[[dict], None]]') -> 't.Counter[str]'",
        "overridden by PositionedReader (a public hook): bad lines named by number, RECORD/STATE seen first, a stop",
    ),
]


def _function(owner: type, name: str) -> t.Callable[..., t.Any]:
    member = inspect.getattr_static(owner, name)
    return member.__func__ if isinstance(member, (classmethod, staticmethod)) else member


@pytest.mark.parametrize(
    ("owner", "name", "signature", "why"), PINNED_METHODS, ids=[f"{o.__name__}.{n}" for o, n, _, _ in PINNED_METHODS]
)
def test_private_sdk_method_keeps_its_signature(owner: type, name: str, signature: str, why: str) -> None:
    assert why
    assert str(inspect.signature(_function(owner, name))) == signature


def _package_classes() -> list[type]:
    """Every class defined in the package (the target, its reader, its sinks, ...)."""
    classes: list[type] = []
    for info in pkgutil.iter_modules(target_shopimind.__path__):
        module = importlib.import_module(f"target_shopimind.{info.name}")
        classes += [obj for obj in vars(module).values() if isinstance(obj, type) and obj.__module__ == module.__name__]
    return classes


@pytest.mark.parametrize(("owner", "name"), [(o, n) for o, n, _, _ in PINNED_METHODS])
def test_the_package_still_overrides_what_is_pinned(owner: type, name: str) -> None:
    """A pin nobody needs any more goes with its override."""
    overriders = [cls for cls in _package_classes() if issubclass(cls, owner) and name in vars(cls)]
    assert overriders, f"no class of the package overrides {owner.__name__}.{name}: drop its pin"


def test_every_private_sdk_member_the_package_overrides_is_pinned() -> None:
    """An override of a private SDK member that nobody pinned fails here."""
    pinned = {(owner, name) for owner, name, _, _ in PINNED_METHODS}
    bases = (Target, Sink, SingerReader)
    unpinned = sorted(
        f"{cls.__name__}.{name}"
        for cls in _package_classes()
        for base in bases
        if issubclass(cls, base)
        for name in vars(cls)
        if name.startswith("_")
        and not name.startswith(("__", "_abc_"))
        and hasattr(base, name)
        and (base, name) not in pinned
    )
    assert unpinned == []


def test_sdk_drain_all_goes_through_the_pinned_members() -> None:
    """`drain_all` (@final) drains replaced sinks first, then the active ones, through `_drain_all`."""
    source = inspect.getsource(Target.drain_all)
    assert "self._drain_all(self._sinks_to_clear, 1)" in source
    assert "self._drain_all(self._sinks_active.values(), self.max_parallelism)" in source
    assert "self._write_state_message(" in source


def test_sdk_listen_ends_the_input_once_the_reader_returns() -> None:
    """A stop signal ends the reader's loop early; the SDK's `listen` then runs the end of input."""
    assert _calls_in_order(Target.listen, ["self.process_lines(file_input)", "self.process_endofpipe()"])
    assert "self.message_reader.process_lines(" in inspect.getsource(Target.process_lines)


def _calls_in_order(function: t.Callable[..., t.Any], calls: list[str]) -> bool:
    source = inspect.getsource(function)
    places = [source.find(call) for call in calls]
    return -1 not in places and places == sorted(places)


def test_sdk_checks_a_record_in_the_order_the_sinks_rely_on() -> None:
    """The sinks refuse records on public hooks, and that relies on the SDK's order per record.

    The validator runs before date-times are parsed (so it finds the unparsable ones first),
    `preprocess_record` before the key-property check (so it fills and notes missing keys),
    and `process_record` last (where the record is refused).
    """
    assert _calls_in_order(
        Target._process_record_message,
        [
            "sink._validate_and_parse(",
            "sink.preprocess_record(",
            "sink._singer_validate_message(",
            "sink.process_record(",
        ],
    )
    assert _calls_in_order(
        Sink._validate_and_parse, ["self._validator.validate(record)", "self._parse_timestamps_in_record("]
    )
    assert "treatment=self.datetime_error_treatment" in inspect.getsource(Sink._validate_and_parse)


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "string", "format": "date-time"},
        {"type": ["string", "null"], "format": "date"},
        {"type": ["null", "string"], "format": "time"},
        {"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]},
        {"type": "string"},
        {"type": "integer", "format": "date-time"},
        {"format": "date-time"},
        {"anyOf": [{"type": "integer"}, {"type": "number"}]},
    ],
)
def test_record_check_finds_the_date_fields_the_sdk_parses(prop: dict[str, t.Any]) -> None:
    """The record check looks at exactly the properties the SDK parses as dates."""
    from singer_sdk.helpers._typing import get_datelike_property_type  # noqa: PLC0415 - the SDK's private rule

    assert datelike_kind(prop) == get_datelike_property_type(prop)


def test_sdk_get_sink_replaces_a_sink_on_a_new_schema() -> None:
    """`get_sink` with a changed schema returns a new sink: the target drains the old one there."""
    target = TargetShopiMind(config={"dry_run": True, "stream_resource_map": {"s": "customers"}})
    try:
        first = target.get_sink("s", schema={"type": "object", "properties": {"id": {"type": "integer"}}})
        second = target.get_sink("s", schema={"type": "object", "properties": {"id": {"type": "string"}}})
        assert second is not first
        assert target.sinks["s"] is second
        assert target.get_sink("s") is second
    finally:
        target.close()


def test_sdk_reads_the_record_age_limit_from_the_instance() -> None:
    """`checkpoint_interval_seconds` sets `_MAX_RECORD_AGE_IN_MINUTES` on the target instance."""
    assert isinstance(Target._MAX_RECORD_AGE_IN_MINUTES, float)
    assert "self._MAX_RECORD_AGE_IN_MINUTES" in inspect.getsource(Target._handle_max_record_age)
    target = TargetShopiMind(config={"dry_run": True, "checkpoint_interval_seconds": 90})
    try:
        assert target._MAX_RECORD_AGE_IN_MINUTES == 1.5
    finally:
        target.close()
