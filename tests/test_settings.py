"""The settings object: read once from the config, typed, frozen, with the schema's defaults and one-line errors."""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import typing as t
import zoneinfo

import pytest
from singer_sdk.exceptions import ConfigValidationError
from support import API_KEY, TARGET

from target_shopimind.resources import BY_NAME
from target_shopimind.settings import SDK_SETTINGS, Settings
from target_shopimind.target import TargetShopiMind

if t.TYPE_CHECKING:
    from pathlib import Path

FIELDS = {f.name for f in dataclasses.fields(Settings)}
# Fields that hold a setting in parsed form, next to the setting itself.
PARSED = {"source_zone"}


@functools.cache
def about_properties() -> dict[str, dict]:
    done = subprocess.run([*TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["settings"]["properties"]


def read(**config: t.Any) -> tuple[Settings, list[str]]:
    return Settings.from_config({"dry_run": True, **config})


def test_every_advertised_setting_is_a_field_or_read_by_the_sdk() -> None:
    advertised = set(about_properties())
    assert advertised - set(SDK_SETTINGS) == FIELDS - PARSED
    assert not FIELDS & set(SDK_SETTINGS)
    assert set(SDK_SETTINGS) <= advertised


def test_every_field_has_the_schemas_default() -> None:
    settings, errors = Settings.from_config({})
    assert errors == ["api_key is required (set TARGET_SHOPIMIND_API_KEY), unless dry_run is true"]
    with_default = {name: p["default"] for name, p in about_properties().items() if "default" in p}
    assert with_default.keys() - set(SDK_SETTINGS) >= {"base_url", "max_requests_per_minute", "store_path"}
    for name, default in with_default.items():
        if name in FIELDS:
            assert getattr(settings, name) == default, name
    for name in FIELDS - PARSED - with_default.keys():
        assert getattr(settings, name) in (None, "", {}), name


def test_values_are_typed() -> None:
    settings, _ = read(request_timeout=5, checkpoint_interval_seconds=2, max_retries=3, source_timezone="Europe/Paris")
    assert type(settings.request_timeout) is float
    assert type(settings.checkpoint_interval_seconds) is float
    assert type(settings.max_retry_seconds) is float
    assert type(settings.progress_interval_seconds) is float
    assert type(settings.max_retries) is int
    assert settings.max_retries == 3
    assert settings.source_zone == zoneinfo.ZoneInfo("Europe/Paris")


def test_settings_are_frozen() -> None:
    settings, _ = read(stream_resource_map={"s": "customers"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_retries = 1  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        settings.unknown = 1  # type: ignore[attr-defined]
    for mapping in (settings.stream_resource_map, settings.custom_data, settings.child_streams, settings.stream_maps):
        with pytest.raises(TypeError):
            t.cast("dict[str, object]", mapping)["t"] = None


def test_the_config_is_copied_not_shared() -> None:
    routes = {"s": "customers"}
    settings, _ = Settings.from_config({"dry_run": True, "stream_resource_map": routes})
    routes["s"] = "orders"
    assert settings.stream_resource_map == {"s": "customers"}


def test_parsed_specs() -> None:
    settings, errors = read(
        custom_data={"events": {"definition": " visits ", "unique_keys": ["id"]}, "bad": {}},
        child_streams={"public-order_lines": {"into": "orders.products", "parent_key": "order_id"}},
    )
    assert errors == ["custom_data: stream 'bad': 'definition' must name the custom data definition"]
    assert set(settings.custom_data) == {"events"}
    assert settings.custom_data["events"].definition == "visits"
    assert settings.custom_data["events"].unique_keys == ("id",)
    assert settings.child_streams["public-order_lines"].parent_key == "order_id"


def test_the_key_is_not_in_the_repr() -> None:
    settings, _ = Settings.from_config({"api_key": API_KEY})
    assert settings.api_key == API_KEY
    assert API_KEY not in repr(settings)


BAD_VALUES: dict[str, tuple[dict[str, t.Any], str]] = {
    "concurrency 0": (
        {"max_concurrent_requests": 0},
        "max_concurrent_requests must be an integer from 1 to 32 (got 0)",
    ),
    "rate null": (
        {"max_requests_per_minute": None},
        "max_requests_per_minute must be an integer from 1 to 100000 (got None)",
    ),
    "batch 0": ({"batch_size_rows": 0}, "batch_size_rows must be an integer of at least 1 (got 0)"),
    "timeout 0": ({"request_timeout": 0}, "request_timeout must be a number of seconds > 0 (got 0)"),
    "retry time -1": ({"max_retry_seconds": -1}, "max_retry_seconds must be a number of seconds ≥ 0 (got -1)"),
    "lang": ({"default_lang": "French"}, "default_lang must be an ISO 639-1 code such as 'fr' (got 'French')"),
    "currency": ({"default_currency": "euro"}, "default_currency must be an ISO 4217 code such as 'EUR' (got 'euro')"),
    "zone": (
        {"source_timezone": "Mars/Olympus"},
        "source_timezone 'Mars/Olympus' is not a known IANA time zone (examples: 'Europe/Paris', 'UTC')",
    ),
    "progress -1": ({"progress_interval_seconds": -1}, "progress_interval_seconds must be 0 (off) or more"),
    "progress null": ({"progress_interval_seconds": None}, "progress_interval_seconds must be 0 (off) or more"),
    "resend -1": ({"resend_after_days": -1}, "resend_after_days must be 0 or more"),
    "empty label": ({"data_source": "  "}, "data_source must be a non-empty label"),
    "label and id": (
        {"data_source": "shop", "id_data_source": 3},
        "set either data_source (a label, found or created) or id_data_source (an id), not both",
    ),
    "http": (
        {"base_url": "http://example.com"},
        "base_url 'http://example.com' uses http:// on a non-loopback host; use https://",
    ),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_one_bad_value_is_its_one_line_error(case: str) -> None:
    extra, error = BAD_VALUES[case]
    settings, errors = read(**extra)
    assert errors == [error]
    assert isinstance(settings, Settings)  # still built, with the default where the value is unusable


def test_a_null_number_reads_as_its_default_when_not_validated() -> None:
    settings, errors = read(max_requests_per_minute=None, progress_interval_seconds=None)
    assert len(errors) == 2
    assert settings.max_requests_per_minute == 600
    assert settings.progress_interval_seconds == 30.0


def test_the_target_refuses_the_errors_in_the_order_of_the_settings(tmp_path: Path) -> None:
    config = {
        "stream_resource_map": {"s": "nope"},
        "default_lang": "French",
        "rejected_records_path": str(tmp_path / "rejects.jsonl"),
        "source_timezone": "Mars/Olympus",
    }
    with pytest.raises(ConfigValidationError) as refused:
        TargetShopiMind(config=config)
    assert refused.value.errors == [
        f"stream_resource_map: 's' maps to unknown resource 'nope' (known: {', '.join(sorted(BY_NAME))})",
        "api_key is required (set TARGET_SHOPIMIND_API_KEY), unless dry_run is true",
        "default_lang must be an ISO 639-1 code such as 'fr' (got 'French')",
        "source_timezone 'Mars/Olympus' is not a known IANA time zone (examples: 'Europe/Paris', 'UTC')",
    ]


def test_env_var_settings_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGET_SHOPIMIND_API_KEY", API_KEY)
    monkeypatch.setenv("TARGET_SHOPIMIND_DRY_RUN", "true")
    monkeypatch.setenv("TARGET_SHOPIMIND_MAX_CONCURRENT_REQUESTS", "7")
    monkeypatch.setenv("TARGET_SHOPIMIND_ON_DELETED_RECORD", "delete")
    monkeypatch.setenv("TARGET_SHOPIMIND_CUSTOM_DATA", json.dumps({"events": {"definition": "visits"}}))
    target = TargetShopiMind(config={}, parse_env_config=True)
    try:
        settings = target.settings
        assert settings.api_key == API_KEY
        assert settings.dry_run is True
        assert settings.max_concurrent_requests == 7
        assert settings.on_deleted_record == "delete"
        assert settings.custom_data["events"].definition == "visits"
        assert target.custom.spec("events") is not None
    finally:
        target.close()


def test_the_target_routes_by_its_settings() -> None:
    target = TargetShopiMind(config={"dry_run": True, "stream_resource_map": {"s": "customers", "t": None}})
    try:
        assert target.settings.stream_resource_map == {"s": "customers", "t": None}
        resource = target.route("s").resource
        assert resource is not None
        assert resource.name == "customers"
        assert target.route("t").on_purpose
    finally:
        target.close()


def test_injected_values_come_from_the_settings() -> None:
    settings, _ = read(default_lang="fr", default_currency="EUR", shop_id="7", id_data_source=3, source_label="web")
    assert settings.injected().values() == {
        "lang": "fr",
        "currency": "EUR",
        "shop_id": "7",
        "id_data_source": 3,
        "source_label": "web",
    }
    assert settings.injected(12).id_data_source == 12  # the id the data_source label resolved to
    assert read()[0].injected().values() == {}
