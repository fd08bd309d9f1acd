"""Writes shop.singer.jsonl: every resource, valid rows and rows invalid on purpose.

Run `python tests/data/make_shop_singer.py` to regenerate; the tests read the file.
Invalid rows carry `"_expect"` in EXPECTED_REJECTIONS (stream, key, error fragment).
"""

from __future__ import annotations

import json
import pathlib

TS = "2026-05-07T08:00:00+00:00"
HERE = pathlib.Path(__file__).parent


def schema(stream: str, props: dict, key: list[str]) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": props},
        "key_properties": key,
    }


S = {"type": ["string", "null"]}
I = {"type": ["integer", "null"]}  # noqa: E741
N = {"type": ["number", "null"]}
B = {"type": ["boolean", "null"]}
DT = {"type": ["string", "null"], "format": "date-time"}
D = {"type": ["string", "null"], "format": "date"}
ANY: dict[str, str] = {}

STREAMS: dict[str, tuple[dict, list[str], list[dict]]] = {
    "public-customer_groups": (
        {"id": I, "lang": S, "name": S, "created_at": DT, "updated_at": DT},
        ["id"],
        [{"id": g, "lang": "fr_FR", "name": f"Group {g}", "created_at": TS, "updated_at": TS} for g in (1, 2, 3)],
    ),
    "public-order_statuses": (
        {"status_id": S, "lang": S, "name": S},
        [],
        [{"status_id": s, "lang": "fr", "name": f"Status {s}"} for s in ("paid", "shipped")],
    ),
    "public-carriers": (
        {"id": I, "name": S, "is_active": B, "created_at": DT, "updated_at": DT},
        ["id"],
        [{"id": 1, "name": "Colissimo", "is_active": True, "created_at": TS, "updated_at": TS}],
    ),
    "public-categories": (
        {
            "id": I,
            "lang": S,
            "name": S,
            "description": S,
            "parent_category_id": I,
            "link": S,
            "is_active": ANY,
            "created_at": DT,
            "updated_at": DT,
        },
        ["id"],
        [
            {
                "id": 10,
                "lang": "fr",
                "name": "Shoes",
                "description": None,
                "parent_category_id": None,
                "link": "https://shop.example/c/10",
                "is_active": True,
                "created_at": TS,
                "updated_at": TS,
            },
            {
                "id": 11,
                "lang": "fr",
                "name": "Boots",
                "description": "Warm",
                "parent_category_id": 10,
                "link": "https://shop.example/c/11",
                "is_active": "t",
                "created_at": TS,
                "updated_at": TS,
            },
        ],
    ),
    "public-manufacturers": (
        {"id": I, "name": S, "is_active": B, "created_at": DT, "updated_at": DT},
        ["id"],
        [{"id": 5, "name": "Acme", "is_active": True, "created_at": TS, "updated_at": TS}],
    ),
    "public-products": (
        {
            "id": I,
            "lang": S,
            "name": S,
            "description": S,
            "link": S,
            "image_link": S,
            "category_ids": ANY,
            "manufacturer_id": I,
            "currency": S,
            "price": N,
            "price_discount": N,
            "quantity_remaining": N,
            "is_active": ANY,
            "created_at": DT,
            "updated_at": DT,
        },
        ["id"],
        [
            {
                "id": p,
                "lang": "fr",
                "name": f"Product {p}",
                "description": "",
                "link": f"https://shop.example/p/{p}",
                "image_link": f"https://shop.example/i/{p}.jpg",
                "category_ids": "[10, 11]",
                "manufacturer_id": 5,
                "currency": "eur",
                "price": 19.999,
                "price_discount": 15,
                "quantity_remaining": 3.0,
                "is_active": 1,
                "created_at": TS,
                "updated_at": TS,
            }
            for p in (100, 101, 102)
        ]
        + [
            # invalid on purpose: a fractional stock
            {
                "id": 103,
                "lang": "fr",
                "name": "Half",
                "description": "",
                "link": "https://shop.example/p/103",
                "currency": "EUR",
                "price": 1,
                "quantity_remaining": 2.5,
                "is_active": True,
                "created_at": TS,
                "updated_at": TS,
            },
        ],
    ),
    "public-product_images": (
        {"product_id": I, "image_id": I, "lang": S, "url": S, "is_default": B},
        [],
        [
            {
                "product_id": 100,
                "image_id": 1,
                "lang": "fr",
                "url": "https://cdn.example/100-1.jpg",
                "is_default": True,
            },
            # invalid on purpose: plain http
            {
                "product_id": 101,
                "image_id": 2,
                "lang": "fr",
                "url": "http://cdn.example/101-2.jpg",
                "is_default": False,
            },
        ],
    ),
    "public-variations": (
        {
            "product_id": I,
            "variation_id": I,
            "name": S,
            "lang": S,
            "link": S,
            "price": N,
            "quantity_remaining": I,
            "is_default": B,
        },
        [],
        [
            {
                "product_id": 100,
                "variation_id": 1000,
                "name": "Size 42",
                "lang": "fr",
                "link": "https://shop.example/p/100?v=42",
                "price": 21.5,
                "quantity_remaining": 7,
                "is_default": True,
            }
        ],
    ),
    "public-customers": (
        {
            "id": I,
            "email": S,
            "first_name": S,
            "last_name": S,
            "birth_date": D,
            "lang": S,
            "is_newsletter_subscribed": S,
            "group_ids": ANY,
            "created_at": DT,
            "updated_at": DT,
        },
        ["id"],
        [
            {
                "id": c,
                "email": f"c{c}@example.com",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "birth_date": "1990-12-10",
                "lang": "fr_FR",
                "is_newsletter_subscribed": "yes",
                "group_ids": "{1,2}",
                "created_at": TS,
                "updated_at": TS,
            }
            for c in (1, 2, 3, 4)
        ]
        + [
            # invalid on purpose: not an e-mail address
            {
                "id": 5,
                "email": "nobody",
                "first_name": "No",
                "last_name": "Body",
                "lang": "fr",
                "is_newsletter_subscribed": "no",
                "created_at": TS,
                "updated_at": TS,
            },
        ],
    ),
    "public-addresses": (
        {
            "customer_id": I,
            "id": I,
            "first_name": S,
            "last_name": S,
            "address_line_1": S,
            "postal_code": S,
            "city": S,
            "country": S,
            "is_active": B,
        },
        ["id"],
        [
            {
                "customer_id": 1,
                "id": 900,
                "first_name": "Ada",
                "last_name": "L",
                "address_line_1": "1 rue Haute",
                "postal_code": "75001",
                "city": "Paris",
                "country": "fr",
                "is_active": True,
            },
            # invalid on purpose: postal code with a slash
            {
                "customer_id": 2,
                "id": 901,
                "first_name": "Bob",
                "last_name": "M",
                "address_line_1": "2 rue Basse",
                "postal_code": "75/002",
                "city": "Paris",
                "country": "FR",
                "is_active": True,
            },
        ],
    ),
    "public-orders": (
        {
            "id": I,
            "lang": S,
            "status_id": S,
            "carrier_id": I,
            "customer_id": I,
            "customer_email": S,
            "customer_created_at": DT,
            "products": ANY,
            "cart_id": I,
            "amount": N,
            "amount_without_tax": N,
            "shipping_costs": N,
            "shipping_costs_without_tax": N,
            "currency": S,
            "is_confirmed": B,
            "created_at": DT,
            "updated_at": DT,
        },
        ["id"],
        [
            {
                "id": 1042,
                "lang": "fr",
                "status_id": "paid",
                "carrier_id": 1,
                "customer_id": 1,
                "customer_email": "c1@example.com",
                "customer_created_at": TS,
                "products": [{"product_id": 100, "price": 19.99, "price_without_tax": 16.66, "quantity": 2}],
                "cart_id": 77,
                "amount": 39.98,
                "amount_without_tax": 33.32,
                "shipping_costs": 0,
                "shipping_costs_without_tax": 0,
                "currency": "EUR",
                "is_confirmed": True,
                "created_at": TS,
                "updated_at": TS,
            },
            # invalid on purpose: an order line whose product id is not an integer
            {
                "id": 1043,
                "lang": "fr",
                "status_id": "paid",
                "customer_id": 2,
                "customer_email": "c2@example.com",
                "customer_created_at": TS,
                "products": '[{"product_id": "abc", "price": 5, "price_without_tax": 4, "quantity": 1}]',
                "cart_id": 78,
                "amount": 5,
                "amount_without_tax": 4,
                "shipping_costs": 0,
                "shipping_costs_without_tax": 0,
                "currency": "EUR",
                "is_confirmed": False,
                "created_at": TS,
                "updated_at": TS,
            },
        ],
    ),
    "public-vouchers": (
        {
            "id": I,
            "lang": S,
            "code": S,
            "description": S,
            "started_at": DT,
            "customer_id": I,
            "type_voucher": S,
            "value": N,
            "minimum_amount": N,
            "currency": S,
            "reduction_tax": B,
            "is_used": B,
            "is_active": B,
            "created_at": DT,
            "updated_at": DT,
        },
        ["id"],
        [
            {
                "id": 7,
                "lang": "fr",
                "code": "SPM-10",
                "description": "10%",
                "started_at": TS,
                "customer_id": 1,
                "type_voucher": "percentage_reduction",
                "value": 10,
                "minimum_amount": 50,
                "currency": "EUR",
                "reduction_tax": True,
                "is_used": False,
                "is_active": True,
                "created_at": TS,
                "updated_at": TS,
            },
            # invalid on purpose: unknown voucher type
            {
                "id": 8,
                "lang": "fr",
                "code": "X",
                "description": "?",
                "started_at": TS,
                "type_voucher": "gift",
                "minimum_amount": 0,
                "currency": "EUR",
                "reduction_tax": True,
                "is_used": False,
                "is_active": True,
                "created_at": TS,
                "updated_at": TS,
            },
        ],
    ),
    "public-subscribers": (
        {
            "email": S,
            "is_subscribed": B,
            "first_name": S,
            "last_name": S,
            "postal_code": S,
            "lang": S,
            "updated_at": DT,
        },
        ["email"],
        [
            {
                "email": "n1@example.com",
                "is_subscribed": True,
                "first_name": None,
                "last_name": None,
                "postal_code": None,
                "lang": "fr",
                "updated_at": TS,
            },
            # invalid on purpose: an empty postal code
            {
                "email": "n2@example.com",
                "is_subscribed": True,
                "first_name": "N",
                "last_name": "Two",
                "postal_code": "",
                "lang": "fr",
                "updated_at": TS,
            },
        ],
    ),
    "public-carts": ({"id": I}, ["id"], [{"id": 1}]),
}

# (resource, key, fragment of the error) for every row invalid on purpose.
EXPECTED_REJECTIONS = [
    ("products", "103|fr", "quantity_remaining: must be an integer"),
    ("products_images", "101|2", "url: must be an https:// URL"),
    ("customers", "5", "email: not a valid e-mail address"),
    ("customers_addresses", "2|901", "postal_code: must match"),
    ("orders", "1043", "products.0.product_id: must be an integer"),
    ("vouchers", "8", "type_voucher: must be one of"),
    ("newsletter_subscribers", "n2@example.com", "postal_code: must match"),
]


def messages() -> list[dict]:
    out: list[dict] = []
    for stream, (props, key, rows) in STREAMS.items():
        out.append(schema(stream, props, key))
        out.extend({"type": "RECORD", "stream": stream, "record": row} for row in rows)
        out.append({"type": "STATE", "value": {"bookmarks": {stream: {"replication_key_value": TS}}}})
    return out


if __name__ == "__main__":
    with (HERE / "shop.singer.jsonl").open("w") as fh:
        for message in messages():
            fh.write(json.dumps(message) + "\n")
