"""The sandbox: a ShopiMind-compatible API on loopback, with its storage, quota, faults and log.

It answers the write endpoints with ShopiMind's envelopes, refuses items by its own
class-validator rules (`rules.py`, built from the resource table), enforces batch limits, the
`spm-api-key` check and a per-key quota, and injects latency and faults on demand.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import threading
import typing as t
import urllib.parse

from target_shopimind.resources import DELETE_BATCH, RESOURCES, Resource
from target_shopimind.sandbox.custom import CustomData
from target_shopimind.sandbox.faults import APPLIED_500, DRIP, OK, Faults
from target_shopimind.sandbox.handler import Handler, IPv6Server, Request, Server
from target_shopimind.sandbox.log import RequestLog, describe_write
from target_shopimind.sandbox.quota import Quota
from target_shopimind.sandbox.replies import Reply, bad_request, error, error_body, page, server_error
from target_shopimind.sandbox.routes import Call, Route, match_call, match_route
from target_shopimind.sandbox.rules import ItemRules, Violation, class_validator_tree
from target_shopimind.sandbox.storage import Storage, key_string

if t.TYPE_CHECKING:
    import types
    from collections.abc import Iterable, Sequence

    from typing_extensions import Self

DEFAULT_API_KEY = "sandbox-key-0123456789abcdef"
ERROR_STYLES = ("strings", "nestjs")


def is_loopback(host: str) -> bool:
    """Whether `host` only listens locally: the sandbox accepts any key it is given."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def nestjs_errors(errors: Iterable[Violation | str]) -> list[dict]:
    """Refusals as a class-validator tree, the shape a NestJS server returns.

    A string is a refusal given as `path: message` (`Sandbox.refuse`).
    """
    return class_validator_tree(e if isinstance(e, Violation) else Violation.from_text(e) for e in errors)


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
        if error_style not in ERROR_STYLES:
            raise ValueError(f"error_style must be 'strings' or 'nestjs', not {error_style!r}")
        self.host = host
        self.port = port
        self.api_key = api_key
        self._quota = Quota(quota, window_seconds)
        self.error_style = error_style
        self.index = index
        self.reject_400_with_items = reject_400_with_items
        self.strict_400 = strict_400
        # Also refuse items lacking fields the official SDK types as required (by default only
        # what the evidence shows ShopiMind refusing), so the api-stage rejection path can be tried.
        self.require_sdk_fields = require_sdk_fields
        self._rules = {flag: {r.name: ItemRules(r, require_sdk=flag) for r in RESOURCES} for flag in (False, True)}
        # Server-side refusals of items the rules accept: resource -> key -> errors.
        self.refusals: dict[str, dict[str, list[str]]] = {}
        self.state_file = os.fspath(state_file) if state_file else None
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
        self._storage = Storage(RESOURCES)
        # Custom data definitions, their records and the data sources (custom.py).
        self.custom = CustomData(rejected_entry=self._rejected_entry)
        self.custom.reject_400_with_items = reject_400_with_items
        self._log = RequestLog(verbose=verbose)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- settings kept as attributes -------------------------------------------------------

    @property
    def quota(self) -> int:
        """Requests per window per key (0 = unlimited)."""
        return self._quota.limit

    @quota.setter
    def quota(self, value: int) -> None:
        self._quota.limit = value

    @property
    def window_seconds(self) -> float:
        """The quota's sliding window."""
        return self._quota.window_seconds

    @window_seconds.setter
    def window_seconds(self, value: float) -> None:
        self._quota.window_seconds = value

    @property
    def verbose(self) -> bool:
        """One line per /v1 request on stderr."""
        return self._log.verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self._log.verbose = value

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Load the state file, bind and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._load_state()
        self._stopping.clear()
        server_class = IPv6Server if ":" in self.host else Server
        server = server_class((self.host.strip("[]"), self.port), Handler)
        server.app = self
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
        return custom if custom is not None else self._storage.items(resource_name)

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
        return self._log.entries

    def stats(self) -> dict[str, t.Any]:
        """Count items per resource and requests per status; report the concurrency high-water mark."""
        return {
            "items": self._storage.counts() | self.custom.counts(),
            "custom_data": self.custom.stats(),
            **self._log.counters(),
        }

    def script_faults(self, outcomes: Iterable[object]) -> None:
        """Give the next write/delete requests these outcomes in order, then random rates again."""
        self.faults.script_faults(outcomes)

    def refuse(self, resource_name: str, key: str, errors: list[str]) -> None:
        """Make the server refuse an item by upsert key (a rule only the server knows).

        Each error reads `field: message`; in the `nestjs` style it is the constraint `isValid`.
        """
        self.refusals.setdefault(resource_name, {})[key] = errors

    def set_rates(self, **settings: float) -> None:
        """Change fault rates or latency settings while running (see `Faults.set_rates`)."""
        self.faults.set_rates(**settings)

    def reset(self) -> None:
        """Empty store, log, counters and quota windows; faults back to their start settings."""
        self._storage.clear()
        self._log.clear()
        self._quota.reset()
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
            self._storage.load(RESOURCES, stored)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"cannot read sandbox state file {self.state_file}: {exc}") from exc
        self.custom.load(state.get("custom") or {})

    def _dump_state(self) -> None:
        if not self.state_file:
            return
        counters = self._log.counters()
        state = {
            "items": self._storage.dump(),
            "counts": self._storage.counts(),
            "requests": counters["requests"],
            "by_status": counters["by_status"],
            "custom": self.custom.dump(),
        }
        temporary = f"{self.state_file}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:  # noqa: PTH123
            json.dump(state, handle, ensure_ascii=False)
        os.replace(temporary, self.state_file)  # noqa: PTH105 - readers never see half a file

    # -- what the request handler calls (`handler.App`) ----------------------------------

    def connection_opened(self, connection: socket.socket) -> None:
        """Remember an open socket so `stop` can cut idle keep-alive connections."""
        with self._lock:
            self._connections.add(connection)

    def connection_closed(self, connection: socket.socket) -> None:
        """Forget a socket the handler is done with."""
        with self._lock:
            self._connections.discard(connection)

    def in_flight(self) -> contextlib.AbstractContextManager[None]:
        """Count a /v1 request as in flight, for the `max_in_flight` high-water mark."""
        return self._log.in_flight()

    def record(self, entry: dict) -> None:
        """Log a finished /v1 request (before its answer is written, so tests see it first)."""
        self._log.record(entry)

    def pause(self, seconds: float) -> bool:
        """Sleep unless the server stops meanwhile; False when it did."""
        if seconds > 0:
            return not self._stopping.wait(seconds)
        return not self._stopping.is_set()

    # -- endpoint logic ---------------------------------------------------------------

    def _errors_out(self, errors: Sequence[Violation | str]) -> list[t.Any]:
        if self.error_style == "nestjs":
            return nestjs_errors(errors)
        return [e.text if isinstance(e, Violation) else e for e in errors]

    def _rejected_entry(self, index: int, item: t.Any, errors: Sequence[Violation | str]) -> dict[str, t.Any]:
        """One `rejected_items` entry in this sandbox's style (index or not, strings or NestJS)."""
        entry: dict[str, t.Any] = {"index": index} if self.index else {}
        entry.update({"item": item, "errors": self._errors_out(errors)})
        return entry

    def _refusal(self, resource: Resource, item: dict) -> list[str]:
        """A refusal set with `refuse` for the item's key (only for items the rules accept)."""
        refused = self.refusals.get(resource.name)
        return (refused.get(key_string(item, resource.key)) or []) if refused else []

    def upsert(self, resource: Resource, items: list[t.Any], *, answer: bool = True) -> Reply:
        """Check each item, store the valid ones (replacing by key), report the others."""
        if len(items) > resource.max_batch:
            limit = f"At most {resource.max_batch} items per request for {resource.path}"
            return bad_request(f"{limit} (got {len(items)})")
        rules = self._rules[self.require_sdk_fields][resource.name]
        accepted: list[dict] = []
        rejected: list[dict] = []
        for i, item in enumerate(items):
            errors: Sequence[Violation | str] = rules.violations(item) or self._refusal(resource, item)
            if errors:
                rejected.append(self._rejected_entry(i, item, errors))
            else:
                accepted.append(item)
        if rejected and self.strict_400:
            return bad_request(f"{len(rejected)} invalid item(s) in the batch")  # and nothing stored
        self._storage.upsert(resource, accepted)
        if not answer:
            return server_error()
        if items and not accepted:
            body = error_body(400, "All items are invalid")
            if self.reject_400_with_items:
                body["rejected_items"] = rejected
            return Reply(400, body)
        counts = {"sent_count": len(accepted), "rejected_count": len(rejected)}
        return Reply(200, {"statusCode": 200, **counts, "rejected_items": rejected})

    def delete(self, resource: Resource, params: dict[str, str], ids: list[t.Any]) -> Reply:
        """Remove by id (and parent); unknown ids are skipped, as the API's deletes are idempotent."""
        parents = {field: params[field] for field in resource.delete_parents if field in params}
        self._storage.delete(resource, parents, ids)
        return Reply(200, {"statusCode": 200, "sent_count": len(ids), "rejected_count": 0, "rejected_items": []})

    def list_page(self, resource: Resource | None, query: dict[str, list[str]]) -> Reply:
        """ShopiMind's list envelope over stored items (carts: always empty)."""
        return Reply(200, page(self._storage.rows(resource), query))

    # -- /v1 answers ------------------------------------------------------------------

    def answer_v1(self, request: Request, entry: dict[str, t.Any]) -> Reply:
        """Answer one /v1 request; fills `entry` (resource, items, keys, fault) for the log."""
        method, path, query, raw = request.method, request.path, request.query, request.raw
        route = match_route(method, path)
        if route is not None:
            entry["resource"] = route.resource.name if route.resource else "carts"
        call = match_call(method, path) if route is None else None
        refusal = self._gate(request.api_key)
        if refusal is not None:
            if call is not None and refusal.status == 429:
                with contextlib.suppress(ValueError):
                    self.custom.describe(call, json.loads(raw) if raw.strip() else None, entry)
            if route is not None and route.kind in {"upsert", "delete"} and refusal.status == 429:
                with contextlib.suppress(ValueError):  # log what the refused request carried
                    describe_write(route, json.loads(raw) if raw.strip() else None, entry)
            return refusal
        if route is None:
            if call is not None:
                return self._custom_reply(call, query, raw, entry)
            return error(404, f"Cannot {method} {path}")
        return self._routed(route, query, raw, entry)

    def _custom_reply(self, call: Call, query: dict[str, list[str]], raw: bytes, entry: dict) -> Reply:
        """Custom data and data sources; record writes get the faults other bulk writes get."""
        body: t.Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                self.custom.describe(call, None, entry)
                return bad_request(f"Request body is not valid JSON: {exc}")
        self.custom.describe(call, body, entry)
        fault = OK
        if call.write:
            entry["fault"] = fault = self.faults.next()
            faulted = self._fault_reply(fault)
            if faulted is not None:
                return faulted
        status, answer = self.custom.answer(call, query, body)
        if fault == APPLIED_500:
            return server_error()
        return Reply(status, answer)

    def _routed(self, route: Route, query: dict[str, list[str]], raw: bytes, entry: dict[str, t.Any]) -> Reply:
        if route.kind in {"list", "carts"}:
            return self.list_page(route.resource, query)
        try:
            body: t.Any = json.loads(raw) if raw.strip() else None
            parse_error = None if raw.strip() else "Request body is empty"
        except ValueError as exc:
            body, parse_error = None, f"Request body is not valid JSON: {exc}"
        describe_write(route, body, entry)
        entry["fault"] = fault = self.faults.next()
        reply = self._fault_reply(fault) or self._write_reply(route, body, parse_error, fault)
        if fault == DRIP:
            reply.drip = self.faults.settings["drip_seconds"]
        return reply

    def _write_reply(self, route: Route, body: t.Any, parse_error: str | None, fault: str) -> Reply:
        if parse_error:
            return bad_request(parse_error)
        if route.kind == "delete":
            return self._delete_reply(route, body, applied_500=fault == APPLIED_500)
        if not isinstance(body, list):
            return bad_request("Request body must be a JSON array of items")
        return self.upsert(t.cast("Resource", route.resource), body, answer=fault != APPLIED_500)

    def _delete_reply(self, route: Route, body: t.Any, *, applied_500: bool) -> Reply:
        resource = t.cast("Resource", route.resource)
        key = resource.delete_ids or ""
        if not isinstance(body, dict) or not isinstance(body.get(key), list):
            return bad_request(f"Request body must be an object with '{key}' as an array of ids")
        if len(body[key]) > DELETE_BATCH:
            return bad_request(f"At most {DELETE_BATCH} ids per bulk-delete (got {len(body[key])})")
        reply = self.delete(resource, route.params, body[key])
        return server_error() if applied_500 else reply

    def _gate(self, api_key: str | None) -> Reply | None:
        """Auth, then quota at arrival, then latency: what every /v1 request goes through."""
        if not api_key:
            return error(401, "Missing API key.")
        if api_key != self.api_key:
            return error(401, "Invalid API key.")
        wait = self._quota.admit(api_key)
        if wait is not None:
            return Reply(429, error_body(429, "Too Many Requests"), {"Retry-After": str(wait)})
        if not self.pause(self.faults.settings["latency_ms"] / 1000):
            return Reply(0, drop=True)  # stopping
        return None

    def _fault_reply(self, fault: str) -> Reply | None:
        """Answer for faults that replace processing; None lets the request be processed."""
        return self.faults.reply(fault, retry_after_header=self.retry_after_header, pause=self.pause)

    # -- /_sandbox control endpoints (free: no key, no quota) -------------------------

    def control(self, method: str, path: str, raw: bytes) -> Reply:
        """Answer the inspection and fault-control endpoints."""
        name = path.removeprefix("/_sandbox/").rstrip("/")
        if method == "GET" and name.startswith("items/"):
            try:
                return Reply(200, self.items(urllib.parse.unquote(name.removeprefix("items/"))))
            except KeyError as exc:
                return error(404, str(exc.args[0]))
        views: dict[tuple[str, str], t.Callable[[], t.Any]] = {
            ("GET", "stats"): self.stats,
            ("GET", "requests"): lambda: self.requests,
            ("GET", "faults"): self.faults.snapshot,
            ("POST", "reset"): self._reset_view,
            ("POST", "faults"): lambda: self._faults_view(raw),
        }
        view = views.get((method, name))
        if view is None:
            return error(404, f"Cannot {method} {path}")
        try:
            return Reply(200, view())
        except (ValueError, TypeError) as exc:
            return bad_request(str(exc))

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
