"""The one table of ShopiMind write resources.

Routing, mapping, validation, batching, delivery order, the sandbox and the docs all
read this table: adding a resource is adding a row. Types and rules follow
ShopiMind's documentation, its official SDK and what production connectors observed; a rule
is here only when a source evidences it.
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

# Field kinds: how a value is coerced before it is sent.
STR = "string"  # ids and text the API types as string
ID = "id"  # ids the API types as number: integral values become int, others stay str
INT = "integer"
MONEY = "money"  # number, rounded to 2 decimals
BOOL = "boolean"
DATETIME = "datetime"  # ISO 8601 UTC with milliseconds
DATE = "date"  # YYYY-MM-DD
LANG = "lang"  # ISO 639-1, locales such as fr_FR cut to fr
CURRENCY = "currency"  # ISO 4217
COUNTRY = "country"  # ISO 3166-1 alpha-2
STR_LIST = "string[]"
ID_LIST = "id[]"
OBJECT = "object"
OBJECT_LIST = "object[]"

# Request body cap of the official SDK (bytes); a batch is also cut by size.
MAX_BODY_BYTES = 25 * 1024 * 1024
DELETE_BATCH = 20


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of an item, with the rules the API is known to enforce."""

    name: str
    kind: str = STR
    required: bool = False
    nullable: bool = True
    pattern: str | None = None  # regex the (string) value must match
    enum: tuple[t.Any, ...] | None = None
    max_length: int | None = None
    https: bool = False
    fields: tuple[Field, ...] = ()  # members of OBJECT / OBJECT_LIST
    default: t.Any = None  # used when the record has no value (evidenced defaults)
    note: str = ""

    @property
    def regex(self) -> re.Pattern[str] | None:
        """Compiled `pattern` (cached on first use)."""
        return _compiled(self.pattern) if self.pattern else None


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _REGEX_CACHE:
        _REGEX_CACHE[pattern] = re.compile(pattern)
    return _REGEX_CACHE[pattern]


@dataclasses.dataclass(frozen=True)
class Resource:
    """A ShopiMind bulk-upsert resource."""

    name: str
    path: str  # bulk upsert endpoint
    key: tuple[str, ...]  # upsert key
    max_batch: int
    fields: tuple[Field, ...]
    id_field: str  # the field a table's single primary key fills
    delete_path: str | None = None  # bulk-delete endpoint; {parent} fields from the item
    delete_ids: str | None = None  # body key of the id list
    depends_on: tuple[str, ...] = ()  # resources its items point to
    aliases: tuple[str, ...] = ()
    description: str = ""

    @property
    def field_map(self) -> dict[str, Field]:
        """Fields by name."""
        return {f.name: f for f in self.fields}

    @property
    def delete_id_field(self) -> str:
        """The field whose values go in the bulk-delete body."""
        return self.id_field

    @property
    def delete_parents(self) -> tuple[str, ...]:
        """Fields named in the bulk-delete path (per-parent routes)."""
        return tuple(re.findall(r"{(\w+)}", self.delete_path or ""))

    @property
    def conflict_fields(self) -> tuple[str, ...]:
        """What identifies one entity for ordering: the delete identity.

        Two requests holding the same entity never run at once, so a later version
        (or a delete) cannot overtake an earlier one.
        """
        return (*self.delete_parents, self.id_field)


def _common(*, data_source: bool = True) -> tuple[Field, ...]:
    extra = (Field("id_data_source", INT, nullable=False), Field("source_label")) if data_source else ()
    return (Field("shop_id"), *extra)


def _stamps(*, required: bool = True, default_now: bool = False) -> tuple[Field, ...]:
    default = "now" if default_now else None
    return (
        Field("created_at", DATETIME, required=required, nullable=not required, default=default),
        Field("updated_at", DATETIME, required=required, nullable=not required, default=default),
    )


_LANG = Field("lang", LANG, required=True, nullable=False, pattern=r"^[a-z]{2}$")
_CURRENCY = Field("currency", CURRENCY, required=True, nullable=False, pattern=r"^[A-Z]{3}$")
_POSTAL = r"^[\w\s\-]+$"
_EMAIL = r"^[^@\s]+@[^@\s]+$"


def _req(name: str, kind: str = STR, **kw: t.Any) -> Field:
    return Field(name, kind, required=True, nullable=False, **kw)


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "customers_groups",
        "/v1/customers-groups",
        ("group_id", "lang"),
        100,
        (_req("group_id"), *_common(), _LANG, _req("name"), *_stamps()),
        id_field="group_id",
        delete_path="/v1/customers-groups/bulk-delete",
        delete_ids="group_ids",
        aliases=("customer_groups", "groups", "customers_group", "customer_group", "group"),
        description="Customer groups, one row per language.",
    ),
    Resource(
        "orders_statuses",
        "/v1/orders-statuses",
        ("status_id", "lang"),
        100,
        (
            _req("status_id"),
            *_common(),
            _LANG,
            _req("name"),
            # The official integration kit fills these technical fields when the author leaves them out.
            _req("is_deleted", BOOL, default=False),
            *_stamps(default_now=True),
        ),
        id_field="status_id",
        delete_path="/v1/orders-statuses/bulk-delete",
        delete_ids="status_ids",
        aliases=("order_statuses", "statuses", "orders_status", "order_status", "status"),
        description="Order statuses, one row per language.",
    ),
    Resource(
        "orders_carriers",
        "/v1/orders-carriers",
        ("carrier_id",),
        100,
        (_req("carrier_id"), *_common(), _req("name"), _req("is_active", BOOL), *_stamps()),
        id_field="carrier_id",
        delete_path="/v1/orders-carriers/bulk-delete",
        delete_ids="carrier_ids",
        aliases=("order_carriers", "carriers", "orders_carrier", "order_carrier", "carrier"),
        description="Carriers (not localized).",
    ),
    Resource(
        "products_categories",
        "/v1/products-categories",
        ("category_id", "lang"),
        100,
        (
            _req("category_id", ID),
            *_common(),
            _LANG,
            _req("name"),
            _req("description", default=""),  # a production connector sends "" when empty
            Field("parent_category_id", ID),
            _req("link"),
            _req("is_active", BOOL),
            *_stamps(),
        ),
        id_field="category_id",
        delete_path="/v1/products-categories/bulk-delete",
        delete_ids="category_ids",
        aliases=("product_categories", "categories", "products_category", "product_category", "category"),
        description="Product categories, one row per language; the tree is `parent_category_id`.",
    ),
    Resource(
        "products_manufacturers",
        "/v1/products-manufacturers",
        ("manufacturer_id",),
        100,
        (_req("manufacturer_id"), *_common(), _req("name"), _req("is_active", BOOL), *_stamps()),
        id_field="manufacturer_id",
        delete_path="/v1/products-manufacturers/bulk-delete",
        delete_ids="manufacturer_ids",
        aliases=(
            "product_manufacturers",
            "manufacturers",
            "products_manufacturer",
            "product_manufacturer",
            "manufacturer",
        ),
        description="Manufacturers (not localized).",
    ),
    Resource(
        "products",
        "/v1/products",
        ("product_id", "lang"),
        50,
        (
            _req("product_id", ID),
            *_common(),
            _LANG,
            _req("name"),
            Field("reference"),
            Field("ean13"),
            _req("description", default=""),  # a production connector sends "" when empty
            Field("description_short"),
            _req("link"),
            Field("image_link"),
            Field("category_ids", ID_LIST),
            Field("manufacturer_id"),
            _CURRENCY,
            _req("price", MONEY),
            Field("price_discount", MONEY),
            _req("quantity_remaining", INT),  # production-observed: must be an integer
            _req("is_active", BOOL),
            *_stamps(),
        ),
        id_field="product_id",
        delete_path="/v1/products/bulk-delete",
        delete_ids="product_ids",
        depends_on=("products_categories", "products_manufacturers"),
        aliases=("product",),
        description="Catalog products, one row per language.",
    ),
    Resource(
        "products_images",
        "/v1/products/images/bulk",
        ("product_id", "image_id"),
        50,
        (
            _req("product_id"),
            _req("image_id"),
            *_common(),
            _LANG,
            Field("variation_id", ID),
            _req("url", https=True),  # docs: HTTPS only; observed: empty refused
            _req("is_default", BOOL),
            *_stamps(required=False),
        ),
        id_field="image_id",
        delete_path="/v1/products/{product_id}/images/bulk-delete",
        delete_ids="image_ids",
        depends_on=("products", "products_variations"),
        aliases=("product_images", "images", "products_image", "product_image", "image"),
        description="Product images (HTTPS URLs), across products.",
    ),
    Resource(
        "products_variations",
        "/v1/products/variations/bulk",
        ("product_id", "variation_id"),
        50,
        (
            _req("product_id"),
            _req("variation_id", ID),
            *_common(),
            _req("name"),
            _LANG,
            Field("reference"),
            Field("ean13"),
            _req("link"),
            Field("image_link"),
            _req("price", MONEY),
            Field("price_discount", MONEY),
            _req("quantity_remaining", INT),  # production-observed: must be an integer
            _req("is_default", BOOL),
            *_stamps(required=False),
        ),
        id_field="variation_id",
        delete_path="/v1/products/{product_id}/variations/bulk-delete",
        delete_ids="variation_ids",
        depends_on=("products",),
        aliases=("product_variations", "variations", "products_variation", "product_variation", "variation"),
        description="Product variations (purchasable SKUs), across products.",
    ),
    Resource(
        "customers",
        "/v1/customers",
        ("customer_id",),
        50,
        (
            _req("customer_id"),
            *_common(),
            _req("email", pattern=_EMAIL),
            Field("phone_number"),
            _req("first_name"),
            _req("last_name"),
            Field("birth_date", DATE),
            # Typed required by the SDK, but the docs quickstart is accepted without them.
            Field("is_opt_in", BOOL, nullable=False),
            _req("is_newsletter_subscribed", BOOL),
            _LANG,
            Field("group_ids", STR_LIST),
            Field("is_active", BOOL, nullable=False),
            Field("gender", INT, nullable=False, enum=(0, 1, 2), note="0 unknown, 1 Mr, 2 Mrs"),
            *_stamps(),
        ),
        id_field="customer_id",
        delete_path="/v1/customers/bulk-delete",
        delete_ids="customer_ids",
        depends_on=("customers_groups",),
        aliases=("customer", "clients", "client"),
        description="Customers (ShopiMind derives contacts from them).",
    ),
    Resource(
        "customers_addresses",
        "/v1/customers/addresses/bulk",
        ("customer_id", "address_id"),
        50,
        (
            _req("customer_id"),
            _req("address_id", ID),
            *_common(),
            _req("first_name"),
            _req("last_name"),
            Field("primary_phone"),
            Field("secondary_phone"),
            Field("company"),
            _req("address_line_1"),
            Field("address_line_2"),
            _req("postal_code", pattern=_POSTAL),  # observed
            _req("city"),
            Field("country", COUNTRY, pattern=r"^[A-Z]{2}$"),  # observed: ISO alpha-2 or null
            _req("is_active", BOOL),
            *_stamps(required=False),
        ),
        id_field="address_id",
        delete_path="/v1/customers/{customer_id}/addresses/bulk-delete",
        delete_ids="address_ids",
        depends_on=("customers",),
        aliases=("customer_addresses", "addresses", "customers_address", "customer_address", "address"),
        description="Customer addresses, across customers.",
    ),
    Resource(
        "orders",
        "/v1/orders",
        ("order_id",),
        50,
        (
            _req("order_id"),
            *_common(),
            _LANG,
            Field("reference"),
            Field("carrier_id"),
            _req("status_id"),
            Field("address_delivery_id"),
            Field("address_invoice_id"),
            _req(
                "customer",
                OBJECT,
                fields=(
                    _req("customer_id"),
                    _req("email", pattern=_EMAIL),
                    _req("created_at", DATETIME),
                ),
            ),
            _req(
                "products",
                OBJECT_LIST,
                fields=(
                    _req("product_id", INT),  # observed: an integer is required
                    Field("product_variation_id", ID),
                    _req("price", MONEY),
                    _req("price_without_tax", MONEY),
                    Field("manufacturer_id"),
                    _req("quantity", INT),  # observed: integer
                ),
            ),
            _req("cart_id"),
            _req("cart_updated_at", DATETIME),  # observed: "" got the order rejected
            _req("amount", MONEY),
            _req("amount_without_tax", MONEY),
            _req("shipping_costs", MONEY),
            _req("shipping_costs_without_tax", MONEY),
            Field("shipping_number"),
            _CURRENCY,
            Field("voucher_used", max_length=256),  # observed
            Field("voucher_value"),  # a string: amount or percentage
            _req("is_confirmed", BOOL),
            *_stamps(),
        ),
        id_field="order_id",
        delete_path="/v1/orders/bulk-delete",
        delete_ids="order_ids",
        depends_on=(
            "customers",
            "customers_addresses",
            "products",
            "products_variations",
            "orders_statuses",
            "orders_carriers",
        ),
        aliases=("order",),
        description="Orders with their lines (`products`) and `customer`.",
    ),
    Resource(
        "vouchers",
        "/v1/vouchers",
        ("voucher_id",),
        50,
        (
            _req("voucher_id"),
            *_common(),
            _LANG,
            _req("code"),
            _req("description"),
            _req("started_at", DATETIME),
            Field("ended_at", DATETIME),
            Field("customer_id"),  # observed: must be a string
            _req(
                "type_voucher",
                enum=("free_shipping", "amount_reduction", "percentage_reduction", "specific_coupon"),
            ),
            Field("value", MONEY),
            _req("minimum_amount", MONEY),
            _CURRENCY,
            _req("reduction_tax", BOOL),
            _req("is_used", BOOL),
            _req("is_active", BOOL),
            *_stamps(),
        ),
        id_field="voucher_id",
        delete_path="/v1/vouchers/bulk-delete",
        delete_ids="voucher_ids",
        depends_on=("customers",),
        aliases=("voucher", "coupons", "coupon"),
        description="Vouchers (discount codes).",
    ),
    Resource(
        "newsletter_subscribers",
        "/v1/newsletter-subscribers",
        ("email",),
        50,
        (
            *_common(data_source=False),
            _req("email", pattern=_EMAIL),
            _req("is_subscribed", BOOL),
            _req("first_name", default=""),  # a production connector sends "" when unknown
            _req("last_name", default=""),
            # observed: optional, null accepted, "" refused, else must match the pattern.
            Field("postal_code", pattern=_POSTAL),
            _LANG,
            _req("updated_at", DATETIME),
        ),
        id_field="email",
        aliases=("newsletter_subscriber", "subscribers", "subscriber", "newsletter"),
        description="Newsletter subscribers (no delete endpoint in the API).",
    ),
)

BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}

# Read-only in ShopiMind: a stream routed here is refused.
READ_ONLY = {"carts": "carts are read-only in ShopiMind (built from orders' cart_id); push orders instead"}
READ_ONLY_ALIASES = {"cart": "carts", "carts": "carts"}


def dependency_rank() -> dict[str, int]:
    """Depth of each resource in the reference graph (0 = points to nothing)."""
    rank: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in rank:
            rank[name] = 1 + max((depth(d) for d in BY_NAME[name].depends_on), default=-1)
        return rank[name]

    for resource in RESOURCES:
        depth(resource.name)
    return rank
