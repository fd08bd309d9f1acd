"""A ShopiMind-compatible API server on loopback, for tests, benchmarks and demos.

It answers the write endpoints with ShopiMind's envelopes, validates each item with the
same rules as the target (`validation.py`), enforces batch limits, the `spm-api-key`
check and a per-key quota, and injects latency and faults on demand, so a target can be
exercised against every answer it must survive without touching production. Every
resource-specific detail comes from `resources.RESOURCES`. Standard library only, so a
user can run it wherever the target is installed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime as dt
import ipaddress
import json
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import typing as t
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from target_shopimind import sandbox_custom
from target_shopimind.compat import override
from target_shopimind.resources import DELETE_BATCH, MAX_BODY_BYTES, RESOURCES, Resource
from target_shopimind.validation import validate

if t.TYPE_CHECKING:
    import types
    from collections.abc import Iterable, Iterator

    from typing_extensions import Self

DEFAULT_API_KEY = "sandbox-key-0123456789abcdef"
DEFAULT_PORT = 8787
LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 10_000
LOG_LIMIT = 100_000  # request-log entries kept (oldest dropped); counters keep counting
API_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9-]{20,64}$")

OK, FAIL_500, FAIL_503, DROP, SLOW, APPLIED_500 = "ok", "500", "503", "drop", "slow", "applied500"
THROTTLE = "429"
DRIP = "drip"  # processed, then the answer trickles out one byte per `drip_seconds`
# 200 answers that do not account for the items (nothing stored), as a proxy or a broken
# deployment might give: an HTML page, `{}`, `rejected_items` as an object, a rejected_count
# without rejected_items, counts that do not add up.
ODD_200 = {
    "html200": "<html><body>Maintenance</body></html>",
    "empty200": {},
    "items_object200": {"statusCode": 200, "rejected_items": {}},
    "count_only200": {"statusCode": 200, "sent_count": 0, "rejected_count": 1},
    "miscount200": {"statusCode": 200, "sent_count": 1, "rejected_count": 0, "rejected_items": []},
}
FAULT_KINDS = (OK, FAIL_500, FAIL_503, DROP, SLOW, APPLIED_500, THROTTLE, DRIP, *ODD_200)
_KIND_ALIASES = {"applied_then_500": APPLIED_500, "applied-then-500": APPLIED_500, "fail_500": FAIL_500}
# Constructor/CLI rate names -> fault kind, in the order a random draw tries them.
RATE_NAMES = {
    "drop_rate": DROP,
    "fail_500_rate": FAIL_500,
    "fail_503_rate": FAIL_503,
    "applied_then_500_rate": APPLIED_500,
    "slow_rate": SLOW,
    "drip_rate": DRIP,
    "odd_200_rate": "html200",
}
_SETTING_NAMES = ("latency_ms", "slow_seconds", "retry_after", "drip_seconds")

# class-validator constraint names, so the `nestjs` style looks like what NestJS emits.
_CONSTRAINTS = (
    ("is required", "isDefined"),
    ("must not be null", "isNotEmpty"),
    ("must be a string", "isString"),
    ("must be an integer", "isInt"),
    ("must be a number", "isNumber"),
    ("must be a boolean", "isBoolean"),
    ("must be one of", "isIn"),
    ("must be an ISO 8601", "isDateString"),
    ("must be a date", "isDateString"),
    ("must be an https", "isUrl"),
    ("must be at most", "maxLength"),
    ("must match", "matches"),
    ("must be an array", "isArray"),
    ("must be an object", "isObject"),
)


def is_loopback(host: str) -> bool:
    """Whether `host` only listens locally: the sandbox accepts any key it is given."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_string(item: dict, fields: Iterable[str]) -> str:
    """Render a key like the target's `key_of`, so log keys and reject keys compare equal."""
    return "|".join("" if item.get(f) is None else str(item.get(f)) for f in fields)


def nestjs_errors(errors: Iterable[str]) -> list[dict]:
    """`a.0.b: msg` strings as a class-validator tree, the shape a NestJS server returns."""
    roots: list[dict] = []
    for error in errors:
        path, sep, message = error.partition(": ")
        if not sep:
            path, message = "item", error
        nodes = roots
        parts = path.split(".")
        for depth, prop in enumerate(parts):
            node = next((n for n in nodes if n["property"] == prop), None)
            if node is None:
                node = {"property": prop, "children": []}
                nodes.append(node)
            if depth == len(parts) - 1:
                constraint = next((name for prefix, name in _CONSTRAINTS if message.startswith(prefix)), "isValid")
                node.setdefault("constraints", {})[constraint] = message
            nodes = node["children"]
    return roots


def _error(status: int, message: str, error: str) -> dict:
    return {"statusCode": status, "message": message, "error": error}


def _bad_request(message: str) -> Reply:
    return Reply(400, _error(400, message, "Bad Request"))


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclasses.dataclass
class Reply:
    """One answer; `drop` closes the socket instead of writing anything."""

    status: int
    body: t.Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    drop: bool = False
    drip: float = 0.0  # seconds between two bytes of the body


@dataclasses.dataclass(frozen=True)
class Route:
    """What a /v1 method + path addresses."""

    kind: str  # "upsert", "delete", "list", "carts"
    resource: Resource | None
    params: dict[str, str]


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    body = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts if p)
    return re.compile(f"^{body}/?$")


_ROUTES: list[tuple[str, re.Pattern[str], str, Resource | None]] = [
    *((m, _template_regex(r.path), k, r) for r in RESOURCES for m, k in (("POST", "upsert"), ("GET", "list"))),
    *(("POST", _template_regex(r.delete_path), "delete", r) for r in RESOURCES if r.delete_path),
    ("GET", _template_regex("/v1/carts"), "carts", None),
]


def match_route(method: str, path: str) -> Route | None:
    """Find the route of `method path`; None is a 404, as NestJS answers unknown routes."""
    for route_method, regex, kind, resource in _ROUTES:
        found = regex.match(path)
        if found and route_method == method:
            params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
            return Route(kind, resource, params)
    return None


class Faults:
    """Which outcome the next write gets: a script first, then seeded random rates."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        latency_ms: float = 0,
        fail_500_rate: float = 0.0,
        fail_503_rate: float = 0.0,
        retry_after: float = 1,
        drop_rate: float = 0.0,
        applied_then_500_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 35.0,
        drip_rate: float = 0.0,
        drip_seconds: float = 0.5,
        odd_200_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._initial: dict[str, float] = {
            "latency_ms": latency_ms,
            "retry_after": retry_after,
            "slow_seconds": slow_seconds,
            "drip_seconds": drip_seconds,
            "drip_rate": drip_rate,
            "odd_200_rate": odd_200_rate,
            "fail_500_rate": fail_500_rate,
            "fail_503_rate": fail_503_rate,
            "drop_rate": drop_rate,
            "applied_then_500_rate": applied_then_500_rate,
            "slow_rate": slow_rate,
        }
        self.settings: dict[str, float] = {}
        self._script: collections.deque[str] = collections.deque()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        self.set_rates(**self._initial)

    @staticmethod
    def normalize_kind(kind: object) -> str:
        """`500` (int or str), `applied_then_500` and friends as one of FAULT_KINDS."""
        name = _KIND_ALIASES.get(str(kind).lower(), str(kind).lower())
        if name not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
        return name

    def script_faults(self, outcomes: Iterable[object]) -> None:
        """Queue outcomes for the next write requests, in order (appended to any left)."""
        kinds = [self.normalize_kind(o) for o in outcomes]
        with self._lock:
            self._script.extend(kinds)

    def set_rates(self, **settings: float) -> None:
        """Change rates (`drop_rate`, `fail_500_rate`, or a kind such as `"503"`) and latency settings."""
        by_kind = {kind: name for name, kind in RATE_NAMES.items()}
        updates: dict[str, float] = {}
        for name, value in settings.items():
            key = name if name in RATE_NAMES or name in _SETTING_NAMES else None
            if key is None:
                try:
                    key = by_kind.get(self.normalize_kind(name.removesuffix("_rate")))
                except ValueError:
                    key = None
            if key is None:
                raise ValueError(f"unknown fault setting {name!r}")
            number = float(value)
            if number < 0 or (key in RATE_NAMES and number > 1):
                raise ValueError(f"{name} out of range: {value}")
            updates[key] = number
        with self._lock:
            merged = {**self.settings, **updates}
            if sum(merged.get(n, 0.0) for n in RATE_NAMES) > 1:
                raise ValueError("fault rates add up to more than 1")
            self.settings = merged

    def reset(self) -> None:
        """Back to the constructor's settings and seed, with no script."""
        with self._lock:
            self._script.clear()
            self._rng = random.Random(self._seed)  # noqa: S311
            self.settings = dict(self._initial)

    def next(self) -> str:
        """Outcome of the next write request."""
        with self._lock:
            if self._script:
                return self._script.popleft()
            draw = self._rng.random()
            for name, kind in RATE_NAMES.items():
                rate = self.settings[name]
                if draw < rate:
                    return kind
                draw -= rate
            return OK

    def snapshot(self) -> dict[str, t.Any]:
        """Return the settings and the script left, for `GET /_sandbox/faults`."""
        with self._lock:
            return {"script": list(self._script), "rates": dict(self.settings)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    sandbox: Sandbox

    @override
    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        """Keep quiet when a client hangs up (timeouts, drops): that is a normal event here."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class Sandbox:
    """The server plus its store; runs in a background thread (`start`/`stop` or `with`)."""

    def __init__(  # noqa: PLR0913
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = DEFAULT_API_KEY,
        quota: int = 600,
        latency_ms: float = 0,
        fail_500_rate: float = 0.0,
        fail_503_rate: float = 0.0,
        retry_after: float = 1,
        drop_rate: float = 0.0,
        applied_then_500_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 35.0,
        drip_rate: float = 0.0,
        drip_seconds: float = 0.5,
        odd_200_rate: float = 0.0,
        retry_after_header: str | None = None,
        error_style: str = "strings",
        index: bool = True,
        reject_400_with_items: bool = False,
        strict_400: bool = False,
        require_sdk_fields: bool = False,
        seed: int | None = None,
        state_file: str | os.PathLike[str] | None = None,
        window_seconds: float = 60.0,
        verbose: bool = False,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the sandbox only listens on loopback (127.0.0.1, ::1, localhost), not {host!r}")
        if error_style not in {"strings", "nestjs"}:
            raise ValueError(f"error_style must be 'strings' or 'nestjs', not {error_style!r}")
        self.host = host
        self.port = port
        self.api_key = api_key
        self.quota = quota
        self.window_seconds = window_seconds
        self.error_style = error_style
        self.index = index
        self.reject_400_with_items = reject_400_with_items
        self.strict_400 = strict_400
        # Also refuse items lacking fields the official SDK types as required (by default only
        # what the evidence shows ShopiMind refusing), so the api-stage rejection path can be tried.
        self.require_sdk_fields = require_sdk_fields
        # Server-side refusals of items the shared rules accept: resource -> key -> errors.
        self.refusals: dict[str, dict[str, list[str]]] = {}
        self.state_file = os.fspath(state_file) if state_file else None
        self.verbose = verbose
        # Sent verbatim as Retry-After on 503/429 faults when set ("100000", an HTTP date, ...).
        self.retry_after_header = retry_after_header
        self.faults = Faults(
            latency_ms=latency_ms,
            fail_500_rate=fail_500_rate,
            fail_503_rate=fail_503_rate,
            retry_after=retry_after,
            drop_rate=drop_rate,
            applied_then_500_rate=applied_then_500_rate,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            drip_rate=drip_rate,
            drip_seconds=drip_seconds,
            odd_200_rate=odd_200_rate,
            seed=seed,
        )
        self._lock = threading.Lock()
        self._store: dict[str, dict[tuple[str, ...], dict]] = {r.name: {} for r in RESOURCES}
        # Custom data definitions, their records and the data sources (sandbox_custom.py).
        self.custom = sandbox_custom.CustomData(rejected_entry=self._rejected_entry)
        self.custom.reject_400_with_items = reject_400_with_items
        self._log: collections.deque[dict] = collections.deque(maxlen=LOG_LIMIT)
        self._total = 0
        self._by_status: collections.Counter[str] = collections.Counter()
        self._windows: dict[str, collections.deque[float]] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Load the state file, bind and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._load_state()
        self._stopping.clear()
        server_class = _IPv6Server if ":" in self.host else _Server
        server = server_class((self.host.strip("[]"), self.port), _Handler)
        server.sandbox = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="shopimind-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut idle keep-alive sockets, wake sleeping handlers, dump state."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._dump_state()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to give the target as `base_url`."""
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- inspection and control -------------------------------------------------------

    def items(self, resource_name: str) -> list[dict]:
        """Return what is stored for a resource, in first-write order.

        Also `custom:<definition name>` (its records), `custom_data_definitions` and `data_sources`.
        """
        custom = self.custom.items(resource_name)
        if custom is not None:
            return custom
        with self._lock:
            if resource_name not in self._store:
                raise KeyError(f"unknown resource {resource_name!r} (known: {', '.join(self._store)})")
            return [json.loads(json.dumps(item)) for item in self._store[resource_name].values()]

    def definitions(self) -> list[dict]:
        """Custom data definitions, deleted ones included (as `items("custom_data_definitions")`)."""
        return self.items("custom_data_definitions")

    def records(self, definition: str) -> list[dict]:
        """The records of the live definition named `definition` (as `items("custom:<name>")`)."""
        return self.items(f"custom:{definition}")

    def data_sources(self) -> list[dict]:
        """The data sources (as `items("data_sources")`)."""
        return self.items("data_sources")

    @property
    def requests(self) -> list[dict]:
        """The /v1 request log (copies), oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def stats(self) -> dict[str, t.Any]:
        """Count items per resource and requests per status; report the concurrency high-water mark."""
        with self._lock:
            return {
                "items": {name: len(stored) for name, stored in self._store.items()} | self.custom.counts(),
                "custom_data": self.custom.stats(),
                "requests": self._total,
                "by_status": dict(self._by_status),
                "max_in_flight": self._max_in_flight,
                "in_flight": self._in_flight,
            }

    def script_faults(self, outcomes: Iterable[object]) -> None:
        """Give the next write/delete requests these outcomes in order, then random rates again."""
        self.faults.script_faults(outcomes)

    def refuse(self, resource_name: str, key: str, errors: list[str]) -> None:
        """Make the server refuse an item by upsert key (a rule only the server knows)."""
        self.refusals.setdefault(resource_name, {})[key] = errors

    def set_rates(self, **settings: float) -> None:
        """Change fault rates or latency settings while running (see `Faults.set_rates`)."""
        self.faults.set_rates(**settings)

    def reset(self) -> None:
        """Empty store, log, counters and quota windows; faults back to their start settings."""
        with self._lock:
            for stored in self._store.values():
                stored.clear()
            self._log.clear()
            self._total = 0
            self._by_status.clear()
            self._windows.clear()
            self._max_in_flight = self._in_flight
        self.custom.reset()
        self.faults.reset()

    # -- state file -------------------------------------------------------------------

    def _load_state(self) -> None:
        if not self.state_file or not os.path.exists(self.state_file):  # noqa: PTH110
            return
        try:
            with open(self.state_file, encoding="utf-8") as handle:  # noqa: PTH123
                state = json.load(handle)
            stored = state["items"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot read sandbox state file {self.state_file}: {exc}") from exc
        with self._lock:
            for resource in RESOURCES:
                for item in stored.get(resource.name) or []:
                    if isinstance(item, dict):
                        self._store[resource.name][self._store_key(resource, item)] = item
        self.custom.load(state.get("custom") or {})

    def _dump_state(self) -> None:
        if not self.state_file:
            return
        with self._lock:
            state = {
                "items": {name: list(stored.values()) for name, stored in self._store.items()},
                "counts": {name: len(stored) for name, stored in self._store.items()},
                "requests": self._total,
                "by_status": dict(self._by_status),
            }
        state["custom"] = self.custom.dump()
        temporary = f"{self.state_file}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:  # noqa: PTH123
            json.dump(state, handle, ensure_ascii=False)
        os.replace(temporary, self.state_file)  # noqa: PTH105 - readers never see half a file

    # -- request bookkeeping (called by the handler) ----------------------------------

    @staticmethod
    def _store_key(resource: Resource, item: dict) -> tuple[str, ...]:
        # Strings, so 12 and "12" are one entity, as deletes compare ids.
        return tuple("" if item.get(f) is None else str(item.get(f)) for f in resource.key)

    # Hooks for the request handler, which only does socket I/O.

    def connection_opened(self, connection: socket.socket) -> None:
        """Remember an open socket so `stop` can cut idle keep-alive connections."""
        with self._lock:
            self._connections.add(connection)

    def connection_closed(self, connection: socket.socket) -> None:
        """Forget a socket the handler is done with."""
        with self._lock:
            self._connections.discard(connection)

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a /v1 request as in flight, for the `max_in_flight` high-water mark."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def record(self, entry: dict) -> None:
        """Log a finished /v1 request (before its answer is written, so tests see it first)."""
        with self._lock:
            self._log.append(entry)
            self._total += 1
            self._by_status[str(entry["status"])] += 1
        if self.verbose:
            fault = f" fault={entry['fault']}" if entry.get("fault") not in {None, OK} else ""
            ms = (entry["ended"] - entry["started"]) * 1000
            sys.stderr.write(
                f"{entry['method']} {entry['path']} -> {entry['status'] or 'dropped'}"
                f" items={entry['items']}{fault} {ms:.0f}ms\n",
            )

    def _admit(self, api_key: str) -> int | None:
        """Count a request in the key's window; seconds to wait when the window is full."""
        if self.quota <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(api_key, collections.deque())
            while window and window[0] <= now - self.window_seconds:
                window.popleft()
            if len(window) >= self.quota:
                return max(1, math.ceil(window[0] + self.window_seconds - now))
            window.append(now)
        return None

    def _pause(self, seconds: float) -> bool:
        """Sleep unless the server stops meanwhile; False when it did."""
        if seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()

    # -- endpoint logic ---------------------------------------------------------------

    def _errors_out(self, errors: list[str]) -> list[t.Any]:
        return nestjs_errors(errors) if self.error_style == "nestjs" else errors

    def upsert(self, resource: Resource, items: list[t.Any], *, answer: bool = True) -> Reply:
        """Validate each item, store the valid ones (replacing by key), report the others."""
        if len(items) > resource.max_batch:
            limit = f"At most {resource.max_batch} items per request for {resource.path}"
            return _bad_request(f"{limit} (got {len(items)})")
        accepted: list[dict] = []
        rejected: list[dict] = []
        refusals = self.refusals.get(resource.name, {})
        for i, item in enumerate(items):
            if isinstance(item, dict):
                errors = validate(resource, item, require_sdk=self.require_sdk_fields)
            else:
                errors = ["item: must be an object"]
            if not errors and refusals:
                errors = refusals.get(key_string(item, resource.key), [])
            if not errors:
                accepted.append(item)
                continue
            entry: dict[str, t.Any] = {"index": i} if self.index else {}
            entry.update({"item": item, "errors": self._errors_out(errors)})
            rejected.append(entry)
        if rejected and self.strict_400:
            return _bad_request(f"{len(rejected)} invalid item(s) in the batch")  # and nothing stored
        with self._lock:
            stored = self._store[resource.name]
            for item in accepted:
                stored[self._store_key(resource, item)] = item
        if not answer:
            return Reply(500, _error(500, "Internal server error", "Internal Server Error"))
        if items and not accepted:
            body = _error(400, "All items are invalid", "Bad Request")
            if self.reject_400_with_items:
                body["rejected_items"] = rejected
            return Reply(400, body)
        counts = {"sent_count": len(accepted), "rejected_count": len(rejected)}
        return Reply(200, {"statusCode": 200, **counts, "rejected_items": rejected})

    def delete(self, resource: Resource, params: dict[str, str], ids: list[t.Any]) -> Reply:
        """Remove by id (and parent); unknown ids are skipped, as the API's deletes are idempotent."""
        wanted = {str(i) for i in ids}
        parents = {field: params[field] for field in resource.delete_parents if field in params}
        with self._lock:
            stored = self._store[resource.name]
            doomed = [
                key
                for key, item in stored.items()
                if str(item.get(resource.id_field)) in wanted
                and all(str(item.get(field)) == value for field, value in parents.items())
            ]
            for key in doomed:
                del stored[key]
        return Reply(200, {"statusCode": 200, "sent_count": len(ids), "rejected_count": 0, "rejected_items": []})

    def list_page(self, resource: Resource | None, query: dict[str, list[str]]) -> Reply:
        """ShopiMind's list envelope over stored items (carts: always empty)."""

        def number(name: str, default: int, low: int) -> int:
            try:
                value = int(query.get(name, [str(default)])[0])
            except ValueError:
                return default
            return value if value >= low else default

        limit = min(number("limit", LIST_DEFAULT_LIMIT, 1), LIST_MAX_LIMIT)
        offset = number("offset", 0, 0)
        with self._lock:
            everything = list(self._store[resource.name].values()) if resource else []
        total = len(everything)
        current = offset // limit + 1
        pages = math.ceil(total / limit)
        has_next = offset + limit < total
        pagination = {
            "total_items": total,
            "items_per_page": limit,
            "total_pages": pages,
            "current_page": current,
            "offset": offset,
            "has_previous_page": offset > 0,
            "has_next_page": has_next,
            "next_page": current + 1 if has_next else None,
            "previous_page": current - 1 if offset > 0 and current > 1 else None,
        }
        return Reply(
            200,
            {
                "statusCode": 200,
                "data": everything[offset : offset + limit],
                "meta": {"pagination": pagination, "generated_at": _now_iso()},
            },
        )

    # -- /v1 answers ------------------------------------------------------------------

    def answer_v1(  # noqa: PLR0913
        self,
        method: str,
        path: str,
        *,
        query: dict[str, list[str]],
        api_key: str | None,
        raw: bytes,
        entry: dict[str, t.Any],
    ) -> Reply:
        """Answer one /v1 request; fills `entry` (resource, items, keys, fault) for the log."""
        route = match_route(method, path)
        if route is not None:
            entry["resource"] = route.resource.name if route.resource else "carts"
        call = sandbox_custom.match(method, path) if route is None else None
        refusal = self._gate(api_key)
        if refusal is not None:
            if call is not None and refusal.status == 429:
                with contextlib.suppress(ValueError):
                    self.custom.describe(call, json.loads(raw) if raw.strip() else None, entry)
            if route is not None and route.kind in {"upsert", "delete"} and refusal.status == 429:
                with contextlib.suppress(ValueError):  # log what the refused request carried
                    self._describe(route, json.loads(raw) if raw.strip() else None, entry)
            return refusal
        if route is None:
            if call is not None:
                return self._custom_reply(call, query, raw, entry)
            return Reply(404, _error(404, f"Cannot {method} {path}", "Not Found"))
        return self._routed(route, query, raw, entry)

    def _custom_reply(self, call: sandbox_custom.Call, query: dict[str, list[str]], raw: bytes, entry: dict) -> Reply:
        """Custom data and data sources; record writes get the faults other bulk writes get."""
        body: t.Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                self.custom.describe(call, None, entry)
                return _bad_request(f"Request body is not valid JSON: {exc}")
        self.custom.describe(call, body, entry)
        fault = OK
        if call.write:
            entry["fault"] = fault = self.faults.next()
            faulted = self._fault_reply(fault)
            if faulted is not None:
                return faulted
        status, answer = self.custom.answer(call, query, body)
        if fault == APPLIED_500:
            return Reply(500, _error(500, "Internal server error", "Internal Server Error"))
        return Reply(status, answer)

    def _rejected_entry(self, index: int, item: t.Any, errors: list[str]) -> dict[str, t.Any]:
        """One `rejected_items` entry in this sandbox's style (index or not, strings or NestJS)."""
        entry: dict[str, t.Any] = {"index": index} if self.index else {}
        entry.update({"item": item, "errors": self._errors_out(errors)})
        return entry

    def _routed(self, route: Route, query: dict[str, list[str]], raw: bytes, entry: dict[str, t.Any]) -> Reply:
        if route.kind in {"list", "carts"}:
            return self.list_page(route.resource, query)
        try:
            body: t.Any = json.loads(raw) if raw.strip() else None
            parse_error = None if raw.strip() else "Request body is empty"
        except ValueError as exc:
            body, parse_error = None, f"Request body is not valid JSON: {exc}"
        self._describe(route, body, entry)
        entry["fault"] = fault = self.faults.next()
        reply = self._fault_reply(fault) or self._write_reply(route, body, parse_error, fault)
        if fault == DRIP:
            reply.drip = self.faults.settings["drip_seconds"]
        return reply

    def _write_reply(self, route: Route, body: t.Any, parse_error: str | None, fault: str) -> Reply:
        if parse_error:
            return _bad_request(parse_error)
        if route.kind == "delete":
            return self._delete_reply(route, body, applied_500=fault == APPLIED_500)
        if not isinstance(body, list):
            return _bad_request("Request body must be a JSON array of items")
        return self.upsert(t.cast("Resource", route.resource), body, answer=fault != APPLIED_500)

    def _gate(self, api_key: str | None) -> Reply | None:
        """Auth, then quota at arrival, then latency: what every /v1 request goes through."""
        if not api_key:
            return Reply(401, _error(401, "Missing API key.", "Unauthorized"))
        if api_key != self.api_key:
            return Reply(401, _error(401, "Invalid API key.", "Unauthorized"))
        wait = self._admit(api_key)
        if wait is not None:
            return Reply(429, _error(429, "Too Many Requests", "Too Many Requests"), {"Retry-After": str(wait)})
        if not self._pause(self.faults.settings["latency_ms"] / 1000):
            return Reply(0, drop=True)  # stopping
        return None

    def _fault_reply(self, fault: str) -> Reply | None:
        """Answer for faults that replace processing; None lets the request be processed."""
        settings = self.faults.settings
        if fault == DROP:
            return Reply(0, drop=True)
        if fault == FAIL_500:
            return Reply(500, _error(500, "Internal server error", "Internal Server Error"))
        if fault in ODD_200:
            return Reply(200, ODD_200[fault])
        if fault in {FAIL_503, THROTTLE}:
            retry_after = self.retry_after_header or str(max(0, math.ceil(settings["retry_after"])))
            status, text = (503, "Service Unavailable") if fault == FAIL_503 else (429, "Too Many Requests")
            return Reply(status, _error(status, text, text), {"Retry-After": retry_after})
        if fault == SLOW and not self._pause(settings["slow_seconds"]):
            return Reply(0, drop=True)  # stopping: the client gave up long ago
        return None

    @staticmethod
    def _describe(route: Route, body: t.Any, entry: dict[str, t.Any]) -> None:
        """Item count and keys for the log, so tests can check batch sizes and key overlap."""
        resource = t.cast("Resource", route.resource)
        if route.kind == "upsert" and isinstance(body, list):
            objects = [item for item in body if isinstance(item, dict)]
            entry["items"] = len(body)
            entry["keys"] = [key_string(item, resource.key) for item in objects]
            entry["conflict_keys"] = [key_string(item, resource.conflict_fields) for item in objects]
        elif route.kind == "delete" and isinstance(body, dict) and isinstance(body.get(resource.delete_ids), list):
            ids = body[resource.delete_ids]
            parents = [route.params.get(field, "") for field in resource.delete_parents]
            entry["items"] = len(ids)
            entry["keys"] = entry["conflict_keys"] = ["|".join([*parents, str(i)]) for i in ids]

    def _delete_reply(self, route: Route, body: t.Any, *, applied_500: bool) -> Reply:
        resource = t.cast("Resource", route.resource)
        key = resource.delete_ids or ""
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            return _bad_request(f"Request body must be an object with '{key}' as an array of ids")
        if len(body[key]) > DELETE_BATCH:
            return _bad_request(f"At most {DELETE_BATCH} ids per bulk-delete (got {len(body[key])})")
        reply = self.delete(resource, route.params, body[key])
        return Reply(500, _error(500, "Internal server error", "Internal Server Error")) if applied_500 else reply

    # -- /_sandbox control endpoints (free: no key, no quota) -------------------------

    def control(self, method: str, path: str, raw: bytes) -> Reply:
        """Answer the inspection and fault-control endpoints."""
        name = path.removeprefix("/_sandbox/").rstrip("/")
        if method == "GET" and name.startswith("items/"):
            try:
                return Reply(200, self.items(urllib.parse.unquote(name.removeprefix("items/"))))
            except KeyError as exc:
                return Reply(404, _error(404, str(exc.args[0]), "Not Found"))
        views: dict[tuple[str, str], t.Callable[[], t.Any]] = {
            ("GET", "stats"): self.stats,
            ("GET", "requests"): lambda: self.requests,
            ("GET", "faults"): self.faults.snapshot,
            ("POST", "reset"): self._reset_view,
            ("POST", "faults"): lambda: self._faults_view(raw),
        }
        view = views.get((method, name))
        if view is None:
            return Reply(404, _error(404, f"Cannot {method} {path}", "Not Found"))
        try:
            return Reply(200, view())
        except (ValueError, TypeError) as exc:
            return _bad_request(str(exc))

    def _reset_view(self) -> dict:
        self.reset()
        return {"statusCode": 200, "message": "reset"}

    def _faults_view(self, raw: bytes) -> dict:
        body = json.loads(raw or b"{}")
        if not isinstance(body, dict):
            raise TypeError("body must be an object with 'script' and/or 'rates'")
        self.faults.set_rates(**(body.get("rates") or {}))
        self.faults.script_faults(body.get("script") or [])
        return {"statusCode": 200, **self.faults.snapshot()}


class _BodyTooLargeError(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms on Linux) and every answer gets that much slower.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "shopimind-sandbox"
    timeout = 300  # an idle keep-alive connection frees its thread eventually

    @property
    def sandbox(self) -> Sandbox:
        return t.cast("_Server", self.server).sandbox

    @override
    def setup(self) -> None:
        super().setup()
        self.sandbox.connection_opened(self.connection)

    @override
    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.sandbox.connection_closed(self.connection)

    @override
    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
        """Silence the default access log; `verbose` writes a richer line per /v1 request."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        if path == "/v1" or path.startswith("/v1/"):
            self._v1(method, path, urllib.parse.parse_qs(split.query))
            return
        raw, refusal = self._body()
        if refusal is None and path.startswith("/_sandbox/"):
            refusal = self.sandbox.control(method, path, raw)
        self._send(refusal or Reply(404, _error(404, f"Cannot {method} {path}", "Not Found")))

    def _v1(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        sandbox = self.sandbox
        entry: dict[str, t.Any] = {
            "method": method,
            "path": path,
            "resource": None,
            "status": 0,
            "items": 0,
            "keys": [],
            "conflict_keys": [],
            "fault": None,
            "started": time.time(),
            "ended": None,
        }
        with sandbox.in_flight():
            raw, reply = self._body()
            if reply is None:
                api_key = self.headers.get("spm-api-key")
                reply = sandbox.answer_v1(method, path, query=query, api_key=api_key, raw=raw, entry=entry)
            entry["status"] = 0 if reply.drop else reply.status
            entry["ended"] = time.time()  # before answering: the client cannot see the answer earlier
            sandbox.record(entry)
            if reply.drop:
                self._drop()
            else:
                self._send(reply)

    # -- socket I/O -----------------------------------------------------------------------

    def _body(self) -> tuple[bytes, Reply | None]:
        """Read the body, or the answer that refuses it (413, bad framing)."""
        try:
            return self._read_body(), None
        except _BodyTooLargeError:
            return b"", Reply(413, _error(413, "Request body exceeds 25 MiB", "Payload Too Large"))
        except ValueError:
            self.close_connection = True
            return b"", _bad_request("Malformed request body framing")

    def _read_body(self) -> bytes:
        """Read the body; a too large one is drained so the client can still read the 413."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._drain(length)
            raise _BodyTooLargeError
        return self.rfile.read(length) if length > 0 else b""

    def _drain(self, length: int) -> None:
        if length > 4 * MAX_BODY_BYTES:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            length = int(line or b"0", 16)
            if length == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            size += length
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                raise _BodyTooLargeError
            parts.append(self.rfile.read(length))
            self.rfile.readline(8)

    def _send(self, reply: Reply) -> None:
        html = isinstance(reply.body, str)
        payload = json.dumps(reply.body, ensure_ascii=False).encode() if reply.body is not None else b""
        payload = reply.body.encode() if html else payload
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/html" if html else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.drip <= 0:
            self.wfile.write(payload)
            return
        self.wfile.flush()
        for i in range(len(payload)):
            if not self.sandbox._pause(reply.drip):  # noqa: SLF001 - the server's own stop-aware sleep
                return
            self.wfile.write(payload[i : i + 1])
            self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopimind-sandbox",
        description="A local ShopiMind-compatible API (bulk upserts, bulk deletes, quota, faults) on loopback.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    add("--port", type=int, default=DEFAULT_PORT, help="port; 0 picks a free one (default 8787)")
    add("--api-key", default=DEFAULT_API_KEY, help="the spm-api-key clients must send")
    add("--quota", type=int, default=600, help="requests per 60 s per key; 0 = unlimited (default 600)")
    add("--latency-ms", type=float, default=0, help="delay before every /v1 answer")
    add("--fail-500-rate", type=float, default=0.0, help="share of writes answered 500, nothing stored")
    add("--fail-503-rate", type=float, default=0.0, help="share of writes answered 503 with Retry-After")
    add("--retry-after", type=float, default=1, help="Retry-After seconds on 503 answers")
    add("--drop-rate", type=float, default=0.0, help="share of writes whose connection is closed unanswered")
    add("--applied-then-500-rate", type=float, default=0.0, help="share of writes stored, then answered 500")
    add("--slow-rate", type=float, default=0.0, help="share of writes answered only after --slow-seconds")
    add("--slow-seconds", type=float, default=35.0, help="delay of slow answers (default 35)")
    add("--drip-rate", type=float, default=0.0, help="share of writes whose answer trickles out byte by byte")
    add("--drip-seconds", type=float, default=0.5, help="seconds between two bytes of a dripping answer")
    add(
        "--odd-200-rate", type=float, default=0.0, help="share of writes answered 200 with an HTML page, nothing stored"
    )
    add("--retry-after-header", default=None, help="Retry-After sent verbatim on 503/429 faults (seconds or HTTP date)")
    add("--error-style", choices=("strings", "nestjs"), default="strings", help="shape of rejected_items errors")
    add("--no-index", action="store_true", help="leave 'index' out of rejected_items entries")
    add("--reject-400-with-items", action="store_true", help="list rejected_items in the all-invalid 400 too")
    add("--strict-400", action="store_true", help="any invalid item refuses the whole batch (400, no rejected_items)")
    add(
        "--require-sdk-fields",
        action="store_true",
        help="also refuse items lacking fields the ShopiMind SDK types as required (default: only what "
        "ShopiMind is known to refuse)",
    )
    add("--seed", type=int, default=None, help="seed of the random fault draws")
    add("--state-file", default=None, help="JSON file loaded at start and written at stop")
    add("--quiet", action="store_true", help="no per-request line on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; the listening line goes to stdout so scripts can read the port."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; the sandbox only listens on 127.0.0.1, ::1")
    if not API_KEY_PATTERN.match(args.api_key):
        sys.stderr.write("warning: --api-key does not match ShopiMind's key pattern ^[a-zA-Z0-9-]{20,64}$\n")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: types.FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sandbox = Sandbox(
            args.host,
            args.port,
            api_key=args.api_key,
            quota=args.quota,
            latency_ms=args.latency_ms,
            fail_500_rate=args.fail_500_rate,
            fail_503_rate=args.fail_503_rate,
            retry_after=args.retry_after,
            drop_rate=args.drop_rate,
            applied_then_500_rate=args.applied_then_500_rate,
            slow_rate=args.slow_rate,
            slow_seconds=args.slow_seconds,
            drip_rate=args.drip_rate,
            drip_seconds=args.drip_seconds,
            odd_200_rate=args.odd_200_rate,
            retry_after_header=args.retry_after_header,
            error_style=args.error_style,
            index=not args.no_index,
            reject_400_with_items=args.reject_400_with_items,
            strict_400=args.strict_400,
            require_sdk_fields=args.require_sdk_fields,
            seed=args.seed,
            state_file=args.state_file,
            verbose=not args.quiet,
        ).start()
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"shopimind-sandbox: {exc}\n")
        return 1
    sys.stdout.write(f"shopimind-sandbox listening on {sandbox.url} (api key: {sandbox.api_key})\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
