#!/usr/bin/env python
"""Benchmark target-shopimind against the bundled sandbox.

    .venv/bin/python tests/benchmarks/bench.py            # every scenario (the 1M-record one takes minutes)
    .venv/bin/python tests/benchmarks/bench.py --quick    # smaller inputs, about two minutes
    .venv/bin/python tests/benchmarks/bench.py --only customers,mixed
    .venv/bin/python tests/benchmarks/bench.py --only children-10k,children-100k   # child streams

Each scenario writes its Singer input into a temporary directory, starts a sandbox in a child
process (so this process stays small, see `SandboxProcess`), and runs the real CLI (`python -m target_shopimind.target`) as a subprocess with the
input file on stdin. Every scenario runs twice: as configured (`max_concurrent_requests` 4,
the default) and as a serial baseline (`max_concurrent_requests` 1: one request in flight,
chunks sent one after another, as a plain SDK BatchSink or the official JavaScript SDK do).

Figures, per run:
- quota use: requests per minute from the first request's start to the last one's start, as
  the sandbox logged them, divided by `max_requests_per_minute` (the quota);
- full batches: upsert requests carrying the resource's maximum, out of all upsert requests
  except the partial ones a stream's end or a checkpoint forces (at most one per resource per
  drain; drains = STATE lines the target printed);
- records/s over the delivery span (first request start to last request end), and wall time;
- 429 answers the sandbox gave (nobody else uses the key, so each one is the target's own);
- CPU seconds (user + system) per 100,000 records and peak RSS of the target process only,
  from `os.wait4`.

The `resync` scenario measures the sync store: one sandbox, three runs on one store (run 1
sends everything, run 2 the same input again, run 3 with 1% of the rows changed), once with
change detection on and once off; then peak RSS of a run with the store on at two sizes.

Speed goals are printed, never asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from target_shopimind.resources import BY_NAME  # noqa: E402
from target_shopimind.routing import route  # noqa: E402
from target_shopimind.sandbox import DEFAULT_API_KEY, Sandbox  # noqa: E402

TARGET = [sys.executable, "-m", "target_shopimind.target"]
QUOTA_GOAL = 0.95
FILL_GOAL = 0.99
UNLIMITED_RPM = 100_000  # the setting's maximum: no client-side cap that matters for the cost scenarios
TS = "2026-05-07T08:00:00+00:00"


# --- inputs ------------------------------------------------------------------------------


def _sample_streams() -> dict[str, tuple[dict, list[str], list[dict]]]:
    """Schemas and one valid row per stream from the repository's sample shop."""
    path = ROOT / "tests" / "data" / "make_shop_singer.py"
    spec = importlib.util.spec_from_file_location("make_shop_singer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.STREAMS


# How to make row n of each sample stream unique (its upsert key and unique fields).
VARY: dict[str, t.Callable[[int], dict[str, t.Any]]] = {
    "public-customer_groups": lambda n: {"id": n},
    "public-order_statuses": lambda n: {"status_id": f"s{n}"},
    "public-carriers": lambda n: {"id": n},
    "public-categories": lambda n: {"id": n},
    "public-manufacturers": lambda n: {"id": n},
    "public-products": lambda n: {"id": n, "name": f"Product {n}"},
    "public-variations": lambda n: {"product_id": n // 10, "variation_id": n},
    "public-product_images": lambda n: {"product_id": n // 10, "image_id": n},
    "public-customers": lambda n: {"id": n, "email": f"c{n}@example.com"},
    "public-addresses": lambda n: {"customer_id": n, "id": n},
    "public-orders": lambda n: {"id": n, "customer_id": n, "customer_email": f"c{n}@example.com"},
    "public-vouchers": lambda n: {"id": n, "code": f"SPM-{n}"},
    "public-subscribers": lambda n: {"email": f"n{n}@example.com"},
}

CUSTOMER_SCHEMA = {
    "id": {"type": ["integer", "null"]},
    "email": {"type": ["string", "null"]},
    "first_name": {"type": ["string", "null"]},
    "last_name": {"type": ["string", "null"]},
    "lang": {"type": ["string", "null"]},
    "is_newsletter_subscribed": {"type": ["boolean", "null"]},
    "created_at": {"type": ["string", "null"], "format": "date-time"},
    "updated_at": {"type": ["string", "null"], "format": "date-time"},
}


@dataclasses.dataclass
class Input:
    """A generated input file and what it holds."""

    path: Path
    records: int
    expected: dict[str, int]  # resource -> distinct items that must land


def _line(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def customers_input(path: Path, count: int, *, state_every: int = 10_000, changed_every: int = 0) -> Input:
    """One `public-customers` stream, a STATE every `state_every` records (as SDK taps do).

    `changed_every`: every n-th row gets another first name (the re-sync scenario's edits).
    """
    stream = "public-customers"
    with path.open("wb") as out:
        out.write(
            _line(
                {
                    "type": "SCHEMA",
                    "stream": stream,
                    "schema": {"type": "object", "properties": CUSTOMER_SCHEMA},
                    "key_properties": ["id"],
                }
            )
        )
        for n in range(1, count + 1):
            row = {
                "id": n,
                "email": f"c{n}@example.com",
                "first_name": "Grace" if changed_every and n % changed_every == 0 else "Ada",
                "last_name": f"Lovelace {n}",
                "lang": "fr_FR",
                "is_newsletter_subscribed": n % 2 == 0,
                "created_at": "2026-05-07T10:00:00+02:00",
                "updated_at": TS,
            }
            out.write(_line({"type": "RECORD", "stream": stream, "record": row}))
            if n % state_every == 0 or n == count:
                out.write(_line({"type": "STATE", "value": {"bookmarks": {stream: {"replication_key_value": n}}}}))
    return Input(path, count, {"customers": count})


def mixed_input(path: Path, scale: float) -> Input:
    """Every resource, one stream after another in reference order, like tap-postgres emits tables.

    About 20 requests per 50-item resource and 10 per 100-item one, each stream ending on a
    partial batch, so the end flush has one per resource.
    """
    streams = _sample_streams()
    expected: dict[str, int] = {}
    records = 0
    with path.open("wb") as out:
        for stream, (props, key, rows) in streams.items():
            resource = route(stream, {}).resource
            if resource is None or stream not in VARY:
                continue
            full_batches, rest = (20, 17) if resource.max_batch == 50 else (10, 37)
            count = int(resource.max_batch * full_batches * scale) + rest
            out.write(
                _line(
                    {
                        "type": "SCHEMA",
                        "stream": stream,
                        "schema": {"type": "object", "properties": props},
                        "key_properties": key,
                    }
                )
            )
            template = rows[0]
            for n in range(1, count + 1):
                out.write(_line({"type": "RECORD", "stream": stream, "record": {**template, **VARY[stream](n)}}))
                if n % 1000 == 0 or n == count:
                    out.write(_line({"type": "STATE", "value": {"bookmarks": {stream: {"replication_key_value": n}}}}))
            expected[resource.name] = count
            records += count
    return Input(path, records, expected)


CUSTOM_STREAM = "public-loyalty_accounts"
CUSTOM_DEFINITION = "Bench loyalty accounts"
CUSTOM_DATA = {CUSTOM_STREAM: {"definition": CUSTOM_DEFINITION, "contact": {"column": "email", "by": "email"}}}
CUSTOM_SCHEMA = {
    "account_id": {"type": ["integer"]},
    "email": {"type": ["string", "null"]},
    "points": {"type": ["integer", "null"]},
    "tier": {"type": ["string", "null"]},
    "opened_at": {"type": ["string", "null"], "format": "date-time"},
}


def custom_input(path: Path, count: int, *, state_every: int = 1_000) -> Input:
    """One stream loaded into a custom data definition (`custom_data`), 20 records a request."""
    with path.open("wb") as out:
        out.write(
            _line(
                {
                    "type": "SCHEMA",
                    "stream": CUSTOM_STREAM,
                    "schema": {"type": "object", "properties": CUSTOM_SCHEMA},
                    "key_properties": ["account_id"],
                }
            )
        )
        for n in range(1, count + 1):
            row = {"account_id": n, "email": f"m{n}@example.com", "points": n % 5000, "tier": "gold", "opened_at": TS}
            out.write(_line({"type": "RECORD", "stream": CUSTOM_STREAM, "record": row}))
            if n % state_every == 0:
                out.write(
                    _line({"type": "STATE", "value": {"bookmarks": {CUSTOM_STREAM: {"replication_key_value": n}}}})
                )
    return Input(path, count, {f"custom:{CUSTOM_DEFINITION}": count})


def max_batch(resource: str) -> int:
    """A resource's items per request (custom data definitions: 20)."""
    return 20 if resource.startswith("custom:") else BY_NAME[resource].max_batch


ORDER_SCHEMA = {
    "id": {"type": ["integer"]},
    "lang": {"type": ["string"]},
    "status_id": {"type": ["string"]},
    "customer_id": {"type": ["integer"]},
    "customer_email": {"type": ["string"]},
    "customer_created_at": {"type": ["string"], "format": "date-time"},
    "cart_id": {"type": ["integer"]},
    "amount": {"type": ["number"]},
    "amount_without_tax": {"type": ["number"]},
    "shipping_costs": {"type": ["number"]},
    "shipping_costs_without_tax": {"type": ["number"]},
    "currency": {"type": ["string"]},
    "is_confirmed": {"type": ["boolean"]},
    "created_at": {"type": ["string"], "format": "date-time"},
    "updated_at": {"type": ["string"], "format": "date-time"},
}
LINE_SCHEMA = {
    "id": {"type": ["integer"]},
    "order_id": {"type": ["integer"]},
    "product_id": {"type": ["integer"]},
    "price": {"type": ["number"]},
    "price_without_tax": {"type": ["number"]},
    "quantity": {"type": ["integer"]},
}
CHILD_STREAMS = {"public-order_lines": {"into": "orders.products", "parent_key": "order_id"}}


def orders_with_lines_input(path: Path, *, orders: int, lines: int = 3, state_every: int = 10_000) -> Input:
    """`public-order_lines` then `public-orders` (tap-postgres' table order), `lines` lines per order."""
    with path.open("wb") as out:
        stream = "public-order_lines"
        out.write(
            _line({"type": "SCHEMA", "stream": stream, "schema": {"properties": LINE_SCHEMA}, "key_properties": ["id"]})
        )
        for n in range(1, orders * lines + 1):
            row: dict[str, t.Any] = {"id": n, "order_id": (n - 1) // lines + 1, "product_id": 100 + n % 7}
            row["price"] = 10.5
            row.update({"price_without_tax": 8.75, "quantity": 1 + n % 3})
            out.write(_line({"type": "RECORD", "stream": stream, "record": row}))
            if n % state_every == 0:
                out.write(_line({"type": "STATE", "value": {"bookmarks": {stream: {"replication_key_value": n}}}}))
        stream = "public-orders"
        out.write(
            _line(
                {"type": "SCHEMA", "stream": stream, "schema": {"properties": ORDER_SCHEMA}, "key_properties": ["id"]}
            )
        )
        for n in range(1, orders + 1):
            row = {
                "id": n,
                "lang": "fr",
                "status_id": "paid",
                "customer_id": n % 1000,
                "customer_email": f"c{n % 1000}@example.com",
                "customer_created_at": TS,
                "cart_id": n,
                "amount": 31.5,
                "amount_without_tax": 26.25,
                "shipping_costs": 0,
                "shipping_costs_without_tax": 0,
                "currency": "EUR",
                "is_confirmed": True,
                "created_at": TS,
                "updated_at": TS,
            }
            out.write(_line({"type": "RECORD", "stream": stream, "record": row}))
            if n % state_every == 0 or n == orders:
                bookmarks = {"public-order_lines": {"replication_key_value": orders * lines}, stream: {"n": n}}
                out.write(_line({"type": "STATE", "value": {"bookmarks": bookmarks}}))
    return Input(path, orders * (lines + 1), {"orders": orders})


# --- the sandbox, in its own process ------------------------------------------------------
#
# Linux charges a child's ru_maxrss with the RSS its parent had when the child was spawned
# (exec records the old address space's high-water mark). A sandbox holding a million items
# in this process would thus inflate the target's figure; so the sandbox runs in a child of
# its own and reports figures computed from its request log, and this process stays small.


def log_figures(sandbox: Sandbox, expected: dict[str, int]) -> dict[str, t.Any]:
    """What a run did on the wire, from the sandbox's request log (runs in the sandbox process)."""
    log = [e for e in sandbox.requests if e["method"] == "POST" and e["path"].startswith("/v1/")]
    stats = sandbox.stats()
    starts = sorted(e["started"] for e in log)
    upserts = [e for e in log if e["status"] == 200 and e["resource"] and not e["path"].endswith("bulk-delete")]
    partial: dict[str, int] = {}
    for e in upserts:
        if e["items"] != max_batch(e["resource"]):
            partial[e["resource"]] = partial.get(e["resource"], 0) + 1
    return {
        "requests": len(log),
        "first_start": starts[0] if starts else 0.0,
        "last_start": starts[-1] if starts else 0.0,
        "last_end": max((e["ended"] for e in log), default=0.0),
        "upserts": len(upserts),
        "full": sum(1 for e in upserts if e["items"] == max_batch(e["resource"])),
        "partial": partial,
        "throttled": sum(1 for e in log if e["status"] == 429),
        "statuses": stats["by_status"],
        "max_in_flight": stats["max_in_flight"],
        "landed_ok": all(stats["items"].get(name, 0) == count for name, count in expected.items()),
    }


def serve_sandbox(spec: str) -> int:
    """`bench.py --serve-sandbox JSON`: run a sandbox; answer `report` lines on stdin."""
    sandbox = Sandbox(port=0, seed=1, **json.loads(spec)).start()
    print(json.dumps({"url": sandbox.url}), flush=True)
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["op"] == "report":
                print(json.dumps(log_figures(sandbox, command["expected"])), flush=True)
    finally:
        sandbox.stop()
    return 0


class SandboxProcess:
    """A sandbox child process: `url`, then `report(expected)`, then `close()`."""

    def __init__(self, **settings: t.Any) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-sandbox", json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def report(self, expected: dict[str, int]) -> dict[str, t.Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": "report", "expected": expected}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# --- one run -----------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """The figures of one run of the target."""

    label: str
    exit_code: int
    records: int
    requests: int
    quota: int | None  # max_requests_per_minute when it is the limit, else None
    rpm: float
    upserts: int
    full: int
    partial: int
    excused: int
    throttled: int
    span: float
    wall: float
    cpu: float
    rss_mb: float
    drains: int
    landed_ok: bool
    max_in_flight: int
    rejected: int
    parent_rss_mb: float

    @property
    def quota_use(self) -> float | None:
        return self.rpm / self.quota if self.quota else None

    @property
    def fill(self) -> float:
        counted = self.upserts - self.excused
        return self.full / counted if counted else 1.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.span if self.span > 0 else 0.0

    @property
    def cpu_per_100k(self) -> float:
        return self.cpu / self.records * 100_000 if self.records else 0.0


def _own_rss_mb() -> float:
    with open("/proc/self/status") as status:  # noqa: PTH123
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_target(
    label: str,
    work: Path,
    data: Input,
    *,
    latency_ms: float,
    sandbox_quota: int,
    config: dict[str, t.Any],
    shared: SandboxProcess | None = None,
) -> Result:
    """Start a sandbox (or use `shared`: figures are then cumulative), run the CLI on `data`, and measure."""
    sandbox = shared or SandboxProcess(quota=sandbox_quota, latency_ms=latency_ms)
    try:
        cfg = {"api_key": DEFAULT_API_KEY, "base_url": sandbox.url, "store_path": str(work / "store"), **config}
        stem = label.replace("/", "-")
        cfg_path = work / f"{stem}.config.json"
        cfg_path.write_text(json.dumps(cfg))
        out_path, err_path = work / f"{stem}.stdout", work / f"{stem}.stderr"
        parent_rss = _own_rss_mb()
        with data.path.open("rb") as stdin, out_path.open("wb") as stdout, err_path.open("wb") as stderr:
            began = time.monotonic()
            proc = subprocess.Popen(
                [*TARGET, "--config", str(cfg_path)], stdin=stdin, stdout=stdout, stderr=stderr, cwd=ROOT
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - began
            proc.returncode = os.waitstatus_to_exitcode(status)
        figures = sandbox.report(data.expected)
    finally:
        if shared is None:
            sandbox.close()
    states = [json.loads(line) for line in out_path.read_text().splitlines() if line.strip()]
    rejected = sum((states[-1].get("target_shopimind", {}).get("rejected_count") or {}).values()) if states else -1
    if proc.returncode != 0 or not figures["landed_ok"]:
        tail = err_path.read_text(errors="replace")[-2000:]
        print(
            f"  !! {label}: exit {proc.returncode}, landed as expected: {figures['landed_ok']}\n{tail}", file=sys.stderr
        )
    n, first, last = figures["requests"], figures["first_start"], figures["last_start"]
    drains = len(states)
    return Result(
        label=label,
        exit_code=proc.returncode,
        records=data.records,
        requests=n,
        quota=int(config.get("max_requests_per_minute", 600)) if sandbox_quota else None,
        rpm=(n - 1) / (last - first) * 60 if n > 1 and last > first else 0.0,
        upserts=figures["upserts"],
        full=figures["full"],
        partial=sum(figures["partial"].values()),
        excused=sum(min(count, drains) for count in figures["partial"].values()),
        throttled=figures["throttled"],
        span=figures["last_end"] - first,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,
        drains=drains,
        landed_ok=figures["landed_ok"],
        max_in_flight=figures["max_in_flight"],
        rejected=rejected,
        parent_rss_mb=parent_rss,
    )


# --- scenarios ---------------------------------------------------------------------------


@dataclasses.dataclass
class Scenario:
    """An input, a sandbox setting and a target config, run as configured and serially."""

    name: str
    title: str
    make: t.Callable[[Path], Input]
    latency_ms: float
    sandbox_quota: int  # 0 = unlimited
    config: dict[str, t.Any]
    serial: bool = True
    store: bool = False  # a fresh store_path of its own for each run


def scenarios(quick: bool) -> list[Scenario]:
    n_customers = 1_500 if quick else 6_000
    small, large = (20_000, 100_000) if quick else (100_000, 1_000_000)
    at_quota = {"max_requests_per_minute": 600}
    unlimited = {"max_requests_per_minute": UNLIMITED_RPM}
    return [
        Scenario(
            "customers",
            f"{n_customers:,} customers, one stream, 300 ms latency, sandbox quota 600/min",
            lambda p: customers_input(p, n_customers, state_every=1_000),
            300,
            600,
            at_quota,
        ),
        Scenario(
            "mixed",
            "every resource, stream after stream, 300 ms latency, sandbox quota 600/min",
            lambda p: mixed_input(p, 0.25 if quick else 1.0),
            300,
            600,
            at_quota,
        ),
        Scenario(
            "custom",
            "20,000 custom data records (20 a request), 300 ms latency, sandbox quota 600/min",
            lambda p: custom_input(p, 20_000),
            300,
            600,
            {**at_quota, "custom_data": CUSTOM_DATA},
            serial=False,  # a serial baseline at 300 ms would take 5 minutes
        ),
        Scenario(
            f"cost-{small // 1000}k",
            f"{small:,} customers, zero latency, unlimited quota (CPU and memory)",
            lambda p: customers_input(p, small),
            0,
            0,
            unlimited,
        ),
        Scenario(
            f"cost-{large // 1000}k" if large < 1_000_000 else "cost-1M",
            f"{large:,} customers, zero latency, unlimited quota (CPU and memory)",
            lambda p: customers_input(p, large),
            0,
            0,
            unlimited,
        ),
        *(
            Scenario(
                f"children-{orders // 1000}k",
                f"{orders:,} orders with {3 * orders:,} lines in their own stream (child_streams), "
                "50 ms latency, sandbox quota 600/min",
                functools.partial(orders_with_lines_input, orders=orders),
                50,
                600,
                {**at_quota, "child_streams": CHILD_STREAMS},
                serial=False,
                store=True,
            )
            for orders in ((2_000, 20_000) if quick else (10_000, 100_000))
        ),
    ]


# --- re-sync: the sync store -------------------------------------------------------------


def resync(work: Path, count: int, large: int) -> None:
    """Runs 1-3 on one store, with the store on and off; then peak RSS at `count` and `large` records."""
    same = customers_input(work / "resync.jsonl", count)
    changed = customers_input(work / "resync-1pct.jsonl", count, changed_every=100)
    unlimited = {"max_requests_per_minute": UNLIMITED_RPM}
    print(
        f"{'run':<22} {'exit':>4} {'records':>9} {'writes':>7} {'CPU s':>7} {'CPU/100k':>8} {'RSS MB':>7} {'store MB':>8}"
    )
    cpu: dict[str, float] = {}
    for mode, extra in (("store on", {}), ("store off", {"change_detection": False})):
        folder = work / f"store-{mode.split()[-1]}"
        sandbox = SandboxProcess(quota=0, latency_ms=0)
        try:
            before = 0
            for n, data in ((1, same), (2, same), (3, changed)):
                label = f"resync/{mode.split()[-1]}/run{n}"
                config = {**unlimited, **extra, "store_path": str(folder)}
                r = run_target(label, work, data, latency_ms=0, sandbox_quota=0, config=config, shared=sandbox)
                writes, before = r.requests - before, r.requests
                size = sum(f.stat().st_size for f in folder.glob("*.sqlite3*")) / 1e6
                print(
                    f"{label:<22} {r.exit_code:>4} {r.records:>9,} {writes:>7} {r.cpu:>7.2f} "
                    f"{r.cpu_per_100k:>8.2f} {r.rss_mb:>7.1f} {size:>8.2f}",
                    flush=True,
                )
                cpu[f"{mode}/{n}"] = r.cpu_per_100k
        finally:
            sandbox.close()
    for n in (1, 2, 3):
        on, off = cpu[f"store on/{n}"], cpu[f"store off/{n}"]
        print(f"  run {n}: CPU/100k with the store {on:.2f} s vs without {off:.2f} s (x{on / off:.2f}, goal <= x1.3)")
    print(f"  goals: run 2 = 0 write requests; run 3 <= ceil({count // 100}/50) + 1 = {-(-count // 100 // 50) + 1}")
    rss = []
    for size in (count, large):
        data = same if size == count else customers_input(work / "resync-large.jsonl", size)
        folder = work / f"store-rss-{size}"
        sandbox = SandboxProcess(quota=0, latency_ms=0)
        try:
            for n in (1, 2):
                label = f"resync/rss/{size // 1000}k/run{n}"
                config = {**unlimited, "store_path": str(folder)}
                r = run_target(label, work, data, latency_ms=0, sandbox_quota=0, config=config, shared=sandbox)
                rss.append((size, n, r.rss_mb))
                store_mb = sum(f.stat().st_size for f in folder.glob("*.sqlite3")) / 1e6
                print(f"  {label}: peak RSS {r.rss_mb:.1f} MB, store file {store_mb:.1f} MB", flush=True)
        finally:
            sandbox.close()
    small_peak = max(m for s_, _, m in rss if s_ == count)
    large_peak = max(m for s_, _, m in rss if s_ == large)
    print(
        f"  peak RSS with the store: {small_peak:.1f} MB at {count:,} records, {large_peak:.1f} MB at {large:,} "
        f"(x{large_peak / small_peak:.2f}): " + ("flat" if large_peak / small_peak < 1.25 else "GROWS WITH INPUT")
    )


# --- report ------------------------------------------------------------------------------

HEADER = (
    f"{'run':<22} {'exit':>4} {'records':>9} {'reqs':>6} {'req/min':>8} {'÷quota':>7} {'full':>7} "
    f"{'partial':>7} {'rec/s':>7} {'429':>4} {'inflt':>5} {'wall s':>7} {'CPU s':>7} {'CPU/100k':>8} {'RSS MB':>7}"
)


def row(r: Result) -> str:
    use = f"{r.quota_use:.1%}" if r.quota_use is not None else "n/a"
    return (
        f"{r.label:<22} {r.exit_code:>4} {r.records:>9,} {r.requests:>6} {r.rpm:>8.1f} {use:>7} {r.fill:>7.2%} "
        f"{f'{r.partial}/{r.excused}':>7} {r.records_per_s:>7.0f} {r.throttled:>4} {r.max_in_flight:>5} "
        f"{r.wall:>7.1f} {r.cpu:>7.2f} {r.cpu_per_100k:>8.2f} {r.rss_mb:>7.1f}"
    )


def verdicts(name: str, main: Result, serial: Result | None) -> list[str]:
    out = []
    ok = main.exit_code == 0 and main.landed_ok and main.rejected == 0
    out.append(
        f"  correct: exit {main.exit_code}, every item landed: {main.landed_ok}, rejected: {main.rejected}"
        + ("" if ok else "   <-- PROBLEM")
    )
    if main.quota_use is not None:
        flag = "ok" if main.quota_use >= QUOTA_GOAL else "BELOW GOAL"
        out.append(
            f"  quota use {main.quota_use:.1%} (goal >= {QUOTA_GOAL:.0%}): {flag}; "
            f"429s caused by the target: {main.throttled}" + ("" if main.throttled == 0 else "   <-- PROBLEM")
        )
    flag = "ok" if main.fill >= FILL_GOAL else "BELOW GOAL"
    out.append(
        f"  full batches {main.full}/{main.upserts - main.excused} = {main.fill:.2%} (goal >= {FILL_GOAL:.0%}): "
        f"{flag}; {main.partial} partial, {main.excused} excused (stream ends / {main.drains} drains)"
    )
    if serial is not None:
        speed = main.records_per_s / serial.records_per_s if serial.records_per_s else float("nan")
        rate = main.rpm / serial.rpm if serial.rpm else float("nan")
        out.append(
            f"  vs serial baseline: x{speed:.2f} records/s, x{rate:.2f} requests/min"
            + (f" (serial uses {serial.quota_use:.1%} of the quota)" if serial.quota_use is not None else "")
            + f"; CPU/100k {main.cpu_per_100k:.2f} s vs {serial.cpu_per_100k:.2f} s"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs (1,500 customers; 20k/100k cost runs)")
    parser.add_argument("--only", default="", help="comma-separated scenario names (customers, mixed, cost-...)")
    parser.add_argument("--no-serial", action="store_true", help="skip the serial baseline runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (inputs, logs)")
    parser.add_argument("--serve-sandbox", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sandbox:
        return serve_sandbox(args.serve_sandbox)
    chosen = [s for s in scenarios(args.quick) if not args.only or s.name in args.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="shopimind-bench-"))
    print(
        f"target-shopimind benchmark ({'quick' if args.quick else 'full'}), Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, work dir {work}"
    )
    results: dict[str, tuple[Result, Result | None]] = {}
    try:
        if not args.only or "resync" in args.only.split(","):
            count, large = (20_000, 100_000) if args.quick else (100_000, 1_000_000)
            print(f"\n== resync: {count:,} customers, three runs on one sync store, store on and off", flush=True)
            resync(work, count, large)
        for scenario in chosen:
            print(f"\n== {scenario.name}: {scenario.title}", flush=True)
            began = time.monotonic()
            data = scenario.make(work / f"{scenario.name}.jsonl")
            size = data.path.stat().st_size / 1e6
            print(
                f"   input: {data.records:,} records, {size:.1f} MB, written in {time.monotonic() - began:.1f} s",
                flush=True,
            )
            runs: list[Result] = []
            for label, extra in (("", {}), ("serial", {"max_concurrent_requests": 1})):
                if label and (args.no_serial or not scenario.serial):
                    continue
                name = f"{scenario.name}{'/' + label if label else ''}"
                config: dict[str, t.Any] = {**scenario.config, **extra}
                if scenario.store:
                    config["store_path"] = str(work / f"{scenario.name}-{label or 'main'}-store")
                runs.append(
                    run_target(
                        name,
                        work,
                        data,
                        latency_ms=scenario.latency_ms,
                        sandbox_quota=scenario.sandbox_quota,
                        config=config,
                    )
                )
                print(f"   {name}: done in {runs[-1].wall:.1f} s", flush=True)
            main_run, serial_run = runs[0], runs[1] if len(runs) > 1 else None
            results[scenario.name] = (main_run, serial_run)
            print(HEADER)
            for r in runs:
                print(row(r))
            for line in verdicts(scenario.name, main_run, serial_run):
                print(line)
            data.path.unlink()
        cost = [(name, pair[0]) for name, pair in results.items() if name.startswith("cost-")]
        if len(cost) >= 2:
            (n1, r1), (n2, r2) = cost[0], cost[-1]
            growth = r2.rss_mb / r1.rss_mb if r1.rss_mb else float("nan")
            print(
                f"\n== memory: peak RSS {r1.rss_mb:.1f} MB for {r1.records:,} records vs {r2.rss_mb:.1f} MB for "
                f"{r2.records:,} (x{growth:.2f} for x{r2.records / r1.records:.0f} the input): "
                + ("flat" if growth < 1.25 else "GROWS WITH INPUT")
            )
            print(
                f"   (ru_maxrss of a child includes its parent's RSS at spawn time; this process's peak was "
                f"{max(r1.parent_rss_mb, r2.parent_rss_mb):.1f} MB, below the figures above)"
            )
            print(f"== CPU: {r1.cpu_per_100k:.2f} s per 100k records ({n1}), {r2.cpu_per_100k:.2f} s ({n2})")
        children = [(name, pair[0]) for name, pair in results.items() if name.startswith("children-")]
        for name, r in children:
            bound = r.requests / 10  # the quota's lower bound: 600 requests a minute
            ratio = r.wall / bound if bound else float("nan")
            print(
                f"\n== {name}: wall {r.wall:.1f} s vs the quota's lower bound {bound:.1f} s ({r.requests} requests "
                f"at 10/s): x{ratio:.3f} (goal <= 1.15: {'ok' if ratio <= 1.15 else 'ABOVE GOAL'}); "
                f"CPU {r.cpu_per_100k:.2f} s per 100k records; peak RSS {r.rss_mb:.1f} MB"
            )
        if len(children) >= 2:
            (n1, r1), (n2, r2) = children[0], children[-1]
            growth = r2.rss_mb / r1.rss_mb if r1.rss_mb else float("nan")
            print(
                f"== child streams memory: peak RSS {r1.rss_mb:.1f} MB ({n1}) vs {r2.rss_mb:.1f} MB ({n2}): "
                f"x{growth:.2f} for x{r2.records / r1.records:.0f} the input (goal within 10%: "
                + ("ok)" if growth <= 1.10 else "GROWS WITH INPUT)")
            )
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
