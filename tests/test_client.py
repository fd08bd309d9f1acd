"""`ApiClient` on its own: which answers are retried, Retry-After, time budget, deadlines, the key.

Most answers come from `httpx.MockTransport` with a fake clock and sleep (no waiting); the
answer that drips bytes comes from the sandbox over real HTTP.
"""

from __future__ import annotations

import email.utils
import typing as t

import httpx
import pytest
from support import API_KEY, FakeTime, customer

from target_shopimind.answers import unaccounted
from target_shopimind.client import MAX_THROTTLED_SECONDS, ApiClient, RateLimiter
from target_shopimind.errors import TargetError
from target_shopimind.mapping import Injected, ItemMapper, dumps
from target_shopimind.resources import BY_NAME
from target_shopimind.sandbox import Sandbox
from target_shopimind.stopping import Stop

if t.TYPE_CHECKING:
    from collections.abc import Callable

OK_BODY = {"statusCode": 200, "sent_count": 1, "rejected_count": 0, "rejected_items": []}


class Attempts:
    def __init__(self) -> None:
        self.seen: list[tuple[int | None, bool]] = []

    def on_attempt(self, resource: str, status: int | None, *, retry: bool) -> None:
        self.seen.append((status, retry))


class Script:
    """Answers in order (a Response, or an exception to raise); the last one repeats."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    fake: FakeTime,
    **options: t.Any,
) -> tuple[ApiClient, Attempts]:
    attempts = Attempts()
    client = ApiClient(
        base_url="https://api.example.test",
        api_key=API_KEY,
        limiter=RateLimiter(100_000, clock=fake.clock, sleep=fake.sleep),
        attempts=attempts,
        transport=httpx.MockTransport(handler),
        clock=fake.clock,
        sleep=fake.sleep,
        jitter=lambda value: value,  # the top of each backoff range: waits are predictable
        **options,
    )
    return client, attempts


def answer(status: int, body: t.Any = None, **headers: str) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=OK_BODY if body is None else body, headers=headers)


def post(client: ApiClient, count: int = 1) -> tuple[int, t.Any]:
    return client.post("/v1/customers", b"[]", "customers", unaccounted=lambda body: unaccounted(body, count))


# --- which answers are retried ---------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_status_is_retried_then_answered(status: int) -> None:
    fake = FakeTime()
    client, attempts = make_client(Script(answer(status, {"statusCode": status}), answer(200)), fake)
    assert post(client) == (200, OK_BODY)
    assert attempts.seen == [(status, False), (200, True)]
    assert fake.slept == [0.5]  # the first backoff wait (0.25 to 0.5 s, at its top here)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_other_4xx_is_answered_at_once(status: int) -> None:
    fake = FakeTime()
    script = Script(answer(status, {"statusCode": status, "message": "no"}))
    client, _ = make_client(script, fake)
    assert post(client) == (status, {"statusCode": status, "message": "no"})
    assert len(script.requests) == 1
    assert fake.slept == []


def test_backoff_grows_and_max_retries_bounds_the_attempts() -> None:
    fake = FakeTime()
    script = Script(answer(500, {}))
    client, _ = make_client(script, fake, max_retries=5, max_retry_seconds=10_000)
    with pytest.raises(TargetError, match=r"giving up after 6 attempts"):
        post(client)
    assert len(script.requests) == 6
    assert fake.slept == [0.5, 2.0, 8.0, 32.0, 120.0]  # capped exponential


def test_max_retry_seconds_bounds_the_time() -> None:
    fake = FakeTime()
    script = Script(answer(503, {}))
    client, _ = make_client(script, fake, max_retries=1000, max_retry_seconds=300)
    with pytest.raises(TargetError, match=r"giving up after \d+ attempts in \d+ s"):
        post(client)
    assert sum(fake.slept) <= 300
    assert sum(fake.slept) + 120 > 300  # it used the budget, not less
    assert len(script.requests) == len(fake.slept) + 1


def test_a_server_that_recovers_within_the_budget_is_ridden_through() -> None:
    fake = FakeTime()
    outage = [answer(503, {}) for _ in range(5)]
    script = Script(*outage, answer(200))
    client, _ = make_client(script, fake)  # the defaults: 5 retries, 300 s
    assert post(client) == (200, OK_BODY)
    assert sum(fake.slept) > 120  # an outage of more than two minutes


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("closed"),
    ],
)
def test_network_errors_are_retried(exc: Exception) -> None:
    fake = FakeTime()
    client, attempts = make_client(Script(exc, answer(200)), fake)
    assert post(client) == (200, OK_BODY)
    assert attempts.seen == [(None, False), (200, True)]


def test_network_errors_give_up_naming_the_error() -> None:
    fake = FakeTime()
    client, _ = make_client(Script(httpx.ReadTimeout("timed out")), fake, max_retries=2)
    with pytest.raises(TargetError, match=r"giving up after 3 attempts .*ReadTimeout"):
        post(client)


# --- Retry-After ---------------------------------------------------------------------------


def test_429_retry_after_seconds_is_waited_without_using_a_retry() -> None:
    fake = FakeTime()
    script = Script(answer(429, {}, **{"Retry-After": "7"}), answer(429, {}, **{"Retry-After": "3"}), answer(200))
    client, _ = make_client(script, fake, max_retries=0)
    assert post(client) == (200, OK_BODY)
    assert fake.slept == [7.0, 3.0]  # the limiter's pause: every sender waits


def test_429_retry_after_http_date_is_waited() -> None:
    fake = FakeTime()
    when = email.utils.formatdate(__import__("time").time() + 30, usegmt=True)
    script = Script(answer(429, {}, **{"Retry-After": when}), answer(200))
    client, _ = make_client(script, fake, max_retries=0)
    assert post(client) == (200, OK_BODY)
    assert len(fake.slept) == 1
    assert 25 <= fake.slept[0] <= 31


@pytest.mark.parametrize(
    ("status", "header"),
    [
        (503, "100000"),
        (429, "1000"),
        (429, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (503, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (429, "1e300"),
    ],
)
def test_a_server_wait_past_the_cap_stops_at_once(status: int, header: str) -> None:
    fake = FakeTime()
    script = Script(answer(status, {}, **{"Retry-After": header}))
    client, _ = make_client(script, fake, max_retries=10)
    with pytest.raises(TargetError) as caught:
        post(client)
    assert len(script.requests) == 1
    assert fake.slept == []
    message = str(caught.value)
    assert "\n" not in message
    assert header in message
    assert f"{MAX_THROTTLED_SECONDS:.0f} s" in message


def test_429_waits_add_up_to_the_cap_at_most() -> None:
    fake = FakeTime()
    script = Script(answer(429, {}, **{"Retry-After": "400"}))
    client, _ = make_client(script, fake, max_retries=0)
    with pytest.raises(TargetError, match="Retry-After"):
        post(client)
    assert fake.slept == [400.0, 400.0]  # a third 400 s would pass 900 s
    assert sum(fake.slept) <= MAX_THROTTLED_SECONDS


def test_503_retry_after_sets_the_wait_and_counts_a_retry() -> None:
    fake = FakeTime()
    script = Script(answer(503, {}, **{"Retry-After": "12"}), answer(200))
    client, attempts = make_client(script, fake, max_retries=1)
    assert post(client) == (200, OK_BODY)
    assert attempts.seen == [(503, False), (200, True)]
    assert 12.0 in fake.slept


# --- a 200 that does not account for the items ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>Maintenance</body></html>",
        {},
        {"statusCode": 200, "rejected_items": {}},
        {"statusCode": 200, "sent_count": 0, "rejected_count": 1},
        {"statusCode": 200, "sent_count": 0, "rejected_count": 1, "rejected_items": []},
        {"statusCode": 200, "sent_count": 5, "rejected_count": 0, "rejected_items": []},
        [1, 2, 3],
    ],
)
def test_a_200_that_does_not_account_for_the_items_is_retried_then_stops(body: t.Any) -> None:
    fake = FakeTime()
    script = Script(answer(200, body))
    client, _ = make_client(script, fake, max_retries=2)
    with pytest.raises(TargetError, match="does not account for the items"):
        post(client, count=2)
    assert len(script.requests) == 3


def test_a_200_that_accounts_for_the_items_is_accepted() -> None:
    fake = FakeTime()
    body = {"statusCode": 200, "sent_count": 1, "rejected_count": 1, "rejected_items": [{"index": 1}]}
    client, _ = make_client(Script(answer(200, body)), fake)
    assert post(client, count=2) == (200, body)


# --- stop signals --------------------------------------------------------------------------


def test_no_retry_after_a_stop_signal() -> None:
    fake = FakeTime()
    stop = Stop(clock=fake.clock)
    script = Script(answer(500, {}))
    client, _ = make_client(script, fake, stop=stop)
    stop.request(15)
    with pytest.raises(TargetError, match="stopped by a signal"):
        post(client)
    assert len(script.requests) == 1
    assert fake.slept == []


def test_the_default_retry_wait_ends_at_a_stop_signal() -> None:
    stop = Stop()
    script = Script(answer(503, {}, **{"Retry-After": "600"}))
    calls: list[float] = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        stop.request(15)  # the signal comes while the sender waits
        assert stop.sleep(seconds) is False  # the real sleep returns at once

    fake = FakeTime()
    attempts = Attempts()
    client = ApiClient(
        base_url="https://api.example.test",
        api_key=API_KEY,
        limiter=RateLimiter(100_000),
        attempts=attempts,
        transport=httpx.MockTransport(script),
        stop=stop,
        sleep=sleep,
        clock=fake.clock,
        max_retry_seconds=1000,
    )
    with pytest.raises(TargetError, match="stopped by a signal"):
        post(client)
    assert calls == [600.0]
    assert len(script.requests) == 1


# --- the key ---------------------------------------------------------------------------------


def test_no_exception_text_carries_the_key() -> None:
    fake = FakeTime()
    leaky = httpx.LocalProtocolError(f"Illegal header value b'{API_KEY}\\r\\n'")
    client, _ = make_client(Script(leaky), fake, max_retries=1)
    with pytest.raises(TargetError) as caught:
        post(client)
    assert API_KEY not in str(caught.value)
    assert "LocalProtocolError" in str(caught.value)
    assert caught.value.__cause__ is None or API_KEY not in str(caught.value.__cause__)


def test_the_key_goes_in_its_header_only() -> None:
    fake = FakeTime()
    script = Script(answer(200))
    client, _ = make_client(script, fake)
    post(client)
    request = script.requests[0]
    assert request.headers["spm-api-key"] == API_KEY
    assert API_KEY not in str(request.url)


@pytest.mark.parametrize(("status", "setting"), [(401, "api_key"), (403, "api_key"), (404, "base_url")])
def test_check_key_names_the_setting(status: int, setting: str) -> None:
    fake = FakeTime()
    client, _ = make_client(Script(answer(status, {"statusCode": status})), fake)
    with pytest.raises(TargetError, match=f"check the {setting} setting") as caught:
        client.check_key()
    assert API_KEY not in str(caught.value)


def test_check_key_unreachable_names_the_setting() -> None:
    fake = FakeTime()
    client, _ = make_client(Script(httpx.ConnectError(f"no route for {API_KEY}")), fake)
    with pytest.raises(TargetError, match="check the base_url setting") as caught:
        client.check_key()
    assert API_KEY not in str(caught.value)


# --- a whole attempt within request_timeout, over real HTTP --------------------------------


def test_an_answer_that_drips_bytes_times_out_as_a_whole() -> None:
    # The dripping answer takes about 30 s (one byte every 0.4 s); each read is far shorter
    # than request_timeout (1 s), so only a deadline on the whole attempt ends it.
    with Sandbox(port=0, drip_seconds=0.4) as server:
        server.script_faults(["drip"])
        attempts = Attempts()
        client = ApiClient(
            base_url=server.url,
            api_key=API_KEY,
            limiter=RateLimiter(100_000),
            attempts=attempts,
            timeout=1.0,
            max_retries=2,
        )
        try:
            item = ItemMapper(BY_NAME["customers"], ["id"], Injected()).map(customer(1))[0]
            body = b"[" + dumps(item) + b"]"
            status, answer_body = client.post("/v1/customers", body, "customers")
        finally:
            client.close()
        statuses = [entry["status"] for entry in server.requests]
    assert status == 200
    assert answer_body["sent_count"] == 1
    assert attempts.seen == [(None, False), (200, True)]  # the dripping attempt was cut short
    assert statuses == [200, 200]
