"""Record → item: key, types, nested values, injected settings, dropped fields."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import typing as t

import pytest

from target_shopimind import resources
from target_shopimind.mapping import (
    Injected,
    ItemMapper,
    dumps,
    parse_nested,
    to_bool,
    to_date,
    to_datetime,
    to_id,
    to_int,
    to_lang,
    to_money,
)
from target_shopimind.validation import validate

D = decimal.Decimal
UTC = dt.timezone.utc
PARIS = dt.timezone(dt.timedelta(hours=2))

CREATED = dt.datetime(2026, 5, 7, 10, 0, tzinfo=PARIS)  # 08:00 UTC
CREATED_TXT = "2026-05-07T08:00:00.000Z"
UPDATED = dt.datetime(2026, 5, 8, 9, 30, 15, 123456, tzinfo=UTC)
UPDATED_TXT = "2026-05-08T09:30:15.123Z"
SDC = {
    "_sdc_extracted_at": dt.datetime(2026, 5, 9, tzinfo=UTC),
    "_sdc_batched_at": dt.datetime(2026, 5, 9, tzinfo=UTC),
    "_sdc_deleted_at": None,
    "_sdc_sequence": 1746780000,
}


def stamps() -> dict[str, t.Any]:
    return {"created_at": CREATED, "updated_at": UPDATED}


# resource -> (stream key properties, record as tap-postgres + the SDK hand it over, expected item values)
CASES: dict[str, tuple[list[str], dict[str, t.Any], dict[str, t.Any]]] = {
    "customers_groups": (
        ["id"],
        {"id": 3, "lang": "fr_FR", "name": "VIP", **stamps()},
        {"group_id": "3", "lang": "fr", "name": "VIP", "created_at": CREATED_TXT, "updated_at": UPDATED_TXT},
    ),
    "orders_statuses": (
        ["id"],
        {"id": 2, "lang": "en_GB", "name": "Shipped", "is_deleted": "f", **stamps()},
        {"status_id": "2", "lang": "en", "name": "Shipped", "is_deleted": False, "created_at": CREATED_TXT},
    ),
    "orders_carriers": (
        ["id"],
        {"id": 5, "name": "Colissimo", "is_active": 1, **stamps()},
        {"carrier_id": "5", "name": "Colissimo", "is_active": True, "updated_at": UPDATED_TXT},
    ),
    "products_categories": (
        ["id"],
        {
            "id": 12,
            "lang": "fr_FR",
            "name": "Chaussures",
            "description": None,
            "parent_category_id": 1,
            "link": "https://shop.example/c/12",
            "is_active": "t",
            **stamps(),
        },
        {"category_id": 12, "lang": "fr", "description": "", "parent_category_id": 1, "is_active": True},
    ),
    "products_manufacturers": (
        ["id"],
        {"id": 9, "name": "Acme", "is_active": "yes", **stamps()},
        {"manufacturer_id": "9", "name": "Acme", "is_active": True},
    ),
    "products": (
        ["id"],
        {
            "id": 42,
            "lang": "fr_FR",
            "name": "Basket",
            "reference": "SNK-42",
            "ean13": "3700000000001",
            "description": "Une basket",
            "description_short": None,
            "link": "https://shop.example/p/42",
            "image_link": "https://cdn.example/p/42.jpg",
            "category_ids": [12, 13],
            "manufacturer_id": 9,
            "currency": "eur",
            "price": D("19.999"),
            "price_discount": D("15.5"),
            "quantity_remaining": D("3"),
            "is_active": "true",
            **stamps(),
        },
        {
            "product_id": 42,
            "lang": "fr",
            "category_ids": [12, 13],
            "manufacturer_id": "9",
            "currency": "EUR",
            "price": 20.0,
            "price_discount": 15.5,
            "quantity_remaining": 3,
            "is_active": True,
            "description_short": None,
        },
    ),
    "products_images": (
        ["id"],
        {
            "id": 100,
            "product_id": 42,
            "lang": "fr",
            "variation_id": D("7"),
            "url": "https://cdn.example/p/42-1.jpg",
            "is_default": 0,
            **stamps(),
        },
        {"image_id": "100", "product_id": "42", "variation_id": 7, "is_default": False, "created_at": CREATED_TXT},
    ),
    "products_variations": (
        ["id"],
        {
            "id": 7,
            "product_id": 42,
            "name": "Basket 42",
            "lang": "fr_FR",
            "link": "https://shop.example/p/42?v=7",
            "price": D("21.50"),
            "price_discount": None,
            "quantity_remaining": 4,
            "is_default": "1",
            **stamps(),
        },
        {
            "variation_id": 7,
            "product_id": "42",
            "lang": "fr",
            "price": 21.5,
            "price_discount": None,
            "quantity_remaining": 4,
            "is_default": True,
        },
    ),
    "customers": (
        ["id"],
        {
            "id": 17,
            "email": "marie@example.com",
            "phone_number": "+33600000000",
            "first_name": "Marie",
            "last_name": "Durand",
            "birth_date": dt.date(1990, 5, 7),
            "is_opt_in": "f",
            "is_newsletter_subscribed": "no",
            "lang": "fr_FR",
            "group_ids": [3, 4],
            "is_active": True,
            "gender": D("2"),
            **stamps(),
        },
        {
            "customer_id": "17",
            "birth_date": "1990-05-07",
            "is_opt_in": False,
            "is_newsletter_subscribed": False,
            "lang": "fr",
            "group_ids": ["3", "4"],
            "is_active": True,
            "gender": 2,
            "created_at": CREATED_TXT,
            "updated_at": UPDATED_TXT,
        },
    ),
    "customers_addresses": (
        ["id"],
        {
            "id": 55,
            "customer_id": 17,
            "first_name": "Marie",
            "last_name": "Durand",
            "company": None,
            "address_line_1": "1 rue de Rivoli",
            "postal_code": "75001",
            "city": "Paris",
            "country": "fr",
            "is_active": True,
            **stamps(),
        },
        {"address_id": 55, "customer_id": "17", "postal_code": "75001", "country": "FR", "is_active": True},
    ),
    "orders": (
        ["id"],
        {
            "id": 1042,
            "lang": "fr_FR",
            "reference": "R-1042",
            "carrier_id": 5,
            "status_id": 2,
            "address_delivery_id": 55,
            "address_invoice_id": 55,
            "customer_id": 17,
            "customer_email": "marie@example.com",
            "customer_created_at": CREATED,
            "products": [
                {
                    "product_id": 42,
                    "product_variation_id": 7,
                    "price": D("21.50"),
                    "price_without_tax": D("17.9166"),
                    "manufacturer_id": 9,
                    "quantity": D("2"),
                },
            ],
            "cart_id": 880,
            "cart_updated_at": UPDATED,
            "amount": D("48.00"),
            "amount_without_tax": D("40.00"),
            "shipping_costs": D("5"),
            "shipping_costs_without_tax": D("4.17"),
            "currency": "EUR",
            "voucher_used": "SPM-10",
            "voucher_value": "5.00",
            "is_confirmed": "t",
            **stamps(),
        },
        {
            "order_id": "1042",
            "lang": "fr",
            "carrier_id": "5",
            "status_id": "2",
            "address_delivery_id": "55",
            "address_invoice_id": "55",
            "customer": {"customer_id": "17", "email": "marie@example.com", "created_at": CREATED_TXT},
            "products": [
                {
                    "product_id": 42,
                    "product_variation_id": 7,
                    "price": 21.5,
                    "price_without_tax": 17.92,
                    "manufacturer_id": "9",
                    "quantity": 2,
                },
            ],
            "cart_id": "880",
            "cart_updated_at": UPDATED_TXT,
            "amount": 48.0,
            "shipping_costs": 5.0,
            "voucher_value": "5.00",
            "is_confirmed": True,
        },
    ),
    "vouchers": (
        ["id"],
        {
            "id": 31,
            "lang": "fr",
            "code": "SPM-10",
            "description": "10 EUR off",
            "started_at": CREATED,
            "ended_at": None,
            "customer_id": 17,
            "type_voucher": "amount_reduction",
            "value": D("10"),
            "minimum_amount": D("50.00"),
            "currency": "EUR",
            "reduction_tax": True,
            "is_used": "false",
            "is_active": 1,
            **stamps(),
        },
        {
            "voucher_id": "31",
            "customer_id": "17",
            "started_at": CREATED_TXT,
            "ended_at": None,
            "value": 10.0,
            "minimum_amount": 50.0,
            "reduction_tax": True,
            "is_used": False,
            "is_active": True,
        },
    ),
    "newsletter_subscribers": (
        ["email"],
        {
            "email": "paul@example.com",
            "is_subscribed": 1,
            "first_name": None,
            "last_name": "Martin",
            "postal_code": None,
            "lang": "fr_FR",
            "updated_at": UPDATED,
        },
        {
            "email": "paul@example.com",
            "is_subscribed": True,
            "first_name": "",
            "last_name": "Martin",
            "postal_code": None,
            "lang": "fr",
            "updated_at": UPDATED_TXT,
        },
    ),
}

# Record mutation -> the one `field: message` validation must give.
INVALID: dict[str, tuple[dict[str, t.Any], str]] = {
    "customers_groups": ({"lang": None}, "lang: is required"),
    "orders_statuses": ({"lang": "french"}, "lang: must be an ISO 639-1 code such as 'fr'"),
    "orders_carriers": ({"is_active": "maybe"}, "is_active: must be a boolean"),
    "products_categories": ({"parent_category_id": {"id": 1}}, "parent_category_id: must be an id (integer or string)"),
    "products_manufacturers": (
        {"updated_at": "yesterday"},
        "updated_at: must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'",
    ),
    "products": ({"quantity_remaining": D("2.5")}, "quantity_remaining: must be an integer"),
    "products_images": ({"url": "http://cdn.example/p/42-1.jpg"}, "url: must be an https:// URL"),
    "products_variations": ({"price": "n/a"}, "price: must be a number"),
    "customers": ({"birth_date": "07/05/1990"}, "birth_date: must be a date as YYYY-MM-DD"),
    "customers_addresses": ({"postal_code": "75001!"}, "postal_code: must match ^[\\w\\s\\-]+$"),
    "orders": (
        {"products": [{"product_id": "prod_42", "price": 1, "price_without_tax": 1, "quantity": 1}]},
        "products.0.product_id: must be an integer",
    ),
    "vouchers": (
        {"type_voucher": "bogo"},
        "type_voucher: must be one of free_shipping, amount_reduction, percentage_reduction, specific_coupon",
    ),
    "newsletter_subscribers": ({"postal_code": ""}, "postal_code: must match ^[\\w\\s\\-]+$"),
}

RESOURCE_NAMES = [r.name for r in resources.RESOURCES]


def typed(value: t.Any) -> t.Any:
    """Value with its exact type, recursively (so 20 != 20.0 and '3' != 3)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def mapper(name: str, keys: list[str] | None = None, injected: Injected | None = None) -> ItemMapper:
    return ItemMapper(resources.BY_NAME[name], ["id"] if keys is None else keys, injected or Injected())


def test_cases_cover_every_resource() -> None:
    assert set(CASES) == set(RESOURCE_NAMES)
    assert set(INVALID) == set(RESOURCE_NAMES)


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_realistic_record_maps_to_valid_item(name: str) -> None:
    keys, record, expected = CASES[name]
    item, dropped = mapper(name, keys).map({**record, **SDC, "legacy_flag": "x"})
    assert validate(resources.BY_NAME[name], item) == []
    assert {k: typed(item.get(k, "<absent>")) for k in expected} == typed(expected)
    assert dropped == ["legacy_flag"]
    assert not any(k.startswith("_sdc_") for k in item)
    assert "id" not in item
    # Everything is plain JSON once mapped.
    assert json.loads(json.dumps(item)) == item


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_invalid_variant_is_named(name: str) -> None:
    keys, record, _ = CASES[name]
    change, error = INVALID[name]
    item, _ = mapper(name, keys).map({**record, **change})
    assert validate(resources.BY_NAME[name], item) == [error]


# --- key -------------------------------------------------------------------------------


def test_key_filled_from_single_key_property() -> None:
    item, dropped = mapper("customers").map({"id": 17, "email": "a@b.co"})
    assert item["customer_id"] == "17"
    assert dropped == []


def test_key_from_any_single_key_property_name() -> None:
    item, dropped = mapper("orders_carriers", ["carrier_code"]).map({"carrier_code": "UPS", "name": "UPS"})
    assert item["carrier_id"] == "UPS"
    assert dropped == []


def test_key_not_filled_with_composite_keys() -> None:
    item, dropped = mapper("customers", ["id", "shop"]).map({"id": 17, "shop": "A", "email": "a@b.co"})
    assert "customer_id" not in item
    assert sorted(dropped) == ["id", "shop"]
    assert "customer_id: is required" in validate(resources.BY_NAME["customers"], item)


def test_key_not_filled_without_key_properties() -> None:
    item, dropped = mapper("customers", []).map({"id": 17})
    assert "customer_id" not in item
    assert dropped == ["id"]


def test_record_key_field_wins_over_key_property() -> None:
    item, _ = mapper("customers").map({"id": 17, "customer_id": "C-17"})
    assert item["customer_id"] == "C-17"


def test_key_property_equal_to_key_field() -> None:
    item, dropped = mapper("customers", ["customer_id"]).map({"customer_id": 17})
    assert item["customer_id"] == "17"
    assert dropped == []


def test_key_fills_id_field_of_composite_resource() -> None:
    item, _ = mapper("products_images").map({"id": 100, "product_id": "42"})
    assert item["image_id"] == "100"
    assert item["product_id"] == "42"


@pytest.mark.parametrize(
    ("name", "item", "expected"),
    [
        ("customers", {"customer_id": "17"}, "17"),
        ("products", {"product_id": 42, "lang": "fr"}, "42|fr"),
        ("customers_addresses", {"customer_id": "17", "address_id": 55}, "17|55"),
        ("products_images", {"image_id": "100"}, "|100"),
        ("newsletter_subscribers", {"email": "a@b.co"}, "a@b.co"),
    ],
)
def test_key_of(name: str, item: dict, expected: str) -> None:
    assert mapper(name).key_of(item) == expected


def test_key_of_other_fields() -> None:
    assert mapper("products_images").key_of({"product_id": "42", "image_id": "1"}, ["product_id"]) == "42"


# --- coercion --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (D("1"), True),
        (D("0"), False),
        ("true", True),
        ("false", False),
        ("TRUE", True),
        (" False ", False),
        ("1", True),
        ("0", False),
        ("t", True),
        ("f", False),
        ("T", True),
        ("yes", True),
        ("no", False),
        ("Yes", True),
    ],
)
def test_to_bool(value: object, expected: bool) -> None:
    assert to_bool(value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, -1, "", "2"])
def test_to_bool_leaves_other_values_for_validation(value: object) -> None:
    assert to_bool(value) == value
    assert type(to_bool(value)) is type(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, 42),
        (D("42"), 42),
        (42.0, 42),
        ("42", 42),
        (" 42 ", 42),
        ("007", "007"),
        ("prod_001", "prod_001"),
        (D("12.5"), "12.5"),
        ("12345678901234567890", "12345678901234567890"),
    ],
)
def test_to_id(value: object, expected: object) -> None:
    assert typed(to_id(value)) == typed(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (D("3"), 3), (D("3.000"), 3), ("3", 3), ("3.0", 3), (3.0, 3), ("3.5", "3.5"), (D("3.5"), D("3.5"))],
)
def test_to_int(value: object, expected: object) -> None:
    assert typed(to_int(value)) == typed(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("19.999"), 20.0),
        (D("2.675"), 2.68),
        (D("0.005"), 0.01),
        (D("17.9166"), 17.92),
        (D("10"), 10.0),
        ("19.999", 20.0),
        (" 12.5 ", 12.5),
        (2.675, 2.68),  # a float rounds as its decimal text reads, like a Decimal
        (12.3456, 12.35),
    ],
)
def test_to_money(value: object, expected: float) -> None:
    assert typed(to_money(value)) == typed(expected)


@pytest.mark.parametrize("value", ["12,50", "abc", True])
def test_to_money_leaves_non_numbers(value: object) -> None:
    assert to_money(value) is value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2026, 5, 7, 10, 0, tzinfo=PARIS), "2026-05-07T08:00:00.000Z"),
        (dt.datetime(2026, 5, 7, 8, 0), "2026-05-07T08:00:00.000Z"),  # noqa: DTZ001 - naive means UTC
        (dt.datetime(2026, 5, 7, 8, 0, 0, 999999, tzinfo=UTC), "2026-05-07T08:00:00.999Z"),
        (dt.date(2026, 5, 7), "2026-05-07T00:00:00.000Z"),
        ("2026-05-07T08:00:00Z", "2026-05-07T08:00:00.000Z"),
        ("2026-05-07 10:00:00+02:00", "2026-05-07T08:00:00.000Z"),
        ("2026-05-07T10:00:00.123456+0200", "2026-05-07T08:00:00.123Z"),
        ("2026-05-07T03:00:00-05", "2026-05-07T08:00:00.000Z"),
        ("2026-05-07", "2026-05-07T00:00:00.000Z"),
        ("2025-01-02T10:11:12.000000+01:00", "2025-01-02T09:11:12.000Z"),
    ],
)
def test_to_datetime(value: object, expected: str) -> None:
    assert to_datetime(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "", "2026-13-45T08:00:00Z"])
def test_to_datetime_leaves_unreadable_text(value: str) -> None:
    assert to_datetime(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.date(1990, 5, 7), "1990-05-07"),
        (dt.datetime(1990, 5, 7, 0, 0, tzinfo=UTC), "1990-05-07"),
        ("1990-05-07T00:00:00Z", "1990-05-07"),
        ("1990-05-07", "1990-05-07"),
        ("07/05/1990", "07/05/1990"),
    ],
)
def test_to_date(value: object, expected: str) -> None:
    assert to_date(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("fr_FR", "fr"), ("en-GB", "en"), ("FR", "fr"), (" de ", "de"), ("french", "french"), ("fra", "fra")],
)
def test_to_lang(value: str, expected: str) -> None:
    assert to_lang(value) == expected


def test_parse_nested() -> None:
    assert parse_nested('{"a": 1}') == {"a": 1}
    parsed = parse_nested('[{"price": 1.25, "quantity": 2}]')
    assert parsed == [{"price": D("1.25"), "quantity": 2}]
    assert isinstance(parsed, list)
    assert type(parsed[0]["price"]) is D
    assert parse_nested("{1,2}") == ["1", "2"]  # PostgreSQL array literal
    assert parse_nested('{"a b",c}') == ["a b", "c"]
    assert parse_nested("hello") == "hello"
    assert parse_nested("[oops") == "[oops"
    assert parse_nested(5) == 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{12,13}", [12, 13]),
        ("[12, 13]", [12, 13]),
        ("{12}", [12]),
        ("12,13", [12, 13]),
        ([D("12"), "cat-x"], [12, "cat-x"]),
        ("{}", []),  # empty PostgreSQL array
        ("[]", []),
    ],
)
def test_category_ids(value: object, expected: list) -> None:
    item, _ = mapper("products").map({"id": 1, "category_ids": value})
    assert typed(item["category_ids"]) == typed(expected)
    assert [e for e in validate(resources.BY_NAME["products"], item) if e.startswith("category_ids")] == []


@pytest.mark.parametrize(("value", "expected"), [("{3,4}", ["3", "4"]), ("[3, 4]", ["3", "4"]), ("{}", [])])
def test_group_ids_from_postgres_array_literal(value: str, expected: list[str]) -> None:
    item, _ = mapper("customers").map({"id": 1, "group_ids": value})
    assert item["group_ids"] == expected
    assert [e for e in validate(resources.BY_NAME["customers"], item) if e.startswith("group_ids")] == []


def test_numeric_strings_are_coerced() -> None:
    keys, record, _ = CASES["products"]
    item, _ = mapper("products", keys).map(
        {**record, "id": "42", "price": "19.90", "quantity_remaining": "7", "price_discount": "0"},
    )
    assert typed({k: item[k] for k in ("product_id", "price", "quantity_remaining", "price_discount")}) == typed(
        {"product_id": 42, "price": 19.9, "quantity_remaining": 7, "price_discount": 0.0},
    )
    assert validate(resources.BY_NAME["products"], item) == []


def test_string_id_with_leading_zeros_stays_a_string() -> None:
    item, _ = mapper("customers").map({"id": "007"})
    assert item["customer_id"] == "007"
    item, _ = mapper("products").map({"id": "007"})
    assert item["product_id"] == "007"
    item, _ = mapper("customers_addresses").map({"id": "007", "customer_id": "007"})
    assert (item["address_id"], item["customer_id"]) == ("007", "007")


def test_string_ids_from_numbers() -> None:
    item, _ = mapper("customers").map({"id": D("17")})
    assert item["customer_id"] == "17"
    item, _ = mapper("customers").map({"id": 17.0})
    assert item["customer_id"] == "17"


def test_voucher_customer_id_int_becomes_string() -> None:
    keys, record, _ = CASES["vouchers"]
    item, _ = mapper("vouchers", keys).map({**record, "customer_id": 17})
    assert item["customer_id"] == "17"
    assert validate(resources.BY_NAME["vouchers"], item) == []


# --- nested values -----------------------------------------------------------------------


def order(**change: t.Any) -> dict:
    return {**CASES["orders"][1], **change}


def test_order_products_as_json_string() -> None:
    lines = (
        '[{"product_id": 42, "price": 21.499, "price_without_tax": "17.9166", "quantity": 2.0, "manufacturer_id": 9}]'
    )
    item, dropped = mapper("orders").map(order(products=lines))
    assert typed(item["products"]) == typed(
        [{"product_id": 42, "price": 21.5, "price_without_tax": 17.92, "manufacturer_id": "9", "quantity": 2}],
    )
    assert validate(resources.BY_NAME["orders"], item) == []
    assert dropped == []


def test_order_customer_as_jsonb_text() -> None:
    record = order(
        customer='{"customer_id": 17, "email": "marie@example.com", "created_at": "2026-05-07T10:00:00+02:00"}'
    )
    for flat in ("customer_id", "customer_email", "customer_created_at"):
        del record[flat]
    item, dropped = mapper("orders").map(record)
    assert item["customer"] == {"customer_id": "17", "email": "marie@example.com", "created_at": CREATED_TXT}
    assert dropped == []
    assert validate(resources.BY_NAME["orders"], item) == []


def test_order_line_unknown_members_are_left_out() -> None:
    lines = [{"product_id": 42, "price": 1, "price_without_tax": 1, "quantity": 1, "sku": "X"}]
    item, _ = mapper("orders").map(order(products=lines))
    assert "sku" not in item["products"][0]


def test_order_customer_from_flat_customer_fields() -> None:
    item, dropped = mapper("orders").map(order())
    assert item["customer"] == {"customer_id": "17", "email": "marie@example.com", "created_at": CREATED_TXT}
    assert dropped == []
    assert "customer_id" not in item
    assert "customer_email" not in item


def test_order_customer_from_email_and_created_at() -> None:
    record = order(email="paul@example.com", customer_id="C-9")
    del record["customer_email"]
    item, dropped = mapper("orders").map(record)
    assert item["customer"] == {"customer_id": "C-9", "email": "paul@example.com", "created_at": CREATED_TXT}
    assert dropped == []
    assert validate(resources.BY_NAME["orders"], item) == []


def test_order_customer_email_falls_back_to_email_when_customer_email_is_null() -> None:
    # tap-postgres sends every column, nulls included: a null customer_email must not hide `email`.
    item, _ = mapper("orders").map(order(customer_email=None, email="paul@example.com"))
    assert item["customer"] == {"customer_id": "17", "email": "paul@example.com", "created_at": CREATED_TXT}


def test_order_customer_object_wins_over_flat_fields() -> None:
    customer = {"customer_id": 99, "email": "z@example.com", "created_at": UPDATED}
    item, _ = mapper("orders").map(order(customer=customer))
    assert item["customer"] == {"customer_id": "99", "email": "z@example.com", "created_at": UPDATED_TXT}


def test_order_without_customer_fields_goes_without_customer() -> None:
    # The SDK types `customer` as required; no source shows ShopiMind refusing an order without it.
    record = order()
    for flat in ("customer_id", "customer_email", "customer_created_at"):
        del record[flat]
    item, _ = mapper("orders").map(record)
    assert "customer" not in item
    missing: list[str] = []
    assert validate(resources.BY_NAME["orders"], item, missing=missing) == []
    assert missing == ["customer"]
    assert validate(resources.BY_NAME["orders"], item, require_sdk=True) == ["customer: is required"]


def test_order_cart_updated_at_falls_back_to_order_date() -> None:
    item, _ = mapper("orders").map(order(cart_updated_at=None))
    assert item["cart_updated_at"] == UPDATED_TXT
    item, _ = mapper("orders").map(order(cart_updated_at=""))
    assert item["cart_updated_at"] == UPDATED_TXT


# --- dropped fields ----------------------------------------------------------------------


def test_unknown_fields_reported_in_order_but_never_sdc() -> None:
    record = {"id": 3, "name": "VIP", "zeta": 1, "alpha": 2, "_sdc_table_version": 4, "_sdc_lsn": 9}
    item, dropped = mapper("customers_groups").map(record)
    assert dropped == ["zeta", "alpha"]
    assert "zeta" not in item
    assert "_sdc_lsn" not in item


def test_absent_fields_stay_absent() -> None:
    item, _ = mapper("orders_carriers").map({"id": 5})
    assert item == {"carrier_id": "5"}


def test_optional_non_nullable_null_is_left_out() -> None:
    item, _ = mapper("customers").map({"id": 1, "is_opt_in": None, "is_active": None, "gender": None})
    assert "is_opt_in" not in item
    assert "is_active" not in item
    assert "gender" not in item


# --- injected settings -------------------------------------------------------------------

INJECTED = Injected(lang="fr_FR", currency="eur", shop_id="shop-1", id_data_source=7, source_label="pg")
HAS_LANG = set(RESOURCE_NAMES) - {"orders_carriers", "products_manufacturers", "customers_addresses"}
HAS_CURRENCY = {"products", "orders", "vouchers"}
HAS_DATA_SOURCE = set(RESOURCE_NAMES) - {"newsletter_subscribers"}


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_injected_settings_only_where_the_resource_has_the_field(name: str) -> None:
    item, dropped = mapper(name, injected=INJECTED).map({"id": 1})
    expected: dict[str, object] = {"shop_id": "shop-1"}
    if name in HAS_LANG:
        expected["lang"] = "fr"
    if name in HAS_CURRENCY:
        expected["currency"] = "EUR"
    if name in HAS_DATA_SOURCE:
        expected["id_data_source"] = 7
        expected["source_label"] = "pg"
    got = {k: item[k] for k in ("shop_id", "lang", "currency", "id_data_source", "source_label") if k in item}
    assert typed(got) == typed(expected)
    # The e-mail key of subscribers is never filled from another column: their `id` is dropped.
    assert dropped == (["id"] if name == "newsletter_subscribers" else [])


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_record_values_win_over_injected(name: str) -> None:
    keys, record, _ = CASES[name]
    own = {"shop_id": "shop-2", "lang": "en", "currency": "USD", "id_data_source": 9, "source_label": "erp"}
    fields = resources.BY_NAME[name].field_map
    record = {**record, **{k: v for k, v in own.items() if k in fields}}
    item, _ = mapper(name, keys, INJECTED).map(record)
    assert {k: item[k] for k in own if k in item} == {k: v for k, v in own.items() if k in fields}
    assert validate(resources.BY_NAME[name], item) == []


def test_injected_from_config() -> None:
    injected = Injected.from_config(
        {"default_lang": "en", "default_currency": "GBP", "shop_id": "s", "id_data_source": 3, "api_key": "k"},
    )
    assert injected == Injected(lang="en", currency="GBP", shop_id="s", id_data_source=3, source_label=None)
    assert injected.values() == {"lang": "en", "currency": "GBP", "shop_id": "s", "id_data_source": 3}


def test_injected_null_record_value_is_replaced() -> None:
    item, _ = mapper("customers", injected=INJECTED).map({"id": 1, "lang": None, "shop_id": None})
    assert item["lang"] == "fr"
    assert item["shop_id"] == "shop-1"


def test_evidenced_defaults() -> None:
    item, _ = mapper("orders_statuses").map({"id": 2, "lang": "fr", "name": "Payée"})
    assert item["is_deleted"] is False
    for stamp in ("created_at", "updated_at"):
        assert isinstance(item[stamp], str)
        assert item[stamp].endswith("Z")
        assert len(item[stamp]) == len(CREATED_TXT)
    assert validate(resources.BY_NAME["orders_statuses"], item) == []
    item, _ = mapper("newsletter_subscribers", ["email"]).map({"email": "a@b.co"})
    assert (item["first_name"], item["last_name"]) == ("", "")


# --- dumps ---------------------------------------------------------------------------------


def test_dumps_handles_decimal_datetime_date() -> None:
    value = {
        "a": D("1.50"),
        "b": D("2"),
        "c": dt.datetime(2026, 5, 7, 10, 0, tzinfo=PARIS),
        "d": dt.date(2026, 5, 7),
        "e": "Éléonore",
        "f": {"x"},
    }
    out = dumps(value)
    assert isinstance(out, bytes)
    assert out == ('{"a":1.5,"b":2,"c":"2026-05-07T08:00:00.000Z","d":"2026-05-07","e":"Éléonore","f":["x"]}'.encode())


def test_dumps_refuses_unknown_types() -> None:
    with pytest.raises(TypeError, match="cannot serialize object"):
        dumps({"x": object()})
