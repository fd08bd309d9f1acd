"""The demo's pipeline (`meltano run tap-spreadsheets target-shopimind` on demo/data), as scripts/demo.sh runs it."""

from __future__ import annotations

import typing as t
from pathlib import Path

from target_shopimind.resources import RESOURCES
from target_shopimind.sandbox import Sandbox

from .e2e_support import log_events, target_env

if t.TYPE_CHECKING:
    from .e2e_support import Meltano

ROOT = Path(__file__).resolve().parents[2]
STATE_ID = "dev:tap-spreadsheets-to-target-shopimind"
# What scripts/demo.sh adds to the project's config: the demo's child streams.
DEMO_ENV = {"TARGET_SHOPIMIND_CHILD_STREAMS": (ROOT / "demo" / "child_streams.json").read_text()}
# Files whose rows go into their parents (child_streams): order lines and group memberships.
CHILD_FILES = 2
# demo/data: rows per resource, and the one row invalid on purpose.
EXPECTED = {
    "customers_groups": 3,
    "orders_statuses": 4,
    "orders_carriers": 3,
    "products_categories": 3,
    "products_manufacturers": 2,
    "products": 4,
    "products_images": 4,
    "products_variations": 3,
    "customers": 4,
    "customers_addresses": 3,
    "orders": 3,
    "vouchers": 3,
    "newsletter_subscribers": 3,
    # demo/data/loyalty_accounts.csv, through custom_data
    "custom:Loyalty accounts": 3,
}


def test_demo_loads_every_resource_then_runs_incrementally(meltano: Meltano, tmp_path: Path) -> None:
    meltano("install", "tap-spreadsheets", "target-shopimind")
    with Sandbox(port=0) as sandbox:
        env = {**target_env(sandbox.url, tmp_path / "rejected.jsonl"), **DEMO_ENV}
        first = meltano("--log-format=json", "run", "tap-spreadsheets", "target-shopimind", extra_env=env)
        assert sandbox.stats()["items"] == EXPECTED
        assert len(EXPECTED) == len(RESOURCES) + 1
        report = meltano.state(STATE_ID)["singer_state"]["target_shopimind"]
        assert report["rejected_count"] == {"newsletter_subscribers": 1}
        assert report["rejected"][0]["key"] == "not-an-email"

        # The stream maps turned the shop's column names into ShopiMind fields.
        customer = next(c for c in sandbox.items("customers") if c["customer_id"] == "1")
        assert customer["first_name"] == "Camille"
        assert customer["lang"] == "fr"
        assert customer["group_ids"] == ["2", "3"]
        assert customer["is_newsletter_subscribed"] is True
        order = next(o for o in sandbox.items("orders") if o["order_id"] == "1001")
        assert order["customer"] == {
            "customer_id": "1",
            "email": "camille.martin@example.com",
            "created_at": "2025-01-05T10:00:00.000Z",
        }
        # Assembled by child_streams from order_lines.csv and customer_group.csv.
        assert order["products"] == [
            {"product_id": 1, "product_variation_id": 102, "price": 19.9, "price_without_tax": 16.58, "quantity": 2},
            {"product_id": 3, "product_variation_id": None, "price": 12.5, "price_without_tax": 10.42, "quantity": 1},
        ]
        [definition] = sandbox.items("custom_data_definitions")
        assert definition["name"] == "Loyalty accounts"
        assert definition["unique_keys"] == ["account_id"]
        assert {f["name"]: f["type"] for f in definition["fields"]} == {
            "account_id": "text",
            "email": "text",
            "points": "number",
            "tier": "text",
            "opened_at": "text",
        }
        assert sandbox.items("custom:Loyalty accounts")[0] == {
            "account_id": "LA-1",
            "email": {"by": "email", "value": "camille.martin@example.com"},
            "points": 1250,
            "tier": "gold",
            "opened_at": "2025-01-05 10:00:00",
        }
        assert {c["customer_id"]: c["group_ids"] for c in sandbox.items("customers")} == {
            "1": ["2", "3"],
            "2": ["2"],
            "3": ["2"],
            "4": ["1"],
        }
        address = next(a for a in sandbox.items("customers_addresses") if a["address_id"] == 21)
        assert address["postal_code"] == "06000"
        assert address["address_line_2"] is None
        requests_after_first = sandbox.stats()["requests"]

        second = meltano("--log-format=json", "run", "tap-spreadsheets", "target-shopimind", extra_env=env)
        skipped = [e for e in log_events(second.stdout + second.stderr, "tap-spreadsheets") if "<= bookmark=" in e]
        assert len(skipped) == len(EXPECTED) + CHILD_FILES, skipped
        assert sandbox.stats()["requests"] == requests_after_first  # nothing re-sent
        totals = [e for e in log_events(first.stdout + first.stderr, "target-shopimind") if "total:" in e]
        # 46 rows of the resources' and the custom data's own files + 4 order lines + 5 memberships.
        assert "received 55, sent 45, rejected 1" in totals[-1]
