"""Pure helpers of the HTTP client: base URL check, Retry-After, reading bulk answers, pacing."""

from __future__ import annotations

import email.utils

import pytest
from support import FakeTime

from target_shopimind import client, resources
from target_shopimind.client import (
    RateLimiter,
    check_base_url,
    error_message,
    error_strings,
    match_rejections,
    rejected_entries,
    retry_after_seconds,
)
from target_shopimind.mapping import Injected, ItemMapper

# --- base_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://core.shopimind.com",
        "https://core-staging.shopimind.com/",
        "http://localhost:8787",
        "http://LOCALHOST:8787",
        "http://127.0.0.1:8787",
        "http://127.10.20.30",
        "http://[::1]:8787",
        "HTTP://localhost",
    ],
)
def test_base_url_accepted(url: str) -> None:
    assert check_base_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://core.shopimind.com",
        "http://10.0.0.5:8787",
        "http://192.168.1.2",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://[::2]:8787",
        "http://0.0.0.0:8787",
    ],
)
def test_plain_http_refused_off_loopback(url: str) -> None:
    problem = check_base_url(url)
    assert problem == f"base_url '{url}' uses http:// on a non-loopback host; use https://"


@pytest.mark.parametrize("url", ["ftp://core.shopimind.com", "core.shopimind.com", "ws://localhost"])
def test_other_schemes_refused(url: str) -> None:
    assert check_base_url(url) == f"base_url '{url}' must start with https://"


def test_https_without_host_refused() -> None:
    assert check_base_url("https://") == "base_url 'https://' has no host"


# --- Retry-After ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0)])
def test_retry_after_seconds(value: str, expected: float) -> None:
    assert retry_after_seconds(value) == expected


def test_retry_after_http_date() -> None:
    header = "Wed, 21 Oct 2015 07:28:00 GMT"
    when = email.utils.parsedate_to_datetime(header).timestamp()
    assert retry_after_seconds(header, now=when - 30) == pytest.approx(30.0)
    assert retry_after_seconds(header, now=when + 30) == 0.0


def test_retry_after_http_date_uses_the_clock_by_default() -> None:
    # A date long past waits nothing.
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Wed, 99 Foo 2015"])
def test_retry_after_unreadable(value: str | None) -> None:
    assert retry_after_seconds(value) is None


@pytest.mark.parametrize("value", ["inf", "1e999"])
def test_retry_after_non_finite_is_unreadable(value: str) -> None:
    # RFC 9110 delta-seconds is 1*DIGIT; an infinite wait would crash time.sleep (OverflowError).
    assert retry_after_seconds(value) is None


# --- error strings -------------------------------------------------------------------------

NESTED = {
    "property": "products",
    "children": [
        {
            "property": "0",
            "children": [
                {
                    "property": "product_id",
                    "constraints": {"isInt": "must be an integer"},
                    "children": [],
                },
                {
                    "property": "quantity",
                    "constraints": {"isInt": "must be an integer", "min": "must not be less than 1"},
                },
            ],
        },
    ],
}


def test_error_strings_nestjs_nested_children() -> None:
    assert error_strings([NESTED]) == [
        "products.0.product_id: must be an integer",
        "products.0.quantity: must be an integer",
        "products.0.quantity: must not be less than 1",
    ]


def test_error_strings_nestjs_flat() -> None:
    errors = [
        {"property": "email", "constraints": {"isEmail": "email must be an email"}, "value": "x"},
        {"property": "lang", "constraints": {"isString": "lang must be a string"}},
    ]
    assert error_strings(errors) == ["email: email must be an email", "lang: lang must be a string"]


def test_error_strings_plain() -> None:
    assert error_strings("email must be an email") == ["email must be an email"]
    assert error_strings(["a", "b"]) == ["a", "b"]
    assert error_strings(None) == []
    assert error_strings([]) == []


def test_error_strings_field_message_objects() -> None:
    assert error_strings({"field": "email", "message": "invalid"}) == ["email: invalid"]
    assert error_strings({"path": "customer.email", "msg": "invalid"}) == ["customer.email: invalid"]
    assert error_strings({"email": "invalid", "lang": "required"}) == ["email: invalid", "lang: required"]


def test_error_strings_other_values() -> None:
    assert error_strings(42) == ["42"]


# --- rejected_items ------------------------------------------------------------------------


def test_rejected_entries() -> None:
    entries = [{"index": 0, "errors": ["x"]}]
    assert rejected_entries({"statusCode": 200, "sent_count": 1, "rejected_count": 1, "rejected_items": entries}) == (
        entries
    )
    assert rejected_entries({"data": {"rejected_items": entries}}) == entries
    assert rejected_entries({"statusCode": 200, "sent_count": 2, "rejected_count": 0, "rejected_items": []}) == []
    assert rejected_entries({"statusCode": 400, "message": "Bad Request"}) is None
    assert rejected_entries({"rejected_items": "none"}) is None
    assert rejected_entries([entries]) is None
    assert rejected_entries(None) is None


def key_of_customer(payload: dict) -> str:
    return str(payload.get("customer_id"))


def test_match_by_index() -> None:
    entries = [
        {"index": 1, "item": {"customer_id": "zzz"}, "errors": ["email: not a valid e-mail address"]},
        {"index": 0, "errors": "first_name: is required"},
    ]
    matched, unmatched = match_rejections(entries, ["a", "b", "c"], key_of_customer)
    assert matched == {1: ["email: not a valid e-mail address"], 0: ["first_name: is required"]}
    assert unmatched == []


def test_match_by_key_when_index_absent() -> None:
    entries = [
        {"payload": {"customer_id": "c"}, "errors": ["lang: must be a string"]},
        {"item": {"customer_id": "a"}, "message": "duplicate"},
    ]
    matched, unmatched = match_rejections(entries, ["a", "b", "c"], key_of_customer)
    assert matched == {2: ["lang: must be a string"], 0: ["duplicate"]}
    assert unmatched == []


def test_match_by_key_falls_back_when_index_out_of_range_or_not_int() -> None:
    entries = [
        {"index": 9, "data": {"customer_id": "b"}, "errors": ["x"]},
        {"index": True, "original": {"customer_id": "a"}, "errors": ["y"]},
    ]
    matched, unmatched = match_rejections(entries, ["a", "b"], key_of_customer)
    assert matched == {1: ["x"], 0: ["y"]}
    assert unmatched == []


def test_match_by_key_with_duplicate_keys_takes_successive_positions() -> None:
    entries = [{"item": {"customer_id": "a"}, "errors": ["one"]}, {"item": {"customer_id": "a"}, "errors": ["two"]}]
    matched, unmatched = match_rejections(entries, ["a", "b", "a"], key_of_customer)
    assert matched == {0: ["one"], 2: ["two"]}
    assert unmatched == []


def test_match_by_composite_key_with_the_mapper() -> None:
    mapper = ItemMapper(resources.BY_NAME["products"], ["id"], Injected())
    keys = ["42|fr", "42|en"]
    entries = [{"item": {"product_id": 42, "lang": "en", "name": "x"}, "errors": ["price: is required"]}]
    matched, unmatched = match_rejections(entries, keys, mapper.key_of)
    assert matched == {1: ["price: is required"]}
    assert unmatched == []


def test_unmatched_entries() -> None:
    entries = [
        {"index": 5, "errors": ["out of range"]},
        {"item": {"customer_id": "nobody"}, "errors": ["unknown key"]},
        "something went wrong",
        {"errors": []},
    ]
    matched, unmatched = match_rejections(entries, ["a", "b"], key_of_customer)
    assert matched == {}
    assert unmatched == [
        ["out of range"],
        ["unknown key"],
        ["something went wrong"],
        ["rejected by ShopiMind (no reason given)"],
    ]


def test_match_nestjs_errors_in_an_entry() -> None:
    matched, unmatched = match_rejections([{"index": 0, "errors": [NESTED]}], ["1042"], lambda p: "")
    assert matched == {
        0: [
            "products.0.product_id: must be an integer",
            "products.0.quantity: must be an integer",
            "products.0.quantity: must not be less than 1",
        ],
    }
    assert unmatched == []


def test_match_entry_that_is_itself_a_class_validator_error() -> None:
    entry = {"index": 0, "property": "email", "constraints": {"isEmail": "email must be an email"}}
    matched, _ = match_rejections([entry], ["a"], key_of_customer)
    assert matched == {0: ["email: email must be an email"]}


def test_error_message() -> None:
    body = {"statusCode": 401, "message": "Missing API key.", "error": "Unauthorized"}
    assert error_message(body, 401) == ["Missing API key."]
    body = {"statusCode": 400, "message": ["products.0.product_id must be an integer number"], "error": "Bad Request"}
    assert error_message(body, 400) == ["products.0.product_id must be an integer number"]
    assert error_message({"statusCode": 400, "error": "Bad Request"}, 400) == ["Bad Request"]
    assert error_message(None, 502) == ["HTTP 502"]
    assert error_message({"statusCode": 500}, 500) == ["HTTP 500"]


# --- RateLimiter ---------------------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(client.time, "sleep", fake.sleep)
    return fake


def test_rate_limiter_paces_evenly(fake: FakeTime) -> None:
    limiter = RateLimiter(600, clock=fake.clock)
    for _ in range(4):
        limiter.acquire()
    interval = client.WINDOW_SECONDS / 600
    assert fake.slept == pytest.approx([interval] * 3)
    assert interval > 0.1  # a little wider than 60 s / 600


def test_rate_limiter_never_exceeds_quota_in_a_window(fake: FakeTime) -> None:
    limiter = RateLimiter(30, clock=fake.clock)
    start = fake.now
    sent = []
    for _ in range(61):
        limiter.acquire()
        sent.append(fake.now)
    assert all(b - a >= 60.0 for a, b in zip(sent, sent[30:], strict=False))
    assert sent[-1] - start == pytest.approx(2 * client.WINDOW_SECONDS)


def test_rate_limiter_no_wait_when_idle(fake: FakeTime) -> None:
    limiter = RateLimiter(60, clock=fake.clock)
    limiter.acquire()
    fake.now += 5.0
    limiter.acquire()
    assert fake.slept == []


def test_rate_limiter_pause_holds_everyone_back(fake: FakeTime) -> None:
    limiter = RateLimiter(600, clock=fake.clock)
    limiter.acquire()
    limiter.pause(12.0)
    limiter.acquire()
    assert fake.slept == pytest.approx([12.0])
    limiter.pause(1.0)
    limiter.pause(0.5)  # a shorter pause does not shorten the longer one
    limiter.acquire()
    assert fake.slept == pytest.approx([12.0, 1.0])
