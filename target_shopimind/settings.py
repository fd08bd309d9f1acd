"""The target's settings: their JSON schema, and the typed, frozen values a run reads once.

The schema is what `--about`, Meltano and the SDK's validation see; its defaults are the only
defaults. `Settings.from_config` reads a config once into typed values (parsed where that is
cheap: the source zone, the custom data and child stream specs) together with the one-line
errors of every value the schema cannot refuse by itself.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import pathlib
import re
import types
import typing as t

from singer_sdk import typing as th

from target_shopimind.children import ChildSpec, parse_child_streams
from target_shopimind.client import DEFAULT_MAX_RETRY_SECONDS, check_api_key, check_base_url
from target_shopimind.custom_data import Spec, parse_specs
from target_shopimind.mapping import Injected, source_zone, to_lang, to_upper
from target_shopimind.resources import RESOURCES
from target_shopimind.routing import check_resource_map
from target_shopimind.store import DEFAULT_FOLDER

if t.TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping

_RESOURCE_LIST = ", ".join(r.name for r in RESOURCES)
MAX_CONCURRENT_REQUESTS = 32
# SDK built-ins the SDK appends to every target's settings that have no effect here: items always
# upsert by key (`load_method`), and `_sdc_*` fields are always read and never sent
# (`add_record_metadata`).
IGNORED_SDK_SETTINGS = ("add_record_metadata", "load_method")
# SDK built-ins the SDK reads from the config itself (record validation, stream maps, flattening);
# `batch_size_rows` and `stream_maps` are fields too, as the target reads them as well.
SDK_SETTINGS = (
    "validate_records",
    "stream_map_config",
    "faker_config",
    "flattening_enabled",
    "flattening_max_depth",
    "flattening_max_key_length",
    "flattening_separator",
)

CONFIG_JSONSCHEMA: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        description="ShopiMind API key, sent as `spm-api-key`. Required unless `dry_run`.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default="https://core.shopimind.com",
        description="API root; requests go to `{base_url}/v1/...`. `http://` only for loopback hosts.",
    ),
    th.Property(
        "stream_resource_map",
        th.ObjectType(additional_properties=th.CustomType({"type": ["string", "null"]})),
        default={},
        description=(
            "Stream name → resource name; wins over the default routing. `null` drops a stream on purpose. "
            f"Resources: {_RESOURCE_LIST}."
        ),
    ),
    th.Property(
        "on_unknown_stream",
        th.StringType,
        default="skip",
        allowed_values=["skip", "fail"],
        description="A stream that routes to no resource: `skip` (one warning) or `fail` (stop the run).",
    ),
    th.Property(
        "on_deleted_record",
        th.StringType,
        default="ignore",
        allowed_values=["ignore", "delete"],
        description="Records with `_sdc_deleted_at`: `ignore` counts them, `delete` sends them to bulk-delete.",
    ),
    th.Property("default_lang", th.StringType, description="ISO 639-1 `lang` for items that have none."),
    th.Property("default_currency", th.StringType, description="ISO 4217 `currency` for items that have none."),
    th.Property("shop_id", th.StringType, description="Added to every item that accepts it."),
    th.Property("id_data_source", th.IntegerType, description="Added to every item that accepts it."),
    th.Property("source_label", th.StringType, description="Added to every item that accepts it."),
    th.Property(
        "max_requests_per_minute",
        th.IntegerType(minimum=1, maximum=100_000),
        default=600,
        description="Cap for all requests of the process (ShopiMind allows 600/min per key).",
    ),
    th.Property(
        "max_concurrent_requests",
        th.IntegerType(minimum=1, maximum=MAX_CONCURRENT_REQUESTS),
        default=4,
        description=f"Requests in flight at once, all resources together (1 to {MAX_CONCURRENT_REQUESTS}).",
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0),
        default=30,
        description="Seconds per request attempt, the whole answer included.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=1000),
        default=5,
        description="Retries per request for 408/429/5xx and network errors (see max_retry_seconds).",
    ),
    th.Property(
        "max_retry_seconds",
        th.NumberType(minimum=0),
        default=DEFAULT_MAX_RETRY_SECONDS,
        description=(
            "Longest time one request is retried, from its first attempt; it stops at this or at "
            "max_retries, whichever comes first."
        ),
    ),
    th.Property(
        "checkpoint_interval_seconds",
        th.NumberType(exclusive_minimum=0),
        default=60,
        description="Longest time between two checkpoints (flush, then STATE) while records keep arriving.",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Route, map, validate and batch everything but send nothing.",
    ),
    th.Property(
        "rejected_records_path",
        th.StringType,
        description="JSONL file every rejected record is appended to.",
    ),
    th.Property(
        "max_rejected_records",
        th.IntegerType(minimum=0),
        description="Fail the run once more records than this have been rejected.",
    ),
    th.Property(
        "custom_data",
        th.ObjectType(
            additional_properties=th.ObjectType(
                th.Property("definition", th.StringType, required=True),
                th.Property("unique_keys", th.ArrayType(th.StringType)),
                th.Property(
                    "contact",
                    th.ObjectType(
                        th.Property("column", th.StringType, required=True),
                        th.Property(
                            "by",
                            th.StringType,
                            required=True,
                            allowed_values=["email", "id_customer", "id_contact"],
                        ),
                    ),
                ),
            )
        ),
        default={},
        description=(
            "Stream name → `{definition, unique_keys?, contact?}`: load the stream into that ShopiMind "
            "custom data definition (found by name, else created from the stream's schema); wins over routing."
        ),
    ),
    th.Property(
        "data_source",
        th.StringType,
        description=(
            "Label of the ShopiMind data source items are attributed to: found by label, created when absent; "
            "its id fills `id_data_source`."
        ),
    ),
    th.Property(
        "child_streams",
        th.CustomType({"type": ["object", "null"], "additionalProperties": {"type": "object"}}),
        default={},
        description=(
            "Stream → {into, parent_key, value?}: rows assembled into a parent's array field "
            "(orders.products, customers.group_ids, products.category_ids) instead of loaded on their own."
        ),
    ),
    th.Property(
        "source_timezone",
        th.StringType,
        default="UTC",
        description=(
            "IANA zone of date-times that arrive without an offset (shop databases often store local time): "
            "they are read in this zone and sent as UTC."
        ),
    ),
    th.Property(
        "progress_interval_seconds",
        th.NumberType,
        default=30,
        description="One progress line this often while a run goes on; 0 turns it off.",
    ),
    th.Property(
        "store_path",
        th.StringType,
        default=DEFAULT_FOLDER,
        description=(
            "Folder of the sync store (SQLite), relative to the working directory; one file per "
            "base_url + API-key fingerprint."
        ),
    ),
    th.Property(
        "change_detection",
        th.BooleanType,
        default=True,
        description="Skip an item whose bytes equal what ShopiMind last accepted for its key.",
    ),
    th.Property(
        "resend_after_days",
        th.NumberType,
        default=7,
        description="Send an unchanged item again once its last acceptance is older than this; 0 sends every item.",
    ),
    th.Property(
        "full_resync",
        th.BooleanType,
        default=False,
        description="Send every item this run whatever the store says (the store is still updated).",
    ),
    th.Property(
        "replay_rejected",
        th.BooleanType,
        default=True,
        description="Replay the rejected records kept in the sync store when their stream comes again.",
    ),
    th.Property(
        "store_lock_timeout_seconds",
        th.NumberType,
        default=60,
        description="How long a run waits for another process using the same sync store before it stops.",
    ),
).to_dict()

# The schema's defaults, taken before the SDK appends its built-ins to the same dict.
_DEFAULTS: dict[str, t.Any] = {
    name: prop["default"] for name, prop in CONFIG_JSONSCHEMA["properties"].items() if "default" in prop
}
# name: (lowest, highest or None); null is refused for those with a default.
_INTEGER_BOUNDS: dict[str, tuple[int, int | None]] = {
    "max_requests_per_minute": (1, 100_000),
    "max_concurrent_requests": (1, MAX_CONCURRENT_REQUESTS),
    "max_retries": (0, 1000),
    "batch_size_rows": (1, None),
    "max_rejected_records": (0, None),
}
# name: zero allowed
_SECONDS: dict[str, bool] = {
    "request_timeout": False,
    "checkpoint_interval_seconds": False,
    "max_retry_seconds": True,
}
_LANG = r"^[a-z]{2}$"
_CURRENCY = r"^[A-Z]{3}$"


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the target, typed, with the schema's default where the config has none."""

    api_key: str = dataclasses.field(repr=False)  # "" when absent (dry run)
    base_url: str
    stream_resource_map: Mapping[str, str | None]
    on_unknown_stream: str  # skip | fail
    on_deleted_record: str  # ignore | delete
    default_lang: str | None
    default_currency: str | None
    shop_id: str | None
    id_data_source: int | None
    source_label: str | None
    max_requests_per_minute: int
    max_concurrent_requests: int
    request_timeout: float
    max_retries: int
    max_retry_seconds: float
    checkpoint_interval_seconds: float
    dry_run: bool
    rejected_records_path: str | None
    max_rejected_records: int | None
    custom_data: Mapping[str, Spec]  # by stream; entries with errors left out
    data_source: str | None
    child_streams: Mapping[str, ChildSpec]  # by stream; entries with errors left out
    source_timezone: str
    source_zone: datetime.tzinfo  # `source_timezone` as a zone (UTC when it is not one)
    progress_interval_seconds: float
    store_path: str
    change_detection: bool
    resend_after_days: float
    full_resync: bool
    replay_rejected: bool
    store_lock_timeout_seconds: float
    batch_size_rows: int | None  # the SDK's built-in, bounded here
    stream_maps: Mapping[str, t.Any]  # the SDK's built-in, also read for the keys of refused records

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> tuple[Settings, list[str]]:
        """The settings of `config`, and one error line per value that would fail later (or do something silly).

        A run refuses a config with errors before anything is sent. `rejected_records_path` is
        opened for appending to prove it can be written.
        """
        errors = _errors(config)
        zone = "UTC" if config.get("source_timezone") is None else config["source_timezone"]
        try:
            parsed_zone = source_zone(zone)
        except ValueError:
            parsed_zone = source_zone(None)
        settings = cls(
            api_key=config.get("api_key") or "",
            base_url=_text(config, "base_url"),
            stream_resource_map=types.MappingProxyType(dict(config.get("stream_resource_map") or {})),
            on_unknown_stream=_text(config, "on_unknown_stream"),
            on_deleted_record=_text(config, "on_deleted_record"),
            default_lang=config.get("default_lang"),
            default_currency=config.get("default_currency"),
            shop_id=config.get("shop_id"),
            id_data_source=config.get("id_data_source"),
            source_label=config.get("source_label"),
            max_requests_per_minute=_integer(config, "max_requests_per_minute"),
            max_concurrent_requests=_integer(config, "max_concurrent_requests"),
            request_timeout=_seconds(config, "request_timeout"),
            max_retries=_integer(config, "max_retries"),
            max_retry_seconds=_seconds(config, "max_retry_seconds"),
            checkpoint_interval_seconds=_seconds(config, "checkpoint_interval_seconds"),
            dry_run=bool(config.get("dry_run", _DEFAULTS["dry_run"])),
            rejected_records_path=config.get("rejected_records_path"),
            max_rejected_records=config.get("max_rejected_records"),
            custom_data=types.MappingProxyType(parse_specs(config.get("custom_data"))[0]),
            data_source=config.get("data_source"),
            child_streams=types.MappingProxyType(parse_child_streams(config.get("child_streams"))[0]),
            source_timezone=str(zone),
            source_zone=parsed_zone,
            progress_interval_seconds=_float(config, "progress_interval_seconds"),
            store_path=_text(config, "store_path"),
            change_detection=bool(config.get("change_detection", _DEFAULTS["change_detection"])),
            resend_after_days=_float(config, "resend_after_days"),
            full_resync=bool(config.get("full_resync", _DEFAULTS["full_resync"])),
            replay_rejected=bool(config.get("replay_rejected", _DEFAULTS["replay_rejected"])),
            store_lock_timeout_seconds=_float(config, "store_lock_timeout_seconds"),
            batch_size_rows=config.get("batch_size_rows"),
            stream_maps=types.MappingProxyType(dict(config.get("stream_maps") or {})),
        )
        return settings, errors

    def injected(self, id_data_source: int | None = None) -> Injected:
        """The values added to items that accept them; `id_data_source` is the resolved `data_source`."""
        return Injected(
            lang=self.default_lang,
            currency=self.default_currency,
            shop_id=self.shop_id,
            id_data_source=self.id_data_source if id_data_source is None else id_data_source,
            source_label=self.source_label,
        )


def _errors(cfg: Mapping[str, t.Any]) -> list[str]:
    """The one-line errors of a config, in the order a user reads the settings."""
    errors = check_resource_map(cfg.get("stream_resource_map") or {})
    key = cfg.get("api_key")
    if not cfg.get("dry_run") and not key:
        errors.append("api_key is required (set TARGET_SHOPIMIND_API_KEY), unless dry_run is true")
    problem = (check_api_key(key) if isinstance(key, str) else "api_key must be a string") if key else None
    problem = problem or check_base_url(cfg.get("base_url", _DEFAULTS["base_url"]))
    if problem:
        errors.append(problem)
    errors.extend(_number_errors(cfg))
    errors.extend(_code_errors(cfg))
    problem = _unwritable(cfg.get("rejected_records_path"))
    if problem:
        errors.append(problem)
    errors.extend(parse_specs(cfg.get("custom_data"))[1])
    if cfg.get("data_source") is not None and cfg.get("id_data_source") is not None:
        errors.append("set either data_source (a label, found or created) or id_data_source (an id), not both")
    if cfg.get("data_source") is not None and not str(cfg["data_source"]).strip():
        errors.append("data_source must be a non-empty label")
    children, child_errors = parse_child_streams(cfg.get("child_streams"))
    errors += child_errors
    errors += [
        f"child_streams['{name}']: the stream is also in custom_data; a stream goes to one place"
        for name in children
        if name in (cfg.get("custom_data") or {})
    ]
    try:
        source_zone(cfg.get("source_timezone"))
    except ValueError as exc:
        errors.append(str(exc))
    progress = _number(cfg.get("progress_interval_seconds", _DEFAULTS["progress_interval_seconds"]))
    if progress is None or progress < 0:
        errors.append("progress_interval_seconds must be 0 (off) or more")
    days = _number(cfg.get("resend_after_days", _DEFAULTS["resend_after_days"]))
    if days is None or days < 0:
        errors.append("resend_after_days must be 0 or more")
    return errors


def _number(value: object) -> float | None:
    """`value` as a float as `float()` reads it, or None."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _text(cfg: Mapping[str, t.Any], name: str) -> str:
    """A text setting with its default (null or empty: the default)."""
    return str(cfg.get(name) or _DEFAULTS[name])


def _float(cfg: Mapping[str, t.Any], name: str) -> float:
    """A number setting with its default (null or unreadable: the default; refused by `_errors`)."""
    number = _number(cfg.get(name))
    return float(_DEFAULTS[name]) if number is None else number


def _integer(cfg: Mapping[str, t.Any], name: str) -> int:
    """An integer setting with its default (checked by `_number_errors`)."""
    value = cfg.get(name)
    return int(_DEFAULTS[name] if value is None else value)


def _seconds(cfg: Mapping[str, t.Any], name: str) -> float:
    """A duration setting with its default (checked by `_number_errors`)."""
    value = cfg.get(name)
    return float(_DEFAULTS[name] if value is None else value)


def _number_errors(cfg: Mapping[str, t.Any]) -> list[str]:
    errors = []
    for name, (low, high) in _INTEGER_BOUNDS.items():
        value = cfg.get(name)
        if value is None and (name not in cfg or name not in _DEFAULTS):
            continue
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
            errors.append(f"{name} must be an integer {span} (got {value!r:.40})")
    for name, zero in _SECONDS.items():
        value = cfg.get(name)
        if name not in cfg:
            continue
        number = None
        if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
            number = float(value) if math.isfinite(value) else None
        if number is None or number < 0 or (number == 0 and not zero):
            errors.append(f"{name} must be a number of seconds {'≥' if zero else '>'} 0 (got {value!r:.40})")
    return errors


def _code_errors(cfg: Mapping[str, t.Any]) -> list[str]:
    errors = []
    lang, currency = cfg.get("default_lang"), cfg.get("default_currency")
    if lang is not None and not (isinstance(lang, str) and re.match(_LANG, str(to_lang(lang)))):
        errors.append(f"default_lang must be an ISO 639-1 code such as 'fr' (got {lang!r:.40})")
    if currency is not None and not (isinstance(currency, str) and re.match(_CURRENCY, str(to_upper(currency)))):
        errors.append(f"default_currency must be an ISO 4217 code such as 'EUR' (got {currency!r:.40})")
    return errors


def _unwritable(path: str | None) -> str | None:
    """Why the rejects file cannot be appended to, or None (checked before anything is sent)."""
    if not path:
        return None
    try:
        target = pathlib.Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8"):
            pass
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return f"rejected_records_path '{path:.200}' cannot be written ({reason})"
    return None
