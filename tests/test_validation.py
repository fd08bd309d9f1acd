"""Local validation rules: required fields, types, enums and the formats ShopiMind enforces."""

from __future__ import annotations

import typing as t

import pytest

from target_shopimind import resources
from target_shopimind.validation import field_names, validate

TS = "2026-05-07T08:00:00.000Z"
STAMPS = {"created_at": TS, "updated_at": TS}
POSTAL_ERROR = "must match ^[\\w\\s\\-]+$"

# Items as ShopiMind wants them (after mapping).
VALID: dict[str, dict[str, t.Any]] = {
    "customers_groups": {"group_id": "3", "lang": "fr", "name": "VIP", **STAMPS},
    "orders_statuses": {"status_id": "2", "lang": "fr", "name": "Payée", "is_deleted": False, **STAMPS},
    "orders_carriers": {"carrier_id": "5", "name": "Colissimo", "is_active": True, **STAMPS},
    "products_categories": {
        "category_id": 12,
        "lang": "fr",
        "name": "Chaussures",
        "description": "",
        "parent_category_id": None,
        "link": "https://shop.example/c/12",
        "is_active": True,
        **STAMPS,
    },
    "products_manufacturers": {"manufacturer_id": "9", "name": "Acme", "is_active": False, **STAMPS},
    "products": {
        "product_id": 42,
        "lang": "fr",
        "name": "Basket",
        "description": "",
        "link": "https://shop.example/p/42",
        "category_ids": [12, "cat-13"],
        "manufacturer_id": "9",
        "currency": "EUR",
        "price": 19.9,
        "price_discount": None,
        "quantity_remaining": 3,
        "is_active": True,
        "id_data_source": 7,
        "source_label": "pg",
        "shop_id": None,
        **STAMPS,
    },
    "products_images": {
        "product_id": "42",
        "image_id": "100",
        "lang": "fr",
        "variation_id": 7,
        "url": "https://cdn.example/p/42.jpg",
        "is_default": True,
    },
    "products_variations": {
        "product_id": "42",
        "variation_id": 7,
        "name": "Basket 42",
        "lang": "fr",
        "link": "https://shop.example/p/42?v=7",
        "price": 21,
        "quantity_remaining": 0,
        "is_default": False,
    },
    "customers": {
        "customer_id": "17",
        "email": "marie@example.com",
        "first_name": "Marie",
        "last_name": "Durand",
        "birth_date": "1990-05-07",
        "is_opt_in": True,
        "is_newsletter_subscribed": False,
        "lang": "fr",
        "group_ids": ["3"],
        "is_active": True,
        "gender": 2,
        **STAMPS,
    },
    "customers_addresses": {
        "customer_id": "17",
        "address_id": 55,
        "first_name": "Marie",
        "last_name": "Durand",
        "address_line_1": "1 rue de Rivoli",
        "postal_code": "75001",
        "city": "Paris",
        "country": "FR",
        "is_active": True,
    },
    "orders": {
        "order_id": "1042",
        "lang": "fr",
        "status_id": "2",
        "carrier_id": "5",
        "customer": {"customer_id": "17", "email": "marie@example.com", "created_at": TS},
        "products": [
            {"product_id": 42, "product_variation_id": 7, "price": 21.5, "price_without_tax": 17.92, "quantity": 2},
            {"product_id": 43, "price": 5, "price_without_tax": 4.17, "quantity": 1, "manufacturer_id": "9"},
        ],
        "cart_id": "880",
        "cart_updated_at": TS,
        "amount": 48.0,
        "amount_without_tax": 40.0,
        "shipping_costs": 5.0,
        "shipping_costs_without_tax": 4.17,
        "currency": "EUR",
        "voucher_used": "SPM-10",
        "voucher_value": "5.00",
        "is_confirmed": True,
        **STAMPS,
    },
    "vouchers": {
        "voucher_id": "31",
        "lang": "fr",
        "code": "SPM-10",
        "description": "10 EUR off",
        "started_at": TS,
        "ended_at": None,
        "customer_id": None,
        "type_voucher": "free_shipping",
        "value": None,
        "minimum_amount": 50.0,
        "currency": "EUR",
        "reduction_tax": True,
        "is_used": False,
        "is_active": True,
        **STAMPS,
    },
    "newsletter_subscribers": {
        "email": "paul@example.com",
        "is_subscribed": True,
        "first_name": "",
        "last_name": "",
        "postal_code": None,
        "lang": "fr",
        "updated_at": TS,
    },
}

# Fields whose absence ShopiMind is known to refuse (shopimind-api.md §14): the upsert key,
# image url, order-line product_id/quantity, cart_updated_at, the order status bookkeeping fields.
REQUIRED: dict[str, set[str]] = {
    "customers_groups": {"group_id", "lang"},
    "orders_statuses": {"status_id", "lang", "is_deleted", "created_at", "updated_at"},
    "orders_carriers": {"carrier_id"},
    "products_categories": {"category_id", "lang"},
    "products_manufacturers": {"manufacturer_id"},
    "products": {"product_id", "lang"},
    "products_images": {"product_id", "image_id", "url"},
    "products_variations": {"product_id", "variation_id"},
    "customers": {"customer_id"},
    "customers_addresses": {"customer_id", "address_id"},
    "orders": {"order_id", "cart_updated_at"},
    "vouchers": {"voucher_id"},
    "newsletter_subscribers": {"email"},
}

# Typed required by the official SDK only (§8 "Req (SDK)"), with no evidence of a refusal.
SDK_TYPED: dict[str, set[str]] = {
    "customers_groups": {"name", "created_at", "updated_at"},
    "orders_statuses": {"name"},
    "orders_carriers": {"name", "is_active", "created_at", "updated_at"},
    "products_categories": {"name", "description", "link", "is_active", "created_at", "updated_at"},
    "products_manufacturers": {"name", "is_active", "created_at", "updated_at"},
    "products": {
        "name",
        "description",
        "link",
        "currency",
        "price",
        "quantity_remaining",
        "is_active",
        "created_at",
        "updated_at",
    },
    "products_images": {"lang", "is_default"},
    "products_variations": {"name", "lang", "link", "price", "quantity_remaining", "is_default"},
    "customers": {
        "email",
        "first_name",
        "last_name",
        "is_opt_in",
        "is_newsletter_subscribed",
        "lang",
        "is_active",
        "created_at",
        "updated_at",
    },
    "customers_addresses": {
        "first_name",
        "last_name",
        "address_line_1",
        "postal_code",
        "city",
        "country",
        "is_active",
    },
    "orders": {
        "lang",
        "status_id",
        "customer",
        "products",
        "cart_id",
        "amount",
        "amount_without_tax",
        "shipping_costs",
        "shipping_costs_without_tax",
        "currency",
        "is_confirmed",
        "created_at",
        "updated_at",
    },
    "vouchers": {
        "lang",
        "code",
        "description",
        "started_at",
        "type_voucher",
        "minimum_amount",
        "currency",
        "reduction_tax",
        "is_used",
        "is_active",
        "created_at",
        "updated_at",
    },
    "newsletter_subscribers": {"is_subscribed", "first_name", "last_name", "postal_code", "lang", "updated_at"},
}

RESOURCE_NAMES = [r.name for r in resources.RESOURCES]
REQUIRED_CASES = [(name, field) for name in RESOURCE_NAMES for field in sorted(REQUIRED[name])]
SDK_CASES = [(name, field) for name in RESOURCE_NAMES for field in sorted(SDK_TYPED[name])]


def check(resource: str, /, **change: t.Any) -> list[str]:
    return validate(resources.BY_NAME[resource], {**VALID[resource], **change})


def test_cases_cover_every_resource() -> None:
    assert set(VALID) == set(RESOURCE_NAMES)
    assert set(REQUIRED) == set(RESOURCE_NAMES)
    assert set(SDK_TYPED) == set(RESOURCE_NAMES)


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_valid_item_has_no_errors(name: str) -> None:
    assert validate(resources.BY_NAME[name], VALID[name]) == []
    assert validate(resources.BY_NAME[name], VALID[name], require_sdk=True) == []


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_required_fields_match_the_api_facts(name: str) -> None:
    fields = resources.BY_NAME[name].fields
    assert {f.name for f in fields if f.tier == resources.REQUIRED} == REQUIRED[name]
    assert {f.name for f in fields if f.tier == resources.SDK_ONLY} == SDK_TYPED[name]


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_every_field_names_its_evidence_when_not_optional(name: str) -> None:
    for field in resources.BY_NAME[name].fields:
        assert field.tier == resources.OPTIONAL or field.evidence, field.name


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_item_with_only_the_evidenced_fields_passes(name: str) -> None:
    resource = resources.BY_NAME[name]
    item = {k: v for k, v in VALID[name].items() if k in REQUIRED[name]}
    missing: list[str] = []
    assert validate(resource, item, missing=missing) == []
    assert set(missing) == SDK_TYPED[name]
    refused = validate(resource, item, require_sdk=True)
    assert refused == [f"{f.name}: is required" for f in resource.fields if f.name in SDK_TYPED[name]]


@pytest.mark.parametrize(("name", "field"), REQUIRED_CASES)
def test_missing_required_field(name: str, field: str) -> None:
    item = {k: v for k, v in VALID[name].items() if k != field}
    assert validate(resources.BY_NAME[name], item) == [f"{field}: is required"]
    assert check(name, **{field: None}) == [f"{field}: is required"]


@pytest.mark.parametrize(("name", "field"), SDK_CASES)
def test_missing_sdk_typed_field_is_sent_unless_the_sdk_rules_are_asked_for(name: str, field: str) -> None:
    item = {k: v for k, v in VALID[name].items() if k != field}
    missing: list[str] = []
    assert validate(resources.BY_NAME[name], item, missing=missing) == []
    assert missing == [field]
    assert validate(resources.BY_NAME[name], item, require_sdk=True) == [f"{field}: is required"]


def test_all_errors_are_listed() -> None:
    assert validate(resources.BY_NAME["customers_groups"], {}) == ["group_id: is required", "lang: is required"]
    assert validate(resources.BY_NAME["customers_groups"], {}, require_sdk=True) == [
        "group_id: is required",
        "lang: is required",
        "name: is required",
        "created_at: is required",
        "updated_at: is required",
    ]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("customers", "is_opt_in"),
        ("customers", "is_active"),
        ("customers", "gender"),
        ("products", "id_data_source"),
        ("customers_addresses", "postal_code"),
    ],
)
def test_optional_but_not_nullable(name: str, field: str) -> None:
    assert check(name, **{field: None}) == [f"{field}: must not be null"]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("customers", "birth_date"),
        ("customers", "phone_number"),
        ("customers", "group_ids"),
        ("products", "category_ids"),
        ("products", "price_discount"),
        ("products_categories", "parent_category_id"),
        ("customers_addresses", "country"),
        ("vouchers", "ended_at"),
        ("vouchers", "customer_id"),
        ("vouchers", "value"),
        ("orders", "carrier_id"),
        ("orders", "voucher_used"),
        ("newsletter_subscribers", "postal_code"),
        ("newsletter_subscribers", "shop_id"),
    ],
)
def test_nullable_fields_accept_null(name: str, field: str) -> None:
    assert check(name, **{field: None}) == []


# --- formats -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1990-05-07", "2000-02-29"])
def test_birth_date_ok(value: str) -> None:
    assert check("customers", birth_date=value) == []


@pytest.mark.parametrize("value", ["07/05/1990", "1990-5-7", "1990-02-30", "1990-05-07T00:00:00.000Z", "", 19900507])
def test_birth_date_refused(value: object) -> None:
    assert check("customers", birth_date=value) == ["birth_date: must be a date as YYYY-MM-DD"]


@pytest.mark.parametrize("value", [TS, "2026-05-07T08:00:00Z", "2026-05-07T10:00:00.000000+02:00", "2026-05-07 08:00"])
def test_datetime_ok(value: str) -> None:
    assert check("vouchers", started_at=value) == []


@pytest.mark.parametrize("value", ["2026-05-07", "07/05/2026 08:00", "yesterday", "", 1746604800])
def test_datetime_refused(value: object) -> None:
    assert check("vouchers", started_at=value) == [
        "started_at: must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'",
    ]


def test_datetime_impossible_calendar_value_refused() -> None:
    # Matches the ISO 8601 shape but is no date-time: month 13, day 45.
    assert check("vouchers", started_at="2026-13-45T08:00:00.000Z") == [
        "started_at: must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'",
    ]


@pytest.mark.parametrize("value", ["FR", "fra", "fr_FR", "f", ""])
def test_lang_iso_639_1(value: str) -> None:
    assert check("customers", lang=value) == ["lang: must be an ISO 639-1 code such as 'fr'"]


@pytest.mark.parametrize("value", ["eur", "EURO", "€", "E1R"])
def test_currency_iso_4217(value: str) -> None:
    assert check("orders", currency=value) == ["currency: must be an ISO 4217 code such as 'EUR'"]


@pytest.mark.parametrize("value", ["fr", "FRA", "France"])
def test_country_iso_alpha2(value: str) -> None:
    assert check("customers_addresses", country=value) == [
        "country: must be an ISO 3166-1 alpha-2 code such as 'FR'",
    ]


@pytest.mark.parametrize("value", ["not-an-email", "a@", "@b.co", "a b@c.co", ""])
def test_email(value: str) -> None:
    assert check("customers", email=value) == ["email: not a valid e-mail address"]


def test_order_customer_email() -> None:
    customer = {"customer_id": "17", "email": "nope", "created_at": TS}
    assert check("orders", customer=customer) == ["customer.email: not a valid e-mail address"]


@pytest.mark.parametrize("value", ["75001", "SW1A 1AA", "1234-567", "K1A_0B1"])
@pytest.mark.parametrize("name", ["customers_addresses", "newsletter_subscribers"])
def test_postal_code_ok(name: str, value: str) -> None:
    assert check(name, postal_code=value) == []


@pytest.mark.parametrize("value", ["", "75001!", "75/001", "75001;DROP"])
@pytest.mark.parametrize("name", ["customers_addresses", "newsletter_subscribers"])
def test_postal_code_refused(name: str, value: str) -> None:
    assert check(name, postal_code=value) == [f"postal_code: {POSTAL_ERROR}"]


def test_postal_code_null_accepted_for_newsletter_only() -> None:
    assert check("newsletter_subscribers", postal_code=None) == []
    assert (
        validate(resources.BY_NAME["newsletter_subscribers"], VALID["newsletter_subscribers"], require_sdk=True) == []
    )
    assert check("customers_addresses", postal_code=None) == ["postal_code: must not be null"]


@pytest.mark.parametrize("value", ["https://cdn.example/a.jpg", "HTTPS://CDN.EXAMPLE/A.PNG"])
def test_image_url_https_ok(value: str) -> None:
    assert check("products_images", url=value) == []


@pytest.mark.parametrize("value", ["http://cdn.example/a.jpg", "", "cdn.example/a.jpg", "ftp://x/a.jpg"])
def test_image_url_must_be_https(value: str) -> None:
    assert check("products_images", url=value) == ["url: must be an https:// URL"]


@pytest.mark.parametrize("name", ["products", "products_variations"])
@pytest.mark.parametrize("value", [3.0, 2.5, "3", True])
def test_quantity_remaining_integer(name: str, value: object) -> None:
    assert check(name, quantity_remaining=value) == ["quantity_remaining: must be an integer"]


@pytest.mark.parametrize("value", [True, "19.90", None])
def test_money_must_be_a_number(value: object) -> None:
    expected = "price: must not be null" if value is None else "price: must be a number"
    assert check("products", price=value) == [expected]


@pytest.mark.parametrize("value", ["t", 1, "true"])
def test_boolean_must_be_a_boolean(value: object) -> None:
    assert check("orders_carriers", is_active=value) == ["is_active: must be a boolean"]


@pytest.mark.parametrize("value", ["", True, 12.5, [12]])
def test_numeric_id_refused(value: object) -> None:
    assert check("products_categories", category_id=value) == ["category_id: must be an id (integer or string)"]


def test_numeric_id_accepts_strings() -> None:
    assert check("products", product_id="prod_001") == []


@pytest.mark.parametrize("value", [[1.5], "12", [None]])
def test_id_list(value: object) -> None:
    assert check("products", category_ids=value) == ["category_ids: must be an array of ids"]


@pytest.mark.parametrize("value", [[3], "3", [None]])
def test_string_list(value: object) -> None:
    assert check("customers", group_ids=value) == ["group_ids: must be an array of strings"]


@pytest.mark.parametrize("value", [0, 1, 2])
def test_gender_enum_ok(value: int) -> None:
    assert check("customers", gender=value) == []


def test_gender_enum_refused() -> None:
    assert check("customers", gender=3) == ["gender: must be one of 0, 1, 2"]


# --- orders ------------------------------------------------------------------------------


def lines(**change: t.Any) -> list[dict]:
    return [{**VALID["orders"]["products"][0], **change}, VALID["orders"]["products"][1]]


@pytest.mark.parametrize("value", ["42", 42.0, "prod_42", True])
def test_order_line_product_id_integer(value: object) -> None:
    assert check("orders", products=lines(product_id=value)) == ["products.0.product_id: must be an integer"]


def test_order_line_without_product_id() -> None:
    assert check("orders", products=lines(product_id=None)) == ["products.0.product_id: is required"]


def test_order_line_without_quantity() -> None:
    line = {k: v for k, v in VALID["orders"]["products"][0].items() if k != "quantity"}
    assert check("orders", products=[line]) == ["products.0.quantity: is required"]


def test_order_line_sdk_fields_named_once_per_field() -> None:
    bare = [{"product_id": 1, "quantity": 1}, {"product_id": 2, "quantity": 3}]
    missing: list[str] = []
    assert validate(resources.BY_NAME["orders"], {**VALID["orders"], "products": bare}, missing=missing) == []
    assert field_names(missing) == ["products[].price", "products[].price_without_tax"]


@pytest.mark.parametrize("value", [1.5, "2", 2.0])
def test_order_line_quantity_integer(value: object) -> None:
    assert check("orders", products=lines(quantity=value)) == ["products.0.quantity: must be an integer"]


def test_order_line_errors_name_their_index() -> None:
    second = {**VALID["orders"]["products"][1], "price": "x"}
    errors = check("orders", products=[VALID["orders"]["products"][0], second, "oops"])
    assert errors == ["products.1.price: must be a number", "products.2: must be an object"]


def test_order_products_must_be_an_array() -> None:
    assert check("orders", products={"product_id": 42}) == ["products: must be an array"]
    assert check("orders", customer="17") == ["customer: must be an object"]


def test_order_customer_members_typed_required_by_the_sdk_only() -> None:
    customer = {"customer_id": "17", "email": "a@b.co"}
    missing: list[str] = []
    assert validate(resources.BY_NAME["orders"], {**VALID["orders"], "customer": customer}, missing=missing) == []
    assert missing == ["customer.created_at"]
    assert validate(resources.BY_NAME["orders"], {**VALID["orders"], "customer": customer}, require_sdk=True) == [
        "customer.created_at: is required",
    ]
    assert check("orders", customer={"customer_id": 17, "email": "a@b.co", "created_at": TS}) == [
        "customer.customer_id: must be a string",
    ]


def test_voucher_used_max_256() -> None:
    assert check("orders", voucher_used="A" * 256) == []
    assert check("orders", voucher_used="A" * 257) == ["voucher_used: must be at most 256 characters (got 257)"]


def test_carrier_id_must_be_a_string() -> None:
    assert check("orders", carrier_id=5) == ["carrier_id: must be a string"]
    assert check("orders_carriers", carrier_id=5) == ["carrier_id: must be a string"]


def test_voucher_value_is_a_string() -> None:
    assert check("orders", voucher_value=5) == ["voucher_value: must be a string"]


# --- vouchers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["free_shipping", "amount_reduction", "percentage_reduction", "specific_coupon"],
)
def test_type_voucher_enum_ok(value: str) -> None:
    assert check("vouchers", type_voucher=value) == []


@pytest.mark.parametrize("value", ["bogo", "FREE_SHIPPING", "", 1])
def test_type_voucher_enum_refused(value: object) -> None:
    errors = check("vouchers", type_voucher=value)
    if isinstance(value, str):
        assert errors == [
            "type_voucher: must be one of free_shipping, amount_reduction, percentage_reduction, specific_coupon",
        ]
    else:
        assert errors == ["type_voucher: must be a string"]


def test_voucher_customer_id_must_be_a_string() -> None:
    assert check("vouchers", customer_id=17) == ["customer_id: must be a string"]
    assert check("vouchers", customer_id="17") == []
