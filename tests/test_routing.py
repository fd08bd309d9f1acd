"""Default routing, explicit `stream_resource_map`, and its checks."""

from __future__ import annotations

import pytest

from target_shopimind import resources
from target_shopimind.routing import check_resource_map, route

RESOURCE_NAMES = [r.name for r in resources.RESOURCES]

# The documented aliases, with their resource.
CONTRACT_ALIASES = {
    "customer_groups": "customers_groups",
    "groups": "customers_groups",
    "customer_addresses": "customers_addresses",
    "addresses": "customers_addresses",
    "order_statuses": "orders_statuses",
    "statuses": "orders_statuses",
    "order_carriers": "orders_carriers",
    "carriers": "orders_carriers",
    "product_categories": "products_categories",
    "categories": "products_categories",
    "product_manufacturers": "products_manufacturers",
    "manufacturers": "products_manufacturers",
    "product_images": "products_images",
    "images": "products_images",
    "product_variations": "products_variations",
    "variations": "products_variations",
    "subscribers": "newsletter_subscribers",
}

# Singular forms ("customer", "order", "product", "voucher", ...).
SINGULARS = {
    "customer": "customers",
    "order": "orders",
    "product": "products",
    "voucher": "vouchers",
    "customer_group": "customers_groups",
    "order_status": "orders_statuses",
    "order_carrier": "orders_carriers",
    "product_category": "products_categories",
    "product_manufacturer": "products_manufacturers",
    "product_image": "products_images",
    "product_variation": "products_variations",
    "customer_address": "customers_addresses",
    "newsletter_subscriber": "newsletter_subscribers",
    "subscriber": "newsletter_subscribers",
}


def test_thirteen_resources() -> None:
    assert len(RESOURCE_NAMES) == 13
    assert set(RESOURCE_NAMES) == {
        "customers_groups",
        "orders_statuses",
        "orders_carriers",
        "products_categories",
        "products_manufacturers",
        "products",
        "products_images",
        "products_variations",
        "customers",
        "customers_addresses",
        "orders",
        "vouchers",
        "newsletter_subscribers",
    }


@pytest.mark.parametrize("name", RESOURCE_NAMES)
def test_canonical_name_routes_to_itself(name: str) -> None:
    for stream in (name, f"public-{name}", f"shop-public-{name}"):
        r = route(stream)
        assert r.resource is not None, (stream, r.reason)
        assert r.resource.name == name
        assert r.stream == stream
        assert r.reason == ""
        assert r.on_purpose is False


def test_tap_postgres_stream_name() -> None:
    r = route("public-customers")
    assert r.resource is not None
    assert r.resource.name == "customers"
    assert r.resource.path == "/v1/customers"


@pytest.mark.parametrize(("alias", "expected"), sorted(CONTRACT_ALIASES.items()))
def test_contract_aliases(alias: str, expected: str) -> None:
    for stream in (alias, f"public-{alias}"):
        r = route(stream)
        assert r.resource is not None, (stream, r.reason)
        assert r.resource.name == expected


@pytest.mark.parametrize(("singular", "expected"), sorted(SINGULARS.items()))
def test_singular_forms(singular: str, expected: str) -> None:
    r = route(f"public-{singular}")
    assert r.resource is not None, r.reason
    assert r.resource.name == expected


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("PUBLIC-CUSTOMERS", "customers"),
        ("Public-Orders", "orders"),
        ("public-Addresses", "customers_addresses"),
        ("public-Product_Categories", "products_categories"),
        ("GROUPS", "customers_groups"),
    ],
)
def test_case_insensitive(stream: str, expected: str) -> None:
    r = route(stream)
    assert r.resource is not None
    assert r.resource.name == expected


def test_only_last_dash_segment_counts() -> None:
    # "orders-customers" is a customers stream, not an orders one.
    r = route("orders-customers")
    assert r.resource is not None
    assert r.resource.name == "customers"


@pytest.mark.parametrize("stream", ["carts", "public-carts", "public-cart", "public-CARTS"])
def test_carts_refused_as_read_only(stream: str) -> None:
    r = route(stream)
    assert r.resource is None
    assert r.on_purpose is False
    assert "read-only" in r.reason
    assert stream in r.reason


@pytest.mark.parametrize("stream", ["public-foo", "public-customers_archive", "public-", "inventory"])
def test_unknown_stream_routes_nowhere_with_reason(stream: str) -> None:
    r = route(stream)
    assert r.resource is None
    assert r.on_purpose is False
    segment = stream.rsplit("-", 1)[-1].lower()
    assert f"'{segment}'" in r.reason
    assert "stream_resource_map" in r.reason


def test_stream_resource_map_wins_over_default() -> None:
    mapping: dict[str, str | None] = {"public-customers": "newsletter_subscribers", "public-client_table": "customers"}
    r = route("public-customers", mapping)
    assert r.resource is not None
    assert r.resource.name == "newsletter_subscribers"
    r = route("public-client_table", mapping)
    assert r.resource is not None
    assert r.resource.name == "customers"
    # Streams the map does not name still use the default routing.
    r = route("public-orders", mapping)
    assert r.resource is not None
    assert r.resource.name == "orders"


def test_stream_resource_map_keys_are_exact_stream_names() -> None:
    r = route("public-customers", {"customers": "orders"})
    assert r.resource is not None
    assert r.resource.name == "customers"


def test_null_drops_the_stream_on_purpose() -> None:
    r = route("public-customers", {"public-customers": None})
    assert r.resource is None
    assert r.on_purpose is True
    assert "stream_resource_map" in r.reason


def test_map_to_carts_is_refused_as_read_only() -> None:
    r = route("public-baskets", {"public-baskets": "carts"})
    assert r.resource is None
    assert r.on_purpose is False
    assert "read-only" in r.reason


def test_check_resource_map_accepts_known_names_and_null() -> None:
    mapping: dict[str, str | None] = {f"s{i}": name for i, name in enumerate(RESOURCE_NAMES)}
    mapping["dropped"] = None
    mapping["baskets"] = "carts"  # known, refused later by route() with its own reason
    assert check_resource_map(mapping) == []
    for stream, name in mapping.items():
        r = route(stream, mapping)
        assert (r.resource.name if r.resource else None) == (name if name in resources.BY_NAME else None)


def test_check_resource_map_reports_unknown_names() -> None:
    errors = check_resource_map({"public-a": "customers", "public-b": "clientz", "public-c": "Orders"})
    assert len(errors) == 2
    assert errors[0].startswith("stream_resource_map: 'public-b' maps to unknown resource 'clientz'")
    assert "customers_addresses" in errors[0]  # lists the known names
    assert "'public-c' maps to unknown resource 'Orders'" in errors[1]


def test_check_resource_map_empty() -> None:
    assert check_resource_map({}) == []
