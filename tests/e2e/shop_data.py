"""The e2e shop: PostgreSQL DDL, rows, and the ShopiMind item each row must become.

Every table row is paired with the item the sandbox must hold for it (None: the row is
invalid on purpose and must be rejected locally, listed in the state's target_shopimind
report). Within each table `updated_at` grows with the row order, so the last row is the
incremental bookmark and the row tap-postgres re-sends at the boundary.
"""

from __future__ import annotations

import typing as t

DDL = """
CREATE SCHEMA shop;

CREATE TABLE shop.customer_groups (
    group_id   text NOT NULL,
    lang       text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (group_id, lang)
);

CREATE TABLE shop.order_statuses (
    status_id  integer NOT NULL,
    lang       text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (status_id, lang)
);

CREATE TABLE shop.carriers (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    is_active  boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE shop.categories (
    category_id        integer NOT NULL,
    lang               text NOT NULL,
    name               text NOT NULL,
    description        text,
    parent_category_id integer,
    link               text NOT NULL,
    is_active          boolean NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (category_id, lang)
);

CREATE TABLE shop.manufacturers (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    is_active  boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE shop.products (
    product_id         integer NOT NULL,
    lang               text NOT NULL,
    name               text NOT NULL,
    reference          text,
    description        text,
    link               text NOT NULL,
    image_link         text,
    category_ids       integer[],
    manufacturer_id    integer,
    currency           char(3) NOT NULL,
    price              numeric(10, 2) NOT NULL,
    price_discount     numeric(10, 2),
    quantity_remaining integer NOT NULL,
    is_active          boolean NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (product_id, lang)
);

CREATE TABLE shop.customers (
    id                       integer PRIMARY KEY,
    email                    text NOT NULL,
    first_name               text NOT NULL,
    last_name                text NOT NULL,
    phone_number             text,
    birth_date               date,
    is_opt_in                boolean NOT NULL DEFAULT false,
    is_newsletter_subscribed boolean NOT NULL DEFAULT false,
    lang                     text NOT NULL,
    group_ids                text[],
    gender                   smallint,
    is_active                boolean NOT NULL DEFAULT true,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL
);

CREATE TABLE shop.addresses (
    id             integer PRIMARY KEY,
    customer_id    integer NOT NULL REFERENCES shop.customers (id) ON DELETE CASCADE,
    first_name     text NOT NULL,
    last_name      text NOT NULL,
    company        text,
    address_line_1 text NOT NULL,
    address_line_2 text,
    postal_code    text NOT NULL,
    city           text NOT NULL,
    country        char(2),
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
-- A deleted address must carry its customer_id (bulk-delete is per customer).
ALTER TABLE shop.addresses REPLICA IDENTITY FULL;

CREATE TABLE shop.orders (
    id                         integer PRIMARY KEY,
    reference                  text NOT NULL,
    customer_id                integer NOT NULL REFERENCES shop.customers (id),
    carrier_id                 integer,
    status_id                  integer NOT NULL,
    cart_id                    integer NOT NULL,
    amount                     numeric(10, 2) NOT NULL,
    amount_without_tax         numeric(10, 2) NOT NULL,
    shipping_costs             numeric(10, 2) NOT NULL,
    shipping_costs_without_tax numeric(10, 2) NOT NULL,
    currency                   char(3) NOT NULL,
    is_confirmed               boolean NOT NULL,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);

CREATE TABLE shop.order_lines (
    order_id          integer NOT NULL REFERENCES shop.orders (id),
    line_no           integer NOT NULL,
    product_id        integer NOT NULL,
    variation_id      integer,
    price             numeric(10, 2) NOT NULL,
    price_without_tax numeric(10, 2) NOT NULL,
    quantity          integer NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- One row per order with its lines as a JSON array: what ShopiMind's `orders` wants.
CREATE VIEW shop.orders_with_lines AS
SELECT o.id AS order_id,
       o.reference,
       o.carrier_id,
       o.status_id,
       o.cart_id,
       c.id AS customer_id,
       c.email AS customer_email,
       c.created_at AS customer_created_at,
       json_agg(json_build_object(
           'product_id', l.product_id,
           'product_variation_id', l.variation_id,
           'price', l.price,
           'price_without_tax', l.price_without_tax,
           'quantity', l.quantity) ORDER BY l.line_no) AS products,
       o.amount,
       o.amount_without_tax,
       o.shipping_costs,
       o.shipping_costs_without_tax,
       o.currency,
       o.is_confirmed,
       o.created_at,
       o.updated_at
FROM shop.orders o
JOIN shop.customers c ON c.id = o.customer_id
JOIN shop.order_lines l ON l.order_id = o.id
GROUP BY o.id, c.id;

CREATE TABLE shop.vouchers (
    id             integer PRIMARY KEY,
    code           text NOT NULL,
    description    text NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    customer_id    integer,
    type_voucher   text NOT NULL,
    value          numeric(10, 2),
    minimum_amount numeric(10, 2) NOT NULL,
    currency       char(3) NOT NULL,
    reduction_tax  boolean NOT NULL,
    is_used        boolean NOT NULL,
    is_active      boolean NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
"""


def ts(day: int, hour: int = 10, minute: int = 0) -> str:
    """A January 2026 timestamp, as inserted (UTC)."""
    return f"2026-01-{day:02d} {hour:02d}:{minute:02d}:00+00"


def iso(day: int, hour: int = 10, minute: int = 0) -> str:
    """The same moment as the target must send it."""
    return f"2026-01-{day:02d}T{hour:02d}:{minute:02d}:00.000Z"


Row = dict[str, t.Any]
Item = dict[str, t.Any]

# table -> [(row, expected item or None when rejected on purpose)]
TABLES: dict[str, list[tuple[Row, Item | None]]] = {
    "customer_groups": [
        (
            {"group_id": "1", "lang": "fr", "name": "Visiteurs", "created_at": ts(1), "updated_at": ts(1, 10, 1)},
            {"group_id": "1", "lang": "fr", "name": "Visiteurs", "created_at": iso(1), "updated_at": iso(1, 10, 1)},
        ),
        (
            {"group_id": "2", "lang": "fr", "name": "Clients", "created_at": ts(1), "updated_at": ts(1, 10, 2)},
            {"group_id": "2", "lang": "fr", "name": "Clients", "created_at": iso(1), "updated_at": iso(1, 10, 2)},
        ),
        (
            {"group_id": "2", "lang": "en_GB", "name": "Customers", "created_at": ts(1), "updated_at": ts(1, 10, 3)},
            {"group_id": "2", "lang": "en", "name": "Customers", "created_at": iso(1), "updated_at": iso(1, 10, 3)},
        ),
    ],
    "order_statuses": [
        (
            {"status_id": 1, "lang": "fr", "name": "En attente", "created_at": ts(1), "updated_at": ts(1, 11, 1)},
            {"status_id": "1", "lang": "fr", "name": "En attente", "is_deleted": False, "updated_at": iso(1, 11, 1)},
        ),
        (
            {"status_id": 2, "lang": "fr", "name": "Payée", "created_at": ts(1), "updated_at": ts(1, 11, 2)},
            {"status_id": "2", "lang": "fr", "name": "Payée", "is_deleted": False, "updated_at": iso(1, 11, 2)},
        ),
        (
            {"status_id": 5, "lang": "fr", "name": "Livrée", "created_at": ts(1), "updated_at": ts(1, 11, 3)},
            {"status_id": "5", "lang": "fr", "name": "Livrée", "is_deleted": False, "updated_at": iso(1, 11, 3)},
        ),
    ],
    "carriers": [
        (
            {"id": 1, "name": "Colissimo", "is_active": True, "created_at": ts(1), "updated_at": ts(2, 9)},
            {"carrier_id": "1", "name": "Colissimo", "is_active": True, "created_at": iso(1), "updated_at": iso(2, 9)},
        ),
        (
            {"id": 2, "name": "Retrait magasin", "is_active": False, "created_at": ts(1), "updated_at": ts(2, 10)},
            {
                "carrier_id": "2",
                "name": "Retrait magasin",
                "is_active": False,
                "created_at": iso(1),
                "updated_at": iso(2, 10),
            },
        ),
    ],
    "categories": [
        (
            {
                "category_id": 1,
                "lang": "fr",
                "name": "Accueil",
                "description": None,
                "parent_category_id": None,
                "link": "https://shop.example.com/fr/",
                "is_active": True,
                "created_at": ts(1),
                "updated_at": ts(3, 9),
            },
            {
                "category_id": 1,
                "lang": "fr",
                "name": "Accueil",
                "description": "",
                "parent_category_id": None,
                "link": "https://shop.example.com/fr/",
                "is_active": True,
                "created_at": iso(1),
                "updated_at": iso(3, 9),
            },
        ),
        (
            {
                "category_id": 3,
                "lang": "fr",
                "name": "Vêtements",
                "description": "Coton bio",
                "parent_category_id": 1,
                "link": "https://shop.example.com/fr/3-vetements",
                "is_active": True,
                "created_at": ts(1),
                "updated_at": ts(3, 10),
            },
            {
                "category_id": 3,
                "lang": "fr",
                "name": "Vêtements",
                "description": "Coton bio",
                "parent_category_id": 1,
                "link": "https://shop.example.com/fr/3-vetements",
                "is_active": True,
                "created_at": iso(1),
                "updated_at": iso(3, 10),
            },
        ),
    ],
    "manufacturers": [
        (
            {"id": 7, "name": "Atelier Lumière", "is_active": True, "created_at": ts(1), "updated_at": ts(4)},
            {
                "manufacturer_id": "7",
                "name": "Atelier Lumière",
                "is_active": True,
                "created_at": iso(1),
                "updated_at": iso(4),
            },
        ),
    ],
    "products": [
        (
            {
                "product_id": 1,
                "lang": "fr",
                "name": "T-shirt colibri",
                "reference": "demo_1",
                "description": "T-shirt en coton",
                "link": "https://shop.example.com/fr/1.html",
                "image_link": "https://shop.example.com/img/1.jpg",
                "category_ids": [3],
                "manufacturer_id": 7,
                "currency": "EUR",
                "price": "19.90",
                "price_discount": None,
                "quantity_remaining": 120,
                "is_active": True,
                "created_at": ts(1),
                "updated_at": ts(5, 9),
            },
            {
                "product_id": 1,
                "lang": "fr",
                "name": "T-shirt colibri",
                "reference": "demo_1",
                "description": "T-shirt en coton",
                "link": "https://shop.example.com/fr/1.html",
                "image_link": "https://shop.example.com/img/1.jpg",
                "category_ids": [3],
                "manufacturer_id": "7",
                "currency": "EUR",
                "price": 19.9,
                "price_discount": None,
                "quantity_remaining": 120,
                "is_active": True,
                "created_at": iso(1),
                "updated_at": iso(5, 9),
            },
        ),
        (
            {
                "product_id": 2,
                "lang": "fr",
                "name": "Pull mérinos",
                "reference": "demo_2",
                "description": None,
                "link": "https://shop.example.com/fr/2.html",
                "image_link": None,
                "category_ids": [1, 3],
                "manufacturer_id": None,
                "currency": "EUR",
                "price": "59.00",
                "price_discount": "49.50",
                "quantity_remaining": 0,
                "is_active": False,
                "created_at": ts(1),
                "updated_at": ts(5, 10),
            },
            {
                "product_id": 2,
                "lang": "fr",
                "name": "Pull mérinos",
                "reference": "demo_2",
                "description": "",
                "link": "https://shop.example.com/fr/2.html",
                "image_link": None,
                "category_ids": [1, 3],
                "manufacturer_id": None,
                "currency": "EUR",
                "price": 59.0,
                "price_discount": 49.5,
                "quantity_remaining": 0,
                "is_active": False,
                "created_at": iso(1),
                "updated_at": iso(5, 10),
            },
        ),
    ],
    "customers": [
        (
            {
                "id": 1,
                "email": "camille@example.com",
                "first_name": "Camille",
                "last_name": "Martin",
                "phone_number": "+33 6 12 34 56 78",
                "birth_date": "1990-04-01",
                "is_opt_in": True,
                "is_newsletter_subscribed": True,
                "lang": "fr_FR",
                "group_ids": ["2"],
                "gender": 2,
                "is_active": True,
                "created_at": ts(6, 8),
                "updated_at": ts(6, 9),
            },
            {
                "customer_id": "1",
                "email": "camille@example.com",
                "first_name": "Camille",
                "last_name": "Martin",
                "phone_number": "+33 6 12 34 56 78",
                "birth_date": "1990-04-01",
                "is_opt_in": True,
                "is_newsletter_subscribed": True,
                "lang": "fr",
                "group_ids": ["2"],
                "gender": 2,
                "is_active": True,
                "created_at": iso(6, 8),
                "updated_at": iso(6, 9),
            },
        ),
        (
            {
                "id": 2,
                "email": "louis@example.com",
                "first_name": "Louis",
                "last_name": "Bernard",
                "phone_number": None,
                "birth_date": None,
                "is_opt_in": False,
                "is_newsletter_subscribed": False,
                "lang": "fr",
                "group_ids": ["1", "2"],
                "gender": 1,
                "is_active": True,
                "created_at": ts(6, 8),
                "updated_at": ts(6, 10),
            },
            {
                "customer_id": "2",
                "email": "louis@example.com",
                "first_name": "Louis",
                "last_name": "Bernard",
                "phone_number": None,
                "birth_date": None,
                "is_opt_in": False,
                "is_newsletter_subscribed": False,
                "lang": "fr",
                "group_ids": ["1", "2"],
                "gender": 1,
                "is_active": True,
                "created_at": iso(6, 8),
                "updated_at": iso(6, 10),
            },
        ),
        (
            # Invalid on purpose: the e-mail address.
            {
                "id": 4,
                "email": "not-an-email",
                "first_name": "Bad",
                "last_name": "Email",
                "phone_number": None,
                "birth_date": None,
                "is_opt_in": False,
                "is_newsletter_subscribed": False,
                "lang": "fr",
                "group_ids": None,
                "gender": 0,
                "is_active": True,
                "created_at": ts(6, 8),
                "updated_at": ts(6, 11),
            },
            None,
        ),
        (
            {
                "id": 3,
                "email": "ines@example.com",
                "first_name": "Inès",
                "last_name": "Petit",
                "phone_number": None,
                "birth_date": "1988-12-24",
                "is_opt_in": False,
                "is_newsletter_subscribed": True,
                "lang": "fr",
                "group_ids": ["2"],
                "gender": 2,
                "is_active": True,
                "created_at": ts(6, 8),
                "updated_at": ts(6, 12),
            },
            {
                "customer_id": "3",
                "email": "ines@example.com",
                "first_name": "Inès",
                "last_name": "Petit",
                "phone_number": None,
                "birth_date": "1988-12-24",
                "is_opt_in": False,
                "is_newsletter_subscribed": True,
                "lang": "fr",
                "group_ids": ["2"],
                "gender": 2,
                "is_active": True,
                "created_at": iso(6, 8),
                "updated_at": iso(6, 12),
            },
        ),
    ],
    "addresses": [
        (
            {
                "id": 11,
                "customer_id": 1,
                "first_name": "Camille",
                "last_name": "Martin",
                "company": None,
                "address_line_1": "12 rue des Lilas",
                "address_line_2": "Bât. B",
                "postal_code": "75011",
                "city": "Paris",
                "country": "fr",
                "is_active": True,
                "created_at": ts(7),
                "updated_at": ts(7, 10, 1),
            },
            {
                "customer_id": "1",
                "address_id": 11,
                "first_name": "Camille",
                "last_name": "Martin",
                "company": None,
                "address_line_1": "12 rue des Lilas",
                "address_line_2": "Bât. B",
                "postal_code": "75011",
                "city": "Paris",
                "country": "FR",
                "is_active": True,
                "created_at": iso(7),
                "updated_at": iso(7, 10, 1),
            },
        ),
        (
            # Invalid on purpose: the postal code.
            {
                "id": 12,
                "customer_id": 1,
                "first_name": "Camille",
                "last_name": "Martin",
                "company": None,
                "address_line_1": "1 quai Ouest",
                "address_line_2": None,
                "postal_code": "75@011",
                "city": "Paris",
                "country": "FR",
                "is_active": True,
                "created_at": ts(7),
                "updated_at": ts(7, 10, 2),
            },
            None,
        ),
        (
            {
                "id": 21,
                "customer_id": 2,
                "first_name": "Louis",
                "last_name": "Bernard",
                "company": "Bernard & Fils",
                "address_line_1": "3 place du Marché",
                "address_line_2": None,
                "postal_code": "06000",
                "city": "Nice",
                "country": "FR",
                "is_active": True,
                "created_at": ts(7),
                "updated_at": ts(7, 10, 3),
            },
            {
                "customer_id": "2",
                "address_id": 21,
                "first_name": "Louis",
                "last_name": "Bernard",
                "company": "Bernard & Fils",
                "address_line_1": "3 place du Marché",
                "address_line_2": None,
                "postal_code": "06000",
                "city": "Nice",
                "country": "FR",
                "is_active": True,
                "created_at": iso(7),
                "updated_at": iso(7, 10, 3),
            },
        ),
    ],
    "orders": [
        (
            {
                "id": 1001,
                "reference": "XKBKNABJK",
                "customer_id": 1,
                "carrier_id": 1,
                "status_id": 5,
                "cart_id": 501,
                "amount": "59.20",
                "amount_without_tax": "49.33",
                "shipping_costs": "6.90",
                "shipping_costs_without_tax": "5.75",
                "currency": "EUR",
                "is_confirmed": True,
                "created_at": ts(8, 9),
                "updated_at": ts(8, 10),
            },
            {
                "order_id": "1001",
                "reference": "XKBKNABJK",
                "carrier_id": "1",
                "status_id": "5",
                "cart_id": "501",
                "customer": {"customer_id": "1", "email": "camille@example.com", "created_at": iso(6, 8)},
                "products": [
                    {
                        "product_id": 1,
                        "product_variation_id": None,
                        "price": 19.9,
                        "price_without_tax": 16.58,
                        "quantity": 2,
                    },
                    {
                        "product_id": 2,
                        "product_variation_id": 202,
                        "price": 19.4,
                        "price_without_tax": 16.17,
                        "quantity": 1,
                    },
                ],
                "amount": 59.2,
                "amount_without_tax": 49.33,
                "shipping_costs": 6.9,
                "shipping_costs_without_tax": 5.75,
                "currency": "EUR",
                "is_confirmed": True,
                "lang": "fr",
                "cart_updated_at": iso(8, 10),
                "created_at": iso(8, 9),
                "updated_at": iso(8, 10),
            },
        ),
        (
            {
                "id": 1002,
                "reference": "OHSATSERP",
                "customer_id": 3,
                "carrier_id": None,
                "status_id": 2,
                "cart_id": 502,
                "amount": "59.00",
                "amount_without_tax": "49.17",
                "shipping_costs": "0",
                "shipping_costs_without_tax": "0",
                "currency": "EUR",
                "is_confirmed": False,
                "created_at": ts(8, 9),
                "updated_at": ts(8, 11),
            },
            {
                "order_id": "1002",
                "reference": "OHSATSERP",
                "carrier_id": None,
                "status_id": "2",
                "cart_id": "502",
                "customer": {"customer_id": "3", "email": "ines@example.com", "created_at": iso(6, 8)},
                "products": [
                    {
                        "product_id": 2,
                        "product_variation_id": None,
                        "price": 59.0,
                        "price_without_tax": 49.17,
                        "quantity": 1,
                    },
                ],
                "amount": 59.0,
                "amount_without_tax": 49.17,
                "shipping_costs": 0.0,
                "shipping_costs_without_tax": 0.0,
                "currency": "EUR",
                "is_confirmed": False,
                "lang": "fr",
                "cart_updated_at": iso(8, 11),
                "created_at": iso(8, 9),
                "updated_at": iso(8, 11),
            },
        ),
    ],
    "order_lines": [
        (
            {
                "order_id": 1001,
                "line_no": 1,
                "product_id": 1,
                "variation_id": None,
                "price": "19.90",
                "price_without_tax": "16.58",
                "quantity": 2,
            },
            None,
        ),
        (
            {
                "order_id": 1001,
                "line_no": 2,
                "product_id": 2,
                "variation_id": 202,
                "price": "19.40",
                "price_without_tax": "16.17",
                "quantity": 1,
            },
            None,
        ),
        (
            {
                "order_id": 1002,
                "line_no": 1,
                "product_id": 2,
                "variation_id": None,
                "price": "59.00",
                "price_without_tax": "49.17",
                "quantity": 1,
            },
            None,
        ),
    ],
    "vouchers": [
        (
            {
                "id": 1,
                "code": "BIENVENUE10",
                "description": "10 % sur la première commande",
                "started_at": ts(1, 0),
                "ended_at": None,
                "customer_id": None,
                "type_voucher": "percentage_reduction",
                "value": "10",
                "minimum_amount": "20",
                "currency": "EUR",
                "reduction_tax": True,
                "is_used": False,
                "is_active": True,
                "created_at": ts(1),
                "updated_at": ts(9, 10),
            },
            {
                "voucher_id": "1",
                "code": "BIENVENUE10",
                "description": "10 % sur la première commande",
                "started_at": iso(1, 0),
                "ended_at": None,
                "customer_id": None,
                "type_voucher": "percentage_reduction",
                "value": 10.0,
                "minimum_amount": 20.0,
                "currency": "EUR",
                "reduction_tax": True,
                "is_used": False,
                "is_active": True,
                "lang": "fr",
                "created_at": iso(1),
                "updated_at": iso(9, 10),
            },
        ),
        (
            # Invalid on purpose: type_voucher is not one of the API's values.
            {
                "id": 3,
                "code": "BOGUS",
                "description": "Unknown type",
                "started_at": ts(1, 0),
                "ended_at": None,
                "customer_id": 1,
                "type_voucher": "half_price",
                "value": "50",
                "minimum_amount": "0",
                "currency": "EUR",
                "reduction_tax": False,
                "is_used": False,
                "is_active": True,
                "created_at": ts(1),
                "updated_at": ts(9, 11),
            },
            None,
        ),
        (
            {
                "id": 2,
                "code": "CAMILLE5",
                "description": "5 € pour Camille",
                "started_at": ts(2, 0),
                "ended_at": ts(28, 23, 59),
                "customer_id": 1,
                "type_voucher": "amount_reduction",
                "value": "5",
                "minimum_amount": "30",
                "currency": "EUR",
                "reduction_tax": True,
                "is_used": True,
                "is_active": True,
                "created_at": ts(2),
                "updated_at": ts(9, 12),
            },
            {
                "voucher_id": "2",
                "code": "CAMILLE5",
                "description": "5 € pour Camille",
                "started_at": iso(2, 0),
                "ended_at": iso(28, 23, 59),
                "customer_id": "1",
                "type_voucher": "amount_reduction",
                "value": 5.0,
                "minimum_amount": 30.0,
                "currency": "EUR",
                "reduction_tax": True,
                "is_used": True,
                "is_active": True,
                "lang": "fr",
                "created_at": iso(2),
                "updated_at": iso(9, 12),
            },
        ),
    ],
}

# Insert order (foreign keys) and the casts psql needs for array literals.
INSERT_ORDER = (
    "customer_groups",
    "order_statuses",
    "carriers",
    "categories",
    "manufacturers",
    "products",
    "customers",
    "addresses",
    "orders",
    "order_lines",
    "vouchers",
)
CASTS = {"customers": {"group_ids": "text[]"}, "products": {"category_ids": "integer[]"}}

# table/view -> (ShopiMind resource, the upsert key of an item as the target reports it)
RESOURCE_OF: dict[str, str] = {
    "customer_groups": "customers_groups",
    "order_statuses": "orders_statuses",
    "carriers": "orders_carriers",
    "categories": "products_categories",
    "manufacturers": "products_manufacturers",
    "products": "products",
    "customers": "customers",
    "addresses": "customers_addresses",
    "orders": "orders",
    "vouchers": "vouchers",
}
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "customers_groups": ("group_id", "lang"),
    "orders_statuses": ("status_id", "lang"),
    "orders_carriers": ("carrier_id",),
    "products_categories": ("category_id", "lang"),
    "products_manufacturers": ("manufacturer_id",),
    "products": ("product_id", "lang"),
    "customers": ("customer_id",),
    "customers_addresses": ("customer_id", "address_id"),
    "orders": ("order_id",),
    "vouchers": ("voucher_id",),
}


def key_of(resource: str, item: Item) -> str:
    return "|".join(str(item[f]) for f in KEY_FIELDS[resource])


def expected_items(resource: str) -> dict[str, Item]:
    table = next(name for name, res in RESOURCE_OF.items() if res == resource)
    return {key_of(resource, item): item for _, item in TABLES[table] if item is not None}


# Rows invalid on purpose: resource -> (key as the target reports it, a word its error names)
REJECTED = {
    "customers": ("4", "email"),
    "customers_addresses": ("1|12", "postal_code"),
    "vouchers": ("3", "type_voucher"),
}

# The second run: what changes in the database, and the item that must then overwrite.
SECOND_RUN_SQL = """
UPDATE shop.customers SET first_name = 'Louise', is_opt_in = true, updated_at = '2026-02-01 09:00:00+00' WHERE id = 2;
INSERT INTO shop.customers (id, email, first_name, last_name, lang, group_ids, gender, created_at, updated_at)
VALUES (5, 'nora@example.com', 'Nora', 'Lefèvre', 'fr', ARRAY['1']::text[], 0, '2026-02-01 09:30:00+00', '2026-02-01 09:30:00+00');
UPDATE shop.orders SET status_id = 5, carrier_id = 1, updated_at = '2026-02-01 10:00:00+00' WHERE id = 1002;
UPDATE shop.products SET price = 64.00, quantity_remaining = 12, is_active = true, updated_at = '2026-02-01 11:00:00+00'
 WHERE product_id = 2 AND lang = 'fr';
"""
# resource -> keys sent because they changed (the boundary row of each stream comes on top)
SECOND_RUN_CHANGED = {
    "customers": {"2", "5"},
    "orders": {"1002"},
    "products": {"2|fr"},
}
SECOND_RUN_ITEMS: dict[tuple[str, str], Item] = {
    ("customers", "2"): {"first_name": "Louise", "is_opt_in": True, "updated_at": "2026-02-01T09:00:00.000Z"},
    ("customers", "5"): {
        "email": "nora@example.com",
        "first_name": "Nora",
        "last_name": "Lefèvre",
        "lang": "fr",
        "group_ids": ["1"],
        "gender": 0,
        "is_newsletter_subscribed": False,
        "created_at": "2026-02-01T09:30:00.000Z",
    },
    ("orders", "1002"): {"status_id": "5", "carrier_id": "1", "updated_at": "2026-02-01T10:00:00.000Z"},
    ("products", "2|fr"): {"price": 64.0, "quantity_remaining": 12, "is_active": True},
}


def boundary_keys() -> dict[str, set[str]]:
    """Per resource, the key of the row(s) holding the run-1 bookmark (tap-postgres re-sends them: >=)."""
    out: dict[str, set[str]] = {}
    for table, resource in RESOURCE_OF.items():
        rows = TABLES[table]
        latest = max(row["updated_at"] for row, _ in rows)
        out[resource] = {key_of(resource, item) for row, item in rows if row["updated_at"] == latest and item}
    return out
