"""The one table of ShopiMind write resources.

Routing, mapping, validation, batching, delivery order, the sandbox and the docs all
read this table: adding a resource is adding a row. Types and rules follow
ShopiMind's documentation, its official SDK and what production connectors observed; a rule
is here only when a source evidences it.

Each field says how much is known about its absence (`Field.tier`):
- `required`: a source shows ShopiMind refusing an item without it (the upsert key, order-line
  `product_id`/`quantity`, an image `url`, ...): a local requirement;
- `sdk`: only the official SDK types it as required: the item is sent without it and
  ShopiMind's answer decides (the sandbox refuses it under `--require-sdk-fields`);
- `optional`.
`evidence` names the source (tags of the API facts: [DOC], [SDK], [KIT], [TH5], [INF]).
"""

from __future__ import annotations

import dataclasses
import functools
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
# Kinds of custom data fields (a definition's `number`/`decimal`, `list`, `json`).
NUMBER = "number"  # any finite number; integral values become int
ANY_LIST = "array"  # an array of anything
JSON = "json"  # any JSON value

# Evidence tiers of a field's absence (see the module docstring).
REQUIRED = "required"
SDK_ONLY = "sdk"
OPTIONAL = "optional"

_KEY = "upsert key [DOC]"
_SDK = "SDK typing only [SDK]"

# Request body cap of the official SDK (bytes); a batch is also cut by size.
MAX_BODY_BYTES = 25 * 1024 * 1024
DELETE_BATCH = 20


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of an item, with the rules the API is known to enforce."""

    name: str
    kind: str = STR
    required: bool = False  # evidence shows ShopiMind refusing an item without it
    sdk_required: bool = False  # the official SDK types it as required (not proof the server does)
    nullable: bool = True
    pattern: str | None = None  # regex the (string) value must match
    enum: tuple[t.Any, ...] | None = None
    max_length: int | None = None
    https: bool = False
    fields: tuple[Field, ...] = ()  # members of OBJECT / OBJECT_LIST
    default: t.Any = None  # used when the record has no value (evidenced defaults)
    note: str = ""
    evidence: str = ""  # where the tier and the rules come from

    @property
    def tier(self) -> str:
        """`required` (refusal evidenced), `sdk` (typed required by the SDK only) or `optional`."""
        if self.required:
            return REQUIRED
        return SDK_ONLY if self.sdk_required else OPTIONAL

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
    fill_key: bool = True  # a table's single primary key may fill `id_field` (never for an e-mail)

    @functools.cached_property
    def field_map(self) -> dict[str, Field]:
        """Fields by name (computed once: read for every record)."""
        return {f.name: f for f in self.fields}

    @property
    def delete_id_field(self) -> str:
        """The field whose values go in the bulk-delete body."""
        return self.id_field

    @functools.cached_property
    def delete_parents(self) -> tuple[str, ...]:
        """Fields named in the bulk-delete path (per-parent routes)."""
        return tuple(re.findall(r"{(\w+)}", self.delete_path or ""))

    @functools.cached_property
    def conflict_fields(self) -> tuple[str, ...]:
        """What identifies one entity for ordering: the delete identity.

        Two requests holding the same entity never run at once, so a later version
        (or a delete) cannot overtake an earlier one.
        """
        return (*self.delete_parents, self.id_field)


def _common(*, data_source: bool = True) -> tuple[Field, ...]:
    extra = (
        (
            Field("id_data_source", INT, nullable=False, note="the id_data_source (or data_source) setting fills it"),
            Field("source_label", note="the source_label setting fills it"),
        )
        if data_source
        else ()
    )
    return (Field("shop_id", note="the shop_id setting fills it"), *extra)


def _key(name: str, kind: str = STR, **kw: t.Any) -> Field:
    """Part of the upsert key: without it ShopiMind cannot match the item."""
    return Field(name, kind, required=True, sdk_required=True, nullable=False, evidence=_KEY, **kw)


def _req(name: str, kind: str = STR, *, evidence: str, **kw: t.Any) -> Field:
    """A field whose absence a source shows ShopiMind refusing."""
    return Field(name, kind, required=True, sdk_required=True, nullable=False, evidence=evidence, **kw)


def _sdk(name: str, kind: str = STR, *, evidence: str = _SDK, **kw: t.Any) -> Field:
    """Typed required by the official SDK, with no evidence that the server refuses its absence."""
    kw.setdefault("nullable", False)
    return Field(name, kind, sdk_required=True, evidence=evidence, **kw)


def _stamps(*, sdk: bool = True) -> tuple[Field, ...]:
    if not sdk:
        absent = "not in the SDK type; a production connector sends them [TH5]"
        return (Field("created_at", DATETIME, evidence=absent), Field("updated_at", DATETIME, evidence=absent))
    return (_sdk("created_at", DATETIME), _sdk("updated_at", DATETIME))


_LANG_PATTERN = r"^[a-z]{2}$"
_LANG_KEY = _key("lang", LANG, pattern=_LANG_PATTERN)
_LANG = _sdk("lang", LANG, pattern=_LANG_PATTERN)
_CURRENCY = _sdk("currency", CURRENCY, pattern=r"^[A-Z]{3}$")
_POSTAL = r"^[\w\s\-]+$"
_EMAIL = r"^[^@\s]+@[^@\s]+$"
_EMPTY_DESCRIPTION = 'SDK typing only [SDK]; a production connector sends "" when empty [TH5]'
_INTEGER_OBSERVED = "SDK typing only [SDK]; must be an integer when present [TH5]"
_EMPTY_NAME = 'SDK typing only [SDK]; a production connector sends "" when unknown [TH5]'
_QUICKSTART = "accepted without it (docs quickstart) [DOC]"
_KIT_BOOKKEEPING = "technical fields the API needs; the official kit fills false / now [KIT]"


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "customers_groups",
        "/v1/customers-groups",
        ("group_id", "lang"),
        100,
        (_key("group_id"), *_common(), _LANG_KEY, _sdk("name"), *_stamps()),
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
            _key("status_id"),
            *_common(),
            _LANG_KEY,
            _sdk("name"),
            # The official integration kit fills these technical fields when the author leaves them out.
            _req("is_deleted", BOOL, default=False, evidence=_KIT_BOOKKEEPING),
            _req("created_at", DATETIME, default="now", evidence=_KIT_BOOKKEEPING),
            _req("updated_at", DATETIME, default="now", evidence=_KIT_BOOKKEEPING),
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
        (
            _key("carrier_id", note="a string (a production connector saw integers refused)"),
            *_common(),
            _sdk("name"),
            _sdk("is_active", BOOL),
            *_stamps(),
        ),
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
            _key("category_id", ID),
            *_common(),
            _LANG_KEY,
            _sdk("name"),
            _sdk("description", default="", evidence=_EMPTY_DESCRIPTION),
            Field("parent_category_id", ID, note="null = a root category"),
            _sdk("link"),
            _sdk("is_active", BOOL),
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
        (_key("manufacturer_id"), *_common(), _sdk("name"), _sdk("is_active", BOOL), *_stamps()),
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
            _key("product_id", ID),
            *_common(),
            _LANG_KEY,
            _sdk("name"),
            Field("reference", note="SKU"),
            Field("ean13"),
            _sdk("description", default="", evidence=_EMPTY_DESCRIPTION),
            Field("description_short"),
            _sdk("link", note="product URL"),
            Field("image_link"),
            Field("category_ids", ID_LIST),
            Field("manufacturer_id"),
            _CURRENCY,
            _sdk("price", MONEY),
            Field("price_discount", MONEY),
            _sdk("quantity_remaining", INT, evidence=_INTEGER_OBSERVED),
            _sdk("is_active", BOOL),
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
            _key("product_id"),
            _key("image_id"),
            *_common(),
            _LANG,
            Field("variation_id", ID),
            _req("url", https=True, evidence="an empty url is refused [TH5]; HTTPS only [DOC]"),
            _sdk("is_default", BOOL),
            *_stamps(sdk=False),
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
            _key("product_id"),
            _key("variation_id", ID),
            *_common(),
            _sdk("name"),
            _LANG,
            Field("reference"),
            Field("ean13"),
            _sdk("link"),
            Field("image_link"),
            _sdk("price", MONEY),
            Field("price_discount", MONEY),
            _sdk("quantity_remaining", INT, evidence=_INTEGER_OBSERVED),
            _sdk("is_default", BOOL),
            *_stamps(sdk=False),
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
            _key("customer_id"),
            *_common(),
            _sdk("email", pattern=_EMAIL),
            Field("phone_number", evidence=_QUICKSTART),
            _sdk("first_name"),
            _sdk("last_name"),
            Field("birth_date", DATE, evidence=_QUICKSTART),
            _sdk("is_opt_in", BOOL, evidence=f"SDK typing only [SDK]; {_QUICKSTART}"),
            _sdk("is_newsletter_subscribed", BOOL),
            _LANG,
            Field("group_ids", STR_LIST, evidence=_QUICKSTART),
            _sdk("is_active", BOOL, evidence=f"SDK typing only [SDK]; {_QUICKSTART}"),
            Field(
                "gender",
                INT,
                nullable=False,
                enum=(0, 1, 2),
                note="0 unknown, 1 Mr, 2 Mrs",
                evidence="not in the SDK type; a production connector sends it [TH5]",
            ),
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
            _key("customer_id"),
            _key("address_id", ID),
            *_common(),
            _sdk("first_name"),
            _sdk("last_name"),
            Field("primary_phone"),
            Field("secondary_phone"),
            Field("company"),
            _sdk("address_line_1"),
            Field("address_line_2"),
            _sdk("postal_code", pattern=_POSTAL, evidence="SDK typing only [SDK]; must match the pattern [TH5]"),
            _sdk("city"),
            _sdk(
                "country",
                COUNTRY,
                nullable=True,
                pattern=r"^[A-Z]{2}$",
                evidence="SDK typing only [SDK]; ISO alpha-2 upper-case or null [TH5]",
            ),
            _sdk("is_active", BOOL),
            *_stamps(sdk=False),
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
            _key("order_id"),
            *_common(),
            _LANG,
            Field("reference"),
            Field("carrier_id", evidence="a string when present [TH5]"),
            _sdk("status_id"),
            Field("address_delivery_id"),
            Field("address_invoice_id"),
            _sdk(
                "customer",
                OBJECT,
                fields=(
                    _sdk("customer_id"),
                    _sdk("email", pattern=_EMAIL),
                    _sdk("created_at", DATETIME),
                ),
                note="built from flat customer_id, customer_email (or email), customer_created_at",
            ),
            _sdk(
                "products",
                OBJECT_LIST,
                fields=(
                    _req("product_id", INT, evidence="a line without it got the order rejected; integer [TH5]"),
                    Field("product_variation_id", ID),
                    _sdk("price", MONEY),
                    _sdk("price_without_tax", MONEY),
                    Field("manufacturer_id"),
                    _req("quantity", INT, evidence="required, an integer [TH5]"),
                ),
                note="order lines",
            ),
            _sdk("cart_id"),
            _req(
                "cart_updated_at",
                DATETIME,
                evidence="an empty value got the order rejected (absent never tried) [TH5]",
                note="falls back to updated_at, then created_at",
            ),
            _sdk("amount", MONEY),
            _sdk("amount_without_tax", MONEY),
            _sdk("shipping_costs", MONEY),
            _sdk("shipping_costs_without_tax", MONEY),
            Field("shipping_number"),
            _CURRENCY,
            Field("voucher_used", max_length=256, evidence="at most 256 characters [TH5]"),
            Field("voucher_value", note="a string: amount or percentage"),
            _sdk("is_confirmed", BOOL),
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
            _key("voucher_id"),
            *_common(),
            _LANG,
            _sdk("code"),
            _sdk("description"),
            _sdk("started_at", DATETIME),
            Field("ended_at", DATETIME, note="null = no end"),
            Field("customer_id", evidence="a string when present [TH5]"),
            _sdk(
                "type_voucher",
                enum=("free_shipping", "amount_reduction", "percentage_reduction", "specific_coupon"),
                evidence="SDK typing only [SDK]; specific_coupon from the docs and [TH5]",
            ),
            Field("value", MONEY),
            _sdk("minimum_amount", MONEY),
            _CURRENCY,
            _sdk("reduction_tax", BOOL),
            _sdk("is_used", BOOL),
            _sdk("is_active", BOOL),
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
            _key("email", pattern=_EMAIL, note="never filled from another column"),
            _sdk("is_subscribed", BOOL),
            _sdk("first_name", default="", evidence=_EMPTY_NAME),
            _sdk("last_name", default="", evidence=_EMPTY_NAME),
            _sdk(
                "postal_code",
                nullable=True,
                pattern=_POSTAL,
                evidence='SDK typing only [SDK]; null accepted, "" refused, else the pattern [TH5]',
            ),
            _LANG,
            _sdk("updated_at", DATETIME),
        ),
        id_field="email",
        fill_key=False,
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
