"""ShopiMind HTTP client: quota pacing, retries within a time budget, a deadline per attempt.

One limiter paces every request of the process (retries included) so the target stays
inside the per-key quota instead of discovering it through 429s. One `httpx.Client` (it is
thread-safe) serves every sender thread. Every wait (pacing, backoff, Retry-After) can be cut
short by a stop signal, and every wait the server asks for is capped.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import ipaddress
import logging
import math
import threading
import time
import typing as t
import urllib.parse

import backoff
import httpcore
import httpx

from target_shopimind.answers import (  # noqa: F401 - still importable from here
    error_message,
    error_strings,
    match_rejections,
    rejected_entries,
)
from target_shopimind.compat import override
from target_shopimind.errors import TargetError
from target_shopimind.stopping import Stop

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

logger = logging.getLogger("target-shopimind.client")
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Waits the server asks for (Retry-After, 429 or 503) add up to at most this per request; a
# longer one stops the run at once rather than hold it for hours.
MAX_THROTTLED_SECONDS = 900.0
# Backoff between retries without Retry-After: 0.5, 2, 8, 32, then 120 s; each wait is drawn
# between half and all of that, so the default 5 retries ride through about 1.5 to 3 minutes.
BACKOFF_FIRST = 0.5
BACKOFF_FACTOR = 4
BACKOFF_CAP = 120.0
DEFAULT_MAX_RETRY_SECONDS = 300.0
# Requests are spread a little wider than 60 s / quota so jitter on the wire never
# puts quota + 1 requests into one server-side minute.
WINDOW_SECONDS = 60.5
# Transport errors whose text is their own (no request line or header in it).
_PLAIN_TEXT_ERRORS = (httpx.TimeoutException, httpx.ConnectError)


def check_base_url(url: str) -> str | None:
    """Why `url` is refused, or None: plain http is for loopback only."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return None if parts.hostname else f"base_url '{url}' has no host"
    if parts.scheme != "http":
        return f"base_url '{url}' must start with https://"
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return f"base_url '{url}' uses http:// on a non-loopback host; use https://"


def check_api_key(key: str) -> str | None:
    """Why `key` cannot go into a header (the key itself is never quoted), or None."""
    if any(not " " <= char <= "~" for char in key):
        return "api_key holds a control or non-ASCII character (a stray newline or paste?); set it again"
    if key != key.strip():
        return "api_key starts or ends with a space; set it again"
    return None


class RateLimiter:
    """Even pacing at `per_minute`, shared by all threads, with a sliding-window guard."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.interval = WINDOW_SECONDS / per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self._blocked_until = 0.0
        self._pauses = 0
        self._window: collections.deque[float] = collections.deque()

    def acquire(self) -> None:
        """Block until this caller may send one request.

        A pause (Retry-After) that begins while a caller sleeps towards its slot holds that
        caller back too: it gives the slot up and takes a new one after the pause.
        """
        while True:
            with self._lock:
                now = self._clock()
                slot = max(now, self._next, self._blocked_until)
                while self._window and self._window[0] <= slot - WINDOW_SECONDS:
                    self._window.popleft()
                if len(self._window) >= self.per_minute:
                    slot = max(slot, self._window[0] + WINDOW_SECONDS)
                self._window.append(slot)
                self._next = slot + self.interval
                pauses = self._pauses
            if slot > now:
                (self._sleep or time.sleep)(slot - now)
            with self._lock:
                if self._pauses == pauses or slot >= self._blocked_until:
                    return
                with contextlib.suppress(ValueError):
                    self._window.remove(slot)

    def pause(self, seconds: float) -> None:
        """Hold every sender back (the server said Retry-After), those already waiting too."""
        with self._lock:
            until = self._clock() + seconds
            if until > self._blocked_until:
                self._blocked_until = until
                self._pauses += 1


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds (delta-seconds or an HTTP date), None when absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
        seconds = when.timestamp() - (time.time() if now is None else now)
    except (TypeError, ValueError, OverflowError):
        return None
    return max(0.0, seconds)


class Attempts(t.Protocol):
    """Where the client reports each attempt (requests, retries, 429s)."""

    def on_attempt(self, resource: str, status: int | None, *, retry: bool) -> None:
        """Count one attempt (status None: a network error)."""


class Response(t.NamedTuple):
    """A final answer: status and JSON body (None when not JSON)."""

    status: int
    body: t.Any


# --- a deadline for a whole attempt -------------------------------------------------------


class _Deadlines(httpcore.NetworkBackend):
    """Caps each socket operation at what is left of the calling thread's attempt.

    httpx's timeout is per read, so a server that drips one byte at a time never times out;
    with this backend `request_timeout` bounds the attempt as a whole.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()
        self._local = threading.local()

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Every socket operation of this thread inside the block ends `seconds` from now."""
        self._local.end = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.end = None

    def cap(self, timeout: float | None, error: type[Exception]) -> float | None:
        end = getattr(self._local, "end", None)
        if end is None:
            return timeout
        left = end - time.monotonic()
        if left <= 0:
            msg = "the attempt ran out of request_timeout"
            raise error(msg)
        return left if timeout is None else min(timeout, left)

    @override
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: t.Iterable[t.Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self.cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options), self)

    @override
    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: t.Iterable[t.Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - the client speaks TCP
        timeout = self.cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options), self)

    @override
    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore's own retries are off
        self._inner.sleep(seconds)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadlines: _Deadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines

    @override
    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadlines.cap(timeout, httpcore.ReadTimeout))

    @override
    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadlines.cap(timeout, httpcore.WriteTimeout))

    @override
    def close(self) -> None:
        self._inner.close()

    @override
    def start_tls(
        self,
        ssl_context: t.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = self._deadlines.cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._deadlines)

    @override
    def get_extra_info(self, info: str) -> t.Any:
        return self._inner.get_extra_info(info)


def _transport(deadlines: _Deadlines, workers: int) -> httpx.HTTPTransport:
    limits = httpx.Limits(max_connections=max(10, workers * 2), max_keepalive_connections=max(10, workers * 2))
    transport = httpx.HTTPTransport(limits=limits)
    # httpx has no public way to hand its pool a network backend; the backend is what bounds
    # an attempt as a whole (see `_Deadlines`). tests/test_client.py pins this against a
    # server that drips its answer.
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=deadlines,
    )
    return transport


# --- the client -----------------------------------------------------------------------------


def backoff_waits() -> Iterator[float]:
    """Capped exponential backoff: the nominal wait before each retry."""
    waits = backoff.expo(base=BACKOFF_FACTOR, factor=BACKOFF_FIRST, max_value=BACKOFF_CAP)
    next(waits)  # python-backoff's generators yield once before the first value
    return t.cast("Iterator[float]", waits)


class ApiClient:
    """Sends JSON bodies to ShopiMind with pacing and retries; never logs or raises the key."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        base_url: str,
        api_key: str,
        limiter: RateLimiter,
        attempts: Attempts,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
        workers: int = 4,
        transport: httpx.BaseTransport | None = None,
        stop: Stop | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        jitter: Callable[[float], float] = backoff.full_jitter,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.limiter = limiter
        self.attempts = attempts
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_seconds = max_retry_seconds
        self.stop = stop or Stop()
        self._clock = clock
        self._sleep = sleep or self.stop.sleep
        self._jitter = jitter
        self._deadlines = _Deadlines()
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={
                "spm-api-key": api_key,
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": "target-shopimind",
            },
            timeout=timeout,
            follow_redirects=False,
            transport=transport or _transport(self._deadlines, workers),
        )

    def post(
        self,
        path: str,
        body: bytes,
        resource: str,
        *,
        unaccounted: Callable[[t.Any], str | None] | None = None,
    ) -> Response:
        """POST with retries on 408/429/5xx, network errors and 200s that `unaccounted` refuses."""
        return self.request("POST", path, body, resource, unaccounted=unaccounted)

    def request(  # noqa: PLR0913
        self,
        method: str,
        path: str,
        body: bytes | None,
        resource: str,
        params: dict[str, t.Any] | None = None,
        *,
        unaccounted: Callable[[t.Any], str | None] | None = None,
    ) -> Response:
        """Any method (reads and set-up calls of custom data too), paced and retried.

        Other answers are returned. A request is retried until `max_retries` retries or
        `max_retry_seconds` since its first attempt, whichever comes first; a 429 that says
        when to come back is waited out without using up a retry (Retry-After waits of one
        request add up to at most MAX_THROTTLED_SECONDS).
        """
        waits = backoff_waits()
        started = self._clock()
        retries = 0
        throttled = 0.0
        while True:
            self._acquire(resource, method, path)
            status, answer, problem, retry_after = self._attempt(method, path, body, params)
            self.attempts.on_attempt(resource, status, retry=retries > 0)
            if status is not None and status not in RETRYABLE_STATUS:
                odd = unaccounted(answer) if unaccounted is not None and status == 200 else None
                if odd is None:
                    return Response(status, answer)
                problem = f"HTTP 200 that does not account for the items sent ({odd})"
            where = f"{method} {path}"
            delay = self._server_wait(status, retry_after, resource, where, throttled)
            if delay is not None:
                problem += f", Retry-After {delay:.0f} s"
            self._raise_if_stopped(resource, where, problem)
            if status == 429 and delay is not None:
                throttled += delay  # the server says when: wait it out without using a retry
                self.limiter.pause(delay)
                logger.info("%s: 429 from ShopiMind, waiting %.1f s (Retry-After)", resource, delay)
                continue
            wait = delay if delay is not None else self._backoff(next(waits))
            elapsed = self._clock() - started
            if retries >= self.max_retries or elapsed + wait > self.max_retry_seconds:
                msg = (
                    f"{resource}: giving up after {retries + 1} attempts in {elapsed:.0f} s ({problem}) on "
                    f"{where}; ShopiMind or the network is failing: run again later (the last STATE is safe to "
                    "resume from), or raise max_retries / max_retry_seconds / request_timeout"
                )
                raise TargetError(msg)
            retries += 1
            if delay is not None:
                throttled += delay
                self.limiter.pause(delay)
            logger.warning("%s: %s, retry %d/%d in %.1f s", resource, problem, retries, self.max_retries, wait)
            self._sleep(wait)
            self._raise_if_stopped(resource, where, problem)

    def _raise_if_stopped(self, resource: str, where: str, problem: str) -> None:
        if self.stop.requested:
            msg = (
                f"{resource}: stopped by a signal while {where} was failing ({problem}); "
                "the last STATE is safe to resume from"
            )
            raise TargetError(msg)

    def _backoff(self, nominal: float) -> float:
        return nominal / 2 + self._jitter(nominal / 2)

    @staticmethod
    def _server_wait(
        status: int | None, header: str | None, resource: str, where: str, throttled: float
    ) -> float | None:
        """The Retry-After of a 429/503, or None; one that passes the cap stops the run."""
        delay = retry_after_seconds(header) if status in {429, 503} else None
        if delay is not None and throttled + delay > MAX_THROTTLED_SECONDS:
            msg = (
                f"{resource}: ShopiMind answered HTTP {status} on {where} with Retry-After {header!r}, "
                f"more than the {MAX_THROTTLED_SECONDS:.0f} s the target waits per request; run again later "
                "(the last STATE is safe to resume from)"
            )
            raise TargetError(msg)
        return delay

    def _acquire(self, resource: str, method: str, path: str) -> None:
        self.limiter.acquire()
        if self.stop.aborted:
            msg = f"{resource}: stopped by a signal before {method} {path} was sent; the last STATE is safe to resume"
            raise TargetError(msg)

    def _attempt(
        self, method: str, path: str, body: bytes | None, params: dict[str, t.Any] | None
    ) -> tuple[int | None, t.Any, str, str | None]:
        """One request within `request_timeout` as a whole: status, JSON body, problem, Retry-After."""
        try:
            with self._deadlines.deadline(self.timeout):
                answer = self._client.request(method, path, content=body, params=params)
        except httpx.TransportError as exc:
            return None, None, self.describe(exc), None
        return answer.status_code, _json(answer), f"HTTP {answer.status_code}", answer.headers.get("Retry-After")

    def describe(self, exc: BaseException) -> str:
        """A transport error as text that cannot carry the key (header text is never quoted)."""
        name = type(exc).__name__
        text = str(exc) if isinstance(exc, _PLAIN_TEXT_ERRORS) else ""
        if self._key and self._key in text:
            text = ""
        return f"{name}: {text}" if text else name

    def check_key(self) -> None:
        """One authenticated read that writes nothing; a refused key stops the run."""
        self._acquire("customers_groups", "GET", "/v1/customers-groups")
        try:
            with self._deadlines.deadline(self.timeout):
                answer = self._client.get("/v1/customers-groups", params={"limit": 1})
        except httpx.TransportError as exc:
            msg = f"cannot reach ShopiMind at {self.base_url} ({type(exc).__name__}): check the base_url setting"
            raise TargetError(msg) from None
        if answer.status_code in {401, 403}:
            msg = (
                f"ShopiMind refused the API key (HTTP {answer.status_code}): check the api_key setting "
                "(TARGET_SHOPIMIND_API_KEY) and that the integration is active"
            )
            raise TargetError(msg)
        if answer.status_code == 404:
            msg = f"HTTP 404 from {self.base_url}/v1/customers-groups: check the base_url setting"
            raise TargetError(msg)
        logger.info("ShopiMind accepted the API key (HTTP %s)", answer.status_code)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _json(answer: httpx.Response) -> t.Any:
    try:
        return answer.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
