"""The sandbox over real HTTP: envelopes, validation, limits, quota, faults and the request log."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from target_shopimind.resources import BY_NAME
from target_shopimind.sandbox import DEFAULT_API_KEY, Sandbox, nestjs_errors

TS = "2026-05-07T08:00:00.000Z"


def customer(cid: str, **over: object) -> dict:
    item = {
        "customer_id": cid,
        "email": f"{cid.lower()}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "is_newsletter_subscribed": False,
        "lang": "fr",
        "created_at": TS,
        "updated_at": TS,
    }
    item.update(over)
    return item


def address(cid: str, aid: int, **over: object) -> dict:
    item = {
        "customer_id": cid,
        "address_id": aid,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address_line_1": "1 rue de la Paix",
        "postal_code": "75002",
        "city": "Paris",
        "country": "FR",
        "is_active": True,
    }
    item.update(over)
    return item


def order(oid: str, **over: object) -> dict:
    item = {
        "order_id": oid,
        "lang": "fr",
        "status_id": "2",
        "customer": {"customer_id": "C1", "email": "c1@example.com", "created_at": TS},
        "products": [{"product_id": 7, "price": 10.0, "price_without_tax": 8.33, "quantity": 1}],
        "cart_id": "K1",
        "cart_updated_at": TS,
        "amount": 10.0,
        "amount_without_tax": 8.33,
        "shipping_costs": 0,
        "shipping_costs_without_tax": 0,
        "currency": "EUR",
        "is_confirmed": True,
        "created_at": TS,
        "updated_at": TS,
    }
    item.update(over)
    return item


@pytest.fixture
def sandbox():
    with Sandbox(port=0) as sb:
        yield sb


@pytest.fixture
def client(sandbox):
    with httpx.Client(base_url=sandbox.url, headers={"spm-api-key": sandbox.api_key}, timeout=5) as c:
        yield c


def test_auth_required_on_v1_but_not_on_control_endpoints(sandbox, client):
    missing = httpx.post(f"{sandbox.url}/v1/customers", json=[customer("C1")])
    assert missing.status_code == 401
    assert missing.json() == {"statusCode": 401, "message": "Missing API key.", "error": "Unauthorized"}
    wrong = httpx.post(f"{sandbox.url}/v1/customers", json=[customer("C1")], headers={"spm-api-key": "x" * 24})
    assert wrong.status_code == 401
    assert wrong.json()["message"] == "Invalid API key."
    assert sandbox.items("customers") == []
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["by_status"] == {"401": 2}
    assert sandbox.api_key == DEFAULT_API_KEY


def test_upsert_replaces_by_key_and_lists(sandbox, client):
    r = client.post("/v1/customers", json=[customer("C1"), customer("C2")])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"statusCode": 200, "sent_count": 2, "rejected_count": 0, "rejected_items": []}
    # Upsert: same key replaces; unknown fields and label_source are tolerated.
    r = client.post("/v1/customers", json=[customer("C1", first_name="Grace", label_source="web", extra=1)])
    assert r.json()["sent_count"] == 1
    stored = sandbox.items("customers")
    assert [c["customer_id"] for c in stored] == ["C1", "C2"]
    assert stored[0]["first_name"] == "Grace"

    page = client.get("/v1/customers", params={"limit": 1, "offset": 1}).json()
    assert page["statusCode"] == 200
    assert [c["customer_id"] for c in page["data"]] == ["C2"]
    pagination = page["meta"]["pagination"]
    assert pagination["total_items"] == 2
    assert pagination["current_page"] == 2
    assert pagination["has_previous_page"] is True
    assert pagination["has_next_page"] is False
    assert page["meta"]["generated_at"].endswith("Z")
    assert len(client.get("/v1/customers").json()["data"]) == 2
    assert httpx.get(f"{sandbox.url}/_sandbox/items/customers").json() == stored


def test_large_list_limit_and_carts(sandbox, client):
    for start in range(0, 120, 50):
        client.post("/v1/customers", json=[customer(f"C{i}") for i in range(start, min(start + 50, 120))])
    assert len(client.get("/v1/customers").json()["data"]) == 10
    assert len(client.get("/v1/customers", params={"limit": 10000}).json()["data"]) == 120
    carts = client.get("/v1/carts")
    assert carts.status_code == 200
    assert carts.json()["data"] == []
    assert client.post("/v1/carts", json=[{"cart_id": "K1"}]).status_code == 404


def test_partial_rejection_reports_index_item_and_errors(sandbox, client):
    bad = customer("C2", email="nope")
    r = client.post("/v1/customers", json=[customer("C1"), bad, "not an object"])
    assert r.status_code == 200
    body = r.json()
    assert (body["sent_count"], body["rejected_count"]) == (1, 2)
    assert body["rejected_items"][0] == {"index": 1, "item": bad, "errors": ["email: not a valid e-mail address"]}
    assert body["rejected_items"][1]["index"] == 2
    assert [c["customer_id"] for c in sandbox.items("customers")] == ["C1"]


def test_no_index_style_echoes_item_only():
    with Sandbox(port=0, index=False) as sb:
        bad = customer("C2", lang="french")
        r = httpx.post(f"{sb.url}/v1/customers", json=[customer("C1"), bad], headers={"spm-api-key": sb.api_key})
    entry = r.json()["rejected_items"][0]
    assert "index" not in entry
    assert entry["item"] == bad
    assert entry["errors"] == ["lang: must be an ISO 639-1 code such as 'fr'"]


def test_nestjs_error_style_nests_dotted_fields():
    with Sandbox(port=0, error_style="nestjs") as sb:
        bad = order("O2", products=[{"product_id": "x", "price": 1, "price_without_tax": 1, "quantity": 1}])
        bad["customer"] = {"customer_id": "C1", "email": "bad", "created_at": TS}
        r = httpx.post(f"{sb.url}/v1/orders", json=[order("O1"), bad], headers={"spm-api-key": sb.api_key})
    errors = r.json()["rejected_items"][0]["errors"]
    by_property = {e["property"]: e for e in errors}
    assert by_property["customer"]["children"] == [
        {"property": "email", "children": [], "constraints": {"isValid": "not a valid e-mail address"}},
    ]
    line = by_property["products"]["children"][0]
    assert line["property"] == "0"
    assert line["children"] == [
        {"property": "product_id", "children": [], "constraints": {"isInt": "must be an integer"}},
    ]


def test_nestjs_errors_merge_siblings():
    tree = nestjs_errors(["products.0.product_id: must be an integer", "products.0.quantity: is required", "x: y"])
    assert len(tree) == 2
    assert [c["property"] for c in tree[0]["children"][0]["children"]] == ["product_id", "quantity"]
    assert tree[1] == {"property": "x", "children": [], "constraints": {"isValid": "y"}}


def test_all_invalid_is_400_without_then_with_items(client):
    r = client.post("/v1/customers", json=[customer("C1", email=None)])
    assert r.status_code == 400
    assert r.json() == {"statusCode": 400, "message": "All items are invalid", "error": "Bad Request"}
    assert client.post("/v1/customers", json=[]).json()["sent_count"] == 0

    with Sandbox(port=0, reject_400_with_items=True) as sb:
        r = httpx.post(f"{sb.url}/v1/customers", json=[{"email": "a@b.co"}], headers={"spm-api-key": sb.api_key})
    assert r.status_code == 400
    assert r.json()["rejected_items"][0]["index"] == 0


def test_malformed_batches_are_400(client):
    r = client.post("/v1/customers", json=[customer(f"C{i}") for i in range(51)])
    assert r.status_code == 400
    assert "50" in r.json()["message"]
    assert client.post("/v1/customers-groups", json=[{"group_id": str(i)} for i in range(101)]).status_code == 400
    assert client.post("/v1/customers", json=customer("C1")).status_code == 400
    assert client.post("/v1/customers", content=b"[{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/v1/nope", json=[]).status_code == 404


def test_body_over_25_mib_is_413(client):
    payload = b"[" + b" " * (25 * 1024 * 1024) + b"]"
    r = client.post("/v1/customers", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_bulk_delete_and_per_parent_delete(sandbox, client):
    client.post("/v1/customers", json=[customer("C1"), customer("C2"), customer("3")])
    r = client.post("/v1/customers/bulk-delete", json={"customer_ids": ["C1", "unknown", 3], "label_source": "web"})
    assert r.json() == {"statusCode": 200, "sent_count": 3, "rejected_count": 0, "rejected_items": []}
    assert [c["customer_id"] for c in sandbox.items("customers")] == ["C2"]
    assert client.post("/v1/customers/bulk-delete", json={"customer_ids": list(range(21))}).status_code == 400
    assert client.post("/v1/customers/bulk-delete", json=["C2"]).status_code == 400
    assert client.post("/v1/customers/bulk-delete", json={"ids": ["C2"]}).status_code == 400

    client.post("/v1/customers/addresses/bulk", json=[address("C1", 1), address("C2", 1), address("C1", 2)])
    r = client.post("/v1/customers/C1/addresses/bulk-delete", json={"address_ids": [1]})
    assert r.status_code == 200
    assert [(a["customer_id"], a["address_id"]) for a in sandbox.items("customers_addresses")] == [("C2", 1), ("C1", 2)]
    log = sandbox.requests[-1]
    assert (log["resource"], log["keys"], log["items"]) == ("customers_addresses", ["C1|1"], 1)
    # No bulk delete for newsletter subscribers.
    assert BY_NAME["newsletter_subscribers"].delete_path is None


def test_quota_429_with_retry_after():
    with Sandbox(port=0, quota=3) as sb:
        httpx.get(f"{sb.url}/v1/customers")  # 401: does not count
        with httpx.Client(base_url=sb.url, headers={"spm-api-key": sb.api_key}) as c:
            statuses = [c.get("/v1/customers").status_code for _ in range(3)]
            limited = c.post("/v1/customers", json=[customer("C1")])
            assert c.get("/_sandbox/stats").status_code == 200  # free
            again = c.get("/v1/customers")
        assert statuses == [200, 200, 200]
        assert limited.status_code == 429
        assert limited.json() == {"statusCode": 429, "message": "Too Many Requests", "error": "Too Many Requests"}
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert again.status_code == 429
        assert sb.items("customers") == []
        assert sb.stats()["by_status"] == {"401": 1, "200": 3, "429": 2}


def test_quota_window_slides():
    with (
        Sandbox(port=0, quota=2, window_seconds=0.3) as sb,
        httpx.Client(base_url=sb.url, headers={"spm-api-key": sb.api_key}) as c,
    ):
        assert [c.get("/v1/orders").status_code for _ in range(3)] == [200, 200, 429]
        time.sleep(0.35)
        assert c.get("/v1/orders").status_code == 200


def test_scripted_faults_in_order_then_back_to_rates():
    with (
        Sandbox(port=0, retry_after=2, slow_seconds=0.5) as sb,
        httpx.Client(base_url=sb.url, headers={"spm-api-key": sb.api_key}, timeout=2) as c,
    ):
        sb.script_faults(["500", "503", "drop", "applied500", "ok"])
        r = c.post("/v1/customers", json=[customer("C1")])
        assert r.status_code == 500
        assert r.json() == {"statusCode": 500, "message": "Internal server error", "error": "Internal Server Error"}
        assert sb.items("customers") == []
        r = c.post("/v1/customers", json=[customer("C1")])
        assert (r.status_code, r.headers["retry-after"]) == (503, "2")
        with pytest.raises(httpx.TransportError):
            c.post("/v1/customers", json=[customer("C1")])
        assert sb.items("customers") == []
        r = c.post("/v1/customers", json=[customer("C2")])
        assert r.status_code == 500
        assert [x["customer_id"] for x in sb.items("customers")] == ["C2"]
        assert c.post("/v1/customers", json=[customer("C3")]).status_code == 200
        assert c.post("/v1/customers", json=[customer("C4")]).status_code == 200  # script used up
        assert [e["fault"] for e in sb.requests] == ["500", "503", "drop", "applied500", "ok", "ok"]
        assert sb.stats()["by_status"] == {"500": 2, "503": 1, "0": 1, "200": 2}

        # Faults hit writes and deletes only, not reads.
        sb.script_faults(["500"])
        assert c.get("/v1/customers").status_code == 200
        assert c.post("/v1/customers/bulk-delete", json={"customer_ids": ["C2"]}).status_code == 500


def test_slow_fault_times_out_the_client_then_applies(sandbox):
    sandbox.set_rates(slow_seconds=0.5)
    sandbox.script_faults(["slow"])
    with httpx.Client(base_url=sandbox.url, headers={"spm-api-key": sandbox.api_key}, timeout=0.15) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/customers", json=[customer("C1")])
        deadline = time.monotonic() + 3
        while not sandbox.items("customers") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [x["customer_id"] for x in sandbox.items("customers")] == ["C1"]
    assert sandbox.requests[-1]["fault"] == "slow"


def test_random_rates_are_seeded_and_reset(sandbox, client):
    sandbox.set_rates(fail_500_rate=1.0)
    assert client.post("/v1/customers", json=[customer("C1")]).status_code == 500
    sandbox.set_rates(**{"500": 0, "503": 1})
    assert client.post("/v1/customers", json=[customer("C1")]).status_code == 503
    with pytest.raises(ValueError, match="more than 1"):
        sandbox.set_rates(drop_rate=0.5)
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.script_faults(["boom"])
    sandbox.reset()
    assert client.post("/v1/customers", json=[customer("C1")]).status_code == 200
    assert sandbox.stats()["requests"] == 1

    def outcomes(seed: int) -> list[str]:
        with Sandbox(port=0, seed=seed, fail_500_rate=0.3, drop_rate=0.2) as sb:
            return [sb.faults.next() for _ in range(30)]

    assert outcomes(7) == outcomes(7)
    assert set(outcomes(7)) == {"ok", "500", "drop"}


def test_control_endpoints_over_http(sandbox, client):
    with httpx.Client(base_url=sandbox.url) as control:
        r = control.post("/_sandbox/faults", json={"script": ["503"], "rates": {"fail_500_rate": 0}})
        assert r.status_code == 200
        assert r.json()["script"] == ["503"]
        assert client.post("/v1/customers", json=[customer("C1")]).status_code == 503
        assert control.post("/_sandbox/faults", json={"script": ["nope"]}).status_code == 400
        client.post("/v1/customers", json=[customer("C1")])
        assert control.get("/_sandbox/items/customers").json()[0]["customer_id"] == "C1"
        assert control.get("/_sandbox/items/nope").status_code == 404
        assert [e["status"] for e in control.get("/_sandbox/requests").json()] == [503, 200]
        assert control.post("/_sandbox/reset").status_code == 200
        assert control.get("/_sandbox/stats").json()["items"]["customers"] == 0
        assert sandbox.requests == []


def test_request_log_keys_and_timing(sandbox, client):
    bad = [{"product_id": 5, "lang": "fr", "price": "x"}, {"product_id": 5, "lang": "en", "price": "y"}]
    client.post("/v1/products", json=bad)
    client.post("/v1/customers/addresses/bulk", json=[address("C1", 9)])
    client.post("/v1/products/5/images/bulk-delete", json={"image_ids": ["i1", "i2"]})
    products, addresses, images = sandbox.requests
    assert (products["method"], products["path"], products["resource"]) == ("POST", "/v1/products", "products")
    assert products["status"] == 400  # both invalid: still logged with their keys
    assert products["keys"] == ["5|fr", "5|en"]
    assert products["conflict_keys"] == ["5", "5"]
    assert products["items"] == 2
    assert addresses["keys"] == ["C1|9"]
    assert addresses["conflict_keys"] == ["C1|9"]
    assert images["keys"] == ["5|i1", "5|i2"]
    for entry in sandbox.requests:
        assert entry["started"] <= entry["ended"]
    assert products["ended"] <= addresses["started"]


def test_concurrency_latency_and_stats():
    with Sandbox(port=0, latency_ms=200) as sb:

        def post(i: int) -> int:
            return httpx.post(
                f"{sb.url}/v1/customers", json=[customer(f"C{i}")], headers={"spm-api-key": sb.api_key}
            ).status_code

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            statuses = list(pool.map(post, range(10)))
        elapsed = time.monotonic() - started
        stats = sb.stats()
    assert statuses == [200] * 10
    assert elapsed < 1.5  # served in parallel, not 10 x 200 ms
    assert stats["items"]["customers"] == 10
    assert stats["requests"] == 10
    assert stats["by_status"] == {"200": 10}
    assert stats["max_in_flight"] >= 2
    assert stats["in_flight"] == 0


def test_keep_alive_reuses_one_connection(sandbox, client):
    for i in range(3):
        assert client.post("/v1/customers", json=[customer(f"C{i}")]).http_version == "HTTP/1.1"
    assert len(sandbox._connections) == 1


def test_non_loopback_host_refused():
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


def test_state_file_round_trip(tmp_path):
    state = tmp_path / "state.json"
    with Sandbox(port=0, state_file=state) as sb:
        httpx.post(f"{sb.url}/v1/customers", json=[customer("C1")], headers={"spm-api-key": sb.api_key})
    assert json.loads(state.read_text())["counts"]["customers"] == 1
    with Sandbox(port=0, state_file=state) as sb:
        httpx.post(f"{sb.url}/v1/customers", json=[customer("C2")], headers={"spm-api-key": sb.api_key})
        assert [c["customer_id"] for c in sb.items("customers")] == ["C1", "C2"]


def test_cli_prints_url_serves_and_stops_on_sigterm(tmp_path):
    state = tmp_path / "state.json"
    with subprocess.Popen(
        [sys.executable, "-m", "target_shopimind.sandbox", "--port", "0", "--quiet", "--state-file", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("shopimind-sandbox listening on http://127.0.0.1:")
            assert line.endswith(f"(api key: {DEFAULT_API_KEY})")
            url = line.split(" on ", 1)[1].split(" ", 1)[0]
            r = httpx.post(f"{url}/v1/customers", json=[customer("C1")], headers={"spm-api-key": DEFAULT_API_KEY})
            assert r.status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
    assert json.loads(state.read_text())["counts"]["customers"] == 1

    refused = subprocess.run(
        [sys.executable, "-m", "target_shopimind.sandbox", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert refused.returncode != 0
    assert "loopback" in refused.stderr
