"""Messy shop databases: empty or zero dates, empty number strings, local time, subscriber keys."""

from __future__ import annotations

import datetime as dt
import json
import typing as t
import zoneinfo

import pytest
from support import CUSTOMER_PROPS, customer, record, run_target, schema, state, target_config

from target_shopimind import resources
from target_shopimind.mapping import Injected, ItemMapper, is_blank_date, source_zone, to_datetime
from target_shopimind.validation import validate

if t.TYPE_CHECKING:
    import pathlib

    from target_shopimind.sandbox import Sandbox

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
BLANK_DATES = ["", "0000-00-00", "0000-00-00 00:00:00", " ", "0000-00-00T00:00:00"]


def mapper(name: str, keys: list[str] | None = None, zone: dt.tzinfo = dt.timezone.utc) -> ItemMapper:
    return ItemMapper(resources.BY_NAME[name], ["id"] if keys is None else keys, Injected(), zone=zone)


def base_customer(**change: t.Any) -> dict[str, t.Any]:
    return {"id": 1, "email": "a@b.co", "lang": "fr", **change}


# --- empty and zero dates ----------------------------------------------------------------


@pytest.mark.parametrize("value", BLANK_DATES)
def test_empty_or_zero_optional_date_becomes_null(value: str) -> None:
    m = mapper("customers")
    item, _ = m.map(base_customer(birth_date=value))
    assert item["birth_date"] is None
    assert validate(resources.BY_NAME["customers"], item) == []
    assert m.blanked == ["birth_date"]


@pytest.mark.parametrize("value", BLANK_DATES)
def test_empty_or_zero_optional_datetime_becomes_null(value: str) -> None:
    item, _ = mapper("vouchers").map({"id": 3, "ended_at": value})
    assert item["ended_at"] is None
    assert "ended_at" not in " ".join(validate(resources.BY_NAME["vouchers"], item))


def test_zero_datetime_of_a_non_null_sdk_field_is_left_out() -> None:
    m = mapper("customers")
    item, _ = m.map(base_customer(created_at="0000-00-00 00:00:00", updated_at="2026-05-07 08:00:00"))
    assert "created_at" not in item
    assert item["updated_at"] == "2026-05-07T08:00:00.000Z"
    missing: list[str] = []
    assert validate(resources.BY_NAME["customers"], item, missing=missing) == []
    assert "created_at" in missing


def test_zero_date_of_a_required_field_is_still_refused() -> None:
    item, _ = mapper("orders_statuses").map({"id": 2, "lang": "fr", "name": "Paid", "created_at": "0000-00-00"})
    assert validate(resources.BY_NAME["orders_statuses"], item) == [
        "created_at: must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'",
    ]


def test_zero_date_of_a_nested_optional_field() -> None:
    m = mapper("orders")
    order = {"id": 9, "customer": {"customer_id": "1", "email": "a@b.co", "created_at": "0000-00-00 00:00:00"}}
    item, _ = m.map(order)
    assert item["customer"] == {"customer_id": "1", "email": "a@b.co"}
    assert m.blanked == ["customer.created_at"]


def test_a_real_date_is_kept_and_nonsense_is_left_for_validation() -> None:
    item, _ = mapper("customers").map(base_customer(birth_date="1990-02-30"))
    assert validate(resources.BY_NAME["customers"], item) == ["birth_date: must be a date as YYYY-MM-DD"]
    assert not is_blank_date("2026-05-07")
    assert not is_blank_date("0000-00-01")


# --- empty number strings ----------------------------------------------------------------


@pytest.mark.parametrize(("name", "field"), [("products", "price_discount"), ("vouchers", "value")])
def test_empty_string_in_an_optional_number_becomes_null(name: str, field: str) -> None:
    m = mapper(name)
    item, _ = m.map({"id": 5, field: ""})
    assert item[field] is None
    assert m.blanked == [field]


def test_empty_string_in_an_optional_id_becomes_null() -> None:
    item, _ = mapper("products_categories").map({"id": 5, "parent_category_id": ""})
    assert item["parent_category_id"] is None


def test_empty_string_in_a_non_null_sdk_number_is_left_out() -> None:
    item, _ = mapper("products").map({"id": 5, "lang": "fr", "price": "", "quantity_remaining": " "})
    assert "price" not in item
    assert "quantity_remaining" not in item
    assert validate(resources.BY_NAME["products"], item) == []


def test_empty_string_in_a_required_number_is_still_refused() -> None:
    line = {"product_id": 4, "quantity": "", "price": 1, "price_without_tax": 1}
    item, _ = mapper("orders").map({"id": 9, "products": [line]})
    assert "products.0.quantity: must be an integer" in validate(resources.BY_NAME["orders"], item)


def test_blanked_fields_are_named_once_per_field() -> None:
    m = mapper("customers")
    m.map(base_customer(birth_date=""))
    assert m.blanked == ["birth_date"]
    m.map(base_customer(birth_date="0000-00-00"))
    assert m.blanked == []
    m.map(base_customer(id=2, birth_date="", created_at=""))
    assert m.blanked == ["created_at"]


# --- source_timezone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-07 10:00:00", "2026-05-07T08:00:00.000Z"),  # summer: UTC+2
        ("2026-01-07T10:00:00", "2026-01-07T09:00:00.000Z"),  # winter: UTC+1
        (dt.datetime(2026, 5, 7, 10, 0), "2026-05-07T08:00:00.000Z"),  # noqa: DTZ001 - what the SDK parsed, naive
        ("2026-05-07T10:00:00Z", "2026-05-07T10:00:00.000Z"),  # an offset wins
        ("2026-05-07T10:00:00+02:00", "2026-05-07T08:00:00.000Z"),
        (dt.datetime(2026, 5, 7, 10, 0, tzinfo=dt.timezone.utc), "2026-05-07T10:00:00.000Z"),
        (dt.date(2026, 5, 7), "2026-05-06T22:00:00.000Z"),
    ],
)
def test_offset_less_datetimes_are_read_in_the_source_zone(value: object, expected: str) -> None:
    assert to_datetime(value, PARIS) == expected
    item, _ = mapper("vouchers", zone=PARIS).map({"id": 3, "started_at": value})
    assert item["started_at"] == expected


def test_default_zone_is_utc() -> None:
    assert to_datetime("2026-05-07 10:00:00") == "2026-05-07T10:00:00.000Z"
    assert source_zone(None) is dt.timezone.utc
    assert source_zone("UTC") is dt.timezone.utc
    assert source_zone("Europe/Paris") == PARIS


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe/Pariss", "../etc/passwd"])
def test_unknown_zone_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="source_timezone"):
        source_zone(name)


def test_unknown_zone_is_a_config_error(tmp_path: pathlib.Path, sandbox: Sandbox) -> None:
    run = run_target(tmp_path, target_config(sandbox, source_timezone="Europe/Pariss"), [])
    assert run.returncode != 0
    assert "source_timezone" in run.stderr
    assert run.stdout == ""


# --- the e-mail key of newsletter subscribers ----------------------------------------------


def test_subscriber_email_key_is_never_filled_from_the_primary_key() -> None:
    m = mapper("newsletter_subscribers", ["id"])
    item, dropped = m.map({"id": 8, "email": None, "is_subscribed": True})
    assert item["email"] is None
    assert dropped == ["id"]
    assert validate(resources.BY_NAME["newsletter_subscribers"], item) == ["email: is required"]
    item, _ = m.map({"id": 9, "is_subscribed": True})
    assert validate(resources.BY_NAME["newsletter_subscribers"], item) == ["email: is required"]
    item, _ = m.map({"id": 10, "email": "paul@example.com"})
    assert item["email"] == "paul@example.com"


# --- over HTTP -----------------------------------------------------------------------------


def test_prestashop_style_customers_land_in_full(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    stream = "shop-ps_customer"
    props = {
        **CUSTOMER_PROPS,
        "birth_date": {"type": ["string", "null"], "format": "date"},  # the SDK parses it
        "created_at": {"type": ["string", "null"]},  # no format: the mapping reads it
    }
    blanks = ["", "0000-00-00", "1990-12-10"]
    rows = [customer(n, birth_date=blanks[n % 3], created_at="2026-05-07 10:00:00") for n in range(1, 61)]
    rows[0]["created_at"] = "0000-00-00 00:00:00"
    messages = [schema(stream, props, ["id"]), *(record(stream, r) for r in rows), state({"bookmarks": {}})]
    config = target_config(sandbox, source_timezone="Europe/Paris", stream_resource_map={stream: "customers"})
    run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr
    stored = {c["customer_id"]: c for c in sandbox.items("customers")}
    assert len(stored) == 60
    assert run.last_state["target_shopimind"]["rejected_count"] == {}
    assert [stored[str(n)]["birth_date"] for n in range(1, 4)] == [None, "1990-12-10", None]
    assert "created_at" not in stored["1"]
    assert stored["2"]["created_at"] == "2026-05-07T08:00:00.000Z"
    # One warning per stream and field, however many rows held such values.
    lines = run.stderr.splitlines()
    assert len([line for line in lines if "birth_date" in line]) == 1
    assert len([line for line in lines if "customers.created_at" in line]) == 1


def test_subscribers_keyed_by_id_without_email_are_rejected_as_such(
    sandbox: Sandbox,
    tmp_path: pathlib.Path,
) -> None:
    stream = "public-subscribers"
    props = {
        "id": {"type": ["integer"]},
        "email": {"type": ["string", "null"]},
        "is_subscribed": {"type": ["boolean", "null"]},
    }
    rows: list[dict[str, t.Any]] = [
        {"id": 1, "email": "a@example.com", "is_subscribed": True},
        {"id": 2, "email": None, "is_subscribed": True},
    ]
    rejects = tmp_path / "rejects.jsonl"
    messages = [schema(stream, props, ["id"]), *(record(stream, r) for r in rows), state({"b": 1})]
    run = run_target(tmp_path, target_config(sandbox, rejected_records_path=str(rejects)), messages)
    assert run.returncode == 0, run.stderr
    assert [s["email"] for s in sandbox.items("newsletter_subscribers")] == ["a@example.com"]
    (rejected,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert rejected["errors"] == ["email: is required"]
    assert rejected["stage"] == "validation"


def test_custom_data_date_times_are_read_in_the_source_zone(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    stream = "public-loyalty_accounts"
    props: dict[str, dict] = {
        "account_id": {"type": ["integer"]},
        "opened_at": {"type": ["string", "null"], "format": "date-time"},
    }
    rows = [
        {"account_id": 1, "opened_at": "2026-01-07 10:00:00"},
        {"account_id": 2, "opened_at": "0000-00-00 00:00:00"},
    ]
    messages = [schema(stream, props, ["account_id"]), *(record(stream, r) for r in rows), state({"b": 1})]
    config = target_config(sandbox, source_timezone="Europe/Paris", custom_data={stream: {"definition": "Loyalty"}})
    run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr
    stored = {r["account_id"]: r for r in sandbox.items("custom:Loyalty")}
    assert stored[1]["opened_at"] == "2026-01-07T09:00:00.000Z"
    assert stored[2]["opened_at"] is None
