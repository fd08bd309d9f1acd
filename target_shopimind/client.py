"""ShopiMind HTTP client: quota pacing, retries, and reading bulk responses.

One limiter paces every request of the process (retries included) so the target
stays inside the per-key quota instead of discovering it through 429s.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import ipaddress
import json
import logging
import math
import threading
import time
import typing as t
import urllib.parse

import backoff
import httpx

from target_shopimind.errors import TargetError

if t.TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("target-shopimind.client")
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A 429 that says when to come back is waited out; this bounds the wait of one request.
MAX_THROTTLED_SECONDS = 900.0
# Requests are spread a little wider than 60 s / quota so jitter on the wire never
# puts quota + 1 requests into one server-side minute.
WINDOW_SECONDS = 60.5


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


class RateLimiter:
    """Even pacing at `per_minute`, shared by all threads, with a sliding-window guard."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.interval = WINDOW_SECONDS / per_minute
        self._clock = clock
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
                time.sleep(slot - now)
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
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Attempts(t.Protocol):
    """Where the client reports each attempt (requests, retries, 429s)."""

    def on_attempt(self, resource: str, status: int | None, *, retry: bool) -> None:
        """Count one attempt (status None: a network error)."""


class Response(t.NamedTuple):
    """A final answer: status and JSON body (None when not JSON)."""

    status: int
    body: t.Any


class ApiClient:
    """Sends JSON bodies to ShopiMind with pacing and retries; never logs the key."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        base_url: str,
        api_key: str,
        limiter: RateLimiter,
        attempts: Attempts,
        timeout: float = 30.0,
        max_retries: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "spm-api-key": api_key,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "target-shopimind",
        }
        self.limiter = limiter
        self.attempts = attempts
        self.timeout = timeout
        self.max_retries = max_retries
        self._transport = transport
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(
                base_url=self.base_url,
                headers=self._headers,
                timeout=self.timeout,
                follow_redirects=False,
                transport=self._transport,
            )
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def post(self, path: str, body: bytes, resource: str) -> Response:
        """POST with retries on 408/429/5xx and network errors; other answers are returned."""
        return self.request("POST", path, body, resource)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        resource: str,
        params: dict[str, t.Any] | None = None,
    ) -> Response:
        """Any method, paced and retried like `post` (reads and set-up calls of custom data)."""
        waits = backoff.expo(base=2, factor=1, max_value=30)
        next(waits)
        retries = 0
        throttled = 0.0
        while True:
            self.limiter.acquire()
            try:
                answer = self._client().request(method, path, content=body, params=params)
            except httpx.TransportError as exc:
                self.attempts.on_attempt(resource, None, retry=retries > 0)
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                status = None
            else:
                self.attempts.on_attempt(resource, answer.status_code, retry=retries > 0)
                status = answer.status_code
                if status not in RETRYABLE_STATUS:
                    return Response(status, _json(answer))
                problem = f"HTTP {status}"
            delay = retry_after_seconds(answer.headers.get("Retry-After")) if status is not None else None
            if status == 429 and delay is not None and throttled + delay <= MAX_THROTTLED_SECONDS:
                throttled += delay  # the server says when: wait it out without using a retry
                self.limiter.pause(delay)
                logger.info("%s: 429 from ShopiMind, waiting %.1f s (Retry-After)", resource, delay)
                continue
            if retries >= self.max_retries:
                msg = (
                    f"{resource}: giving up after {retries + 1} attempts ({problem}) on {method} {path}; "
                    "ShopiMind or the network is failing: run again later (the last STATE is safe to resume "
                    "from), or raise max_retries / request_timeout"
                )
                raise TargetError(msg)
            retries += 1
            wait = delay if delay is not None else backoff.full_jitter(next(waits)) + 0.05
            if delay is not None:
                self.limiter.pause(delay)
            logger.warning("%s: %s, retry %d/%d in %.1f s", resource, problem, retries, self.max_retries, wait)
            time.sleep(wait)

    def check_key(self) -> None:
        """One authenticated read that writes nothing; a refused key stops the run."""
        self.limiter.acquire()
        try:
            answer = self._client().get("/v1/customers-groups", params={"limit": 1})
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
        """Close every thread's connection pool."""
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


def _json(answer: httpx.Response) -> t.Any:
    try:
        return answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


# --- reading bulk answers -------------------------------------------------------------

_INDEX_KEYS = ("index", "idx", "position", "item_index")
_PAYLOAD_KEYS = ("item", "payload", "data", "original", "record", "original_payload", "value")
_ERROR_KEYS = ("errors", "error", "messages", "message", "validation_errors", "constraints", "reason")


def error_strings(errors: t.Any, path: str = "") -> list[str]:
    """Plain strings or NestJS class-validator objects as `field: message` strings."""
    if errors is None:
        return []
    if isinstance(errors, str):
        return [f"{path}: {errors}" if path else errors]
    if isinstance(errors, list):
        return [text for error in errors for text in error_strings(error, path)]
    if isinstance(errors, dict):
        if "property" in errors or "constraints" in errors or "children" in errors:
            prop = str(errors.get("property", ""))
            here = f"{path}.{prop}" if path and prop else (prop or path)
            constraints = (errors.get("constraints") or {}).values()
            out = [f"{here}: {message}" if here else str(message) for message in constraints]
            out.extend(error_strings(errors.get("children") or [], here))
            return out
        field = errors.get("field") or errors.get("path") or errors.get("property")
        message = errors.get("message") or errors.get("msg") or errors.get("error")
        if message is not None:
            here = f"{path}.{field}" if path and field else (field or path)
            return error_strings(message, str(here) if here else "")
        return [f"{k}: {v}" for k, v in errors.items()]
    return [json.dumps(errors, default=str)]


def rejected_entries(body: t.Any) -> list[t.Any] | None:
    """The `rejected_items` list of an answer, or None when there is none."""
    if isinstance(body, dict):
        items = body.get("rejected_items")
        if items is None and isinstance(body.get("data"), dict):
            items = body["data"].get("rejected_items")
        return items if isinstance(items, list) else None
    return None


def match_rejections(
    entries: list[t.Any],
    keys: list[str],
    key_of_payload: Callable[[dict], str],
) -> tuple[dict[int, list[str]], list[list[str]]]:
    """Map `rejected_items` to batch positions: by `index`, else by upsert key in the payload.

    Returns the errors by position, and the errors of entries that matched nothing.
    """
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    matched: dict[int, list[str]] = {}
    unmatched: list[list[str]] = []
    for entry in entries:
        position: int | None = None
        errors: list[str] = []
        if isinstance(entry, dict):
            if "property" in entry:  # the entry is itself a class-validator error
                errors = error_strings({k: entry[k] for k in ("property", "constraints", "children") if k in entry})
            for name in () if errors else _ERROR_KEYS:
                if name in entry:
                    errors = error_strings(entry[name])
                    break
            index = next((entry[k] for k in _INDEX_KEYS if k in entry), None)
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(keys):
                position = index
            else:
                payload = next((entry[k] for k in _PAYLOAD_KEYS if isinstance(entry.get(k), dict)), None)
                candidates = by_key.get(key_of_payload(payload)) if payload is not None else None
                position = next((p for p in candidates or () if p not in matched), None)
        else:
            errors = error_strings(entry)
        errors = errors or ["rejected by ShopiMind (no reason given)"]
        if position is None:
            unmatched.append(errors)
        else:
            matched[position] = errors
    return matched, unmatched


def error_message(body: t.Any, status: int) -> list[str]:
    """The reason a whole request was refused, from a NestJS-style error body."""
    if isinstance(body, dict):
        found = error_strings(body.get("message")) or error_strings(body.get("error"))
        if found:
            return found
    return [f"HTTP {status}"]
