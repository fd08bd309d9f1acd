"""Reliability through the real CLI: no hang, no silent loss, no crash on one value, no success exit on failure.

Each test drives the target over real HTTP (the sandbox, or a small stub server where the
sandbox cannot give the answer) and asserts on what the server holds, the rejects file and
the STATE printed. Signal tests repeat their run to catch races, each run bounded in time;
`RELIABILITY_RUNS` sets how many (default below), and with `-s` they print their figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import (
    API_KEY,
    CUSTOMER_PROPS,
    TARGET,
    customer,
    customers_stream,
    record,
    run_target,
    schema,
    singer_lines,
    state,
    target_config,
    write_config,
)

from target_shopimind.compat import override
from target_shopimind.sandbox import ODD_200, Sandbox

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CUSTOMERS = "public-customers"
RUNS = int(os.environ.get("RELIABILITY_RUNS", "10"))
# Longest a stopped run may take to exit before it counts as hung (the grace is 10 s).
HANG_SECONDS = 60


def stored(server: Sandbox) -> dict[str, dict]:
    return {str(item["customer_id"]): item for item in server.items("customers")}


def stopped_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "target-shopimind stopped:" in line]


def config_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


class Running:
    """The target as a child process: stdin fed from a thread, stdout and stderr to files."""

    def __init__(self, tmp_path: Path, config: dict, payload: bytes, name: str = "run") -> None:
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [*TARGET, "--config", str(write_config(tmp_path, config, f"{name}.json"))],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._feeder = threading.Thread(target=self._feed, args=(payload,), daemon=True)
        self._feeder.start()

    def _feed(self, payload: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            for start in range(0, len(payload), 1 << 16):
                self.proc.stdin.write(payload[start : start + (1 << 16)])
        except (OSError, ValueError):
            pass  # the target stopped reading
        finally:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    def stop(self, signum: int = signal.SIGTERM) -> float:
        """Send `signum`; the seconds until the process exited (it is killed past HANG_SECONDS)."""
        sent = time.monotonic()
        self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=HANG_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the target hung after signal {signum}:\n{self.stderr[-3000:]}")
        self._feeder.join(timeout=10)
        return time.monotonic() - sent

    def finish(self) -> int:
        try:
            code = self.proc.wait(timeout=HANG_SECONDS * 2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the target did not finish:\n{self.stderr[-3000:]}")
        self._feeder.join(timeout=10)
        return code

    @property
    def states(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")


def wait_for(condition: t.Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail("the awaited condition never came")
        time.sleep(0.02)


def report(figure: str) -> None:
    print(f"\n[reliability] {figure}")


# --- 1. SIGTERM while rejections are being written --------------------------------------------


def invalid_customers(total: int, every: int = 1000) -> bytes:
    lines = [json.dumps(schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]))]
    for n in range(1, total + 1):
        lines.append(json.dumps(record(CUSTOMERS, customer(n, email="not-an-email"))))
        if n % every == 0:
            lines.append(json.dumps(state({"bookmarks": {CUSTOMERS: {"last_id": n}}})))
    return ("\n".join(lines) + "\n").encode()


class SlowReader:
    """A rejects "file" that is a FIFO read slowly: the target blocks writing it, inside its lock."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.chunks: list[bytes] = []
        self.count = 0  # lines so far
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.done.is_set():
            with self.path.open("rb") as fifo:  # the config check opens it once, the report again
                while chunk := fifo.read(4096):
                    self.chunks.append(chunk)
                    self.count += chunk.count(b"\n")
                    time.sleep(0.005)

    def lines(self) -> list[str]:
        self.done.set()
        with contextlib.suppress(OSError), os.fdopen(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass  # wake the reader if it waits for a writer
        self.thread.join(timeout=10)
        return b"".join(self.chunks).decode().splitlines()


def test_sigterm_while_rejecting_never_hangs_and_loses_no_rejection(tmp_path: Path, sandbox: Sandbox) -> None:
    # The signal lands while the reading thread holds the report's lock, blocked writing a
    # rejection (a slow rejects file): a handler that takes that lock waits on itself forever.
    payload = invalid_customers(100_000)
    rng = random.Random(8)
    stops: list[float] = []
    for run in range(RUNS):
        rejects = SlowReader(tmp_path / f"rejects-{run}.jsonl")
        config = target_config(sandbox, rejected_records_path=str(rejects.path))
        target = Running(tmp_path, config, payload, name=f"run-{run}")
        # Past the tap's first STATE (after 1,000 records), so the stop has a STATE to emit.
        wait_for(lambda rejects=rejects: rejects.count > 1000)  # type: ignore[misc]
        time.sleep(rng.uniform(0.0, 1.5))  # land anywhere in the rejection path
        stops.append(target.stop(signal.SIGTERM))
        assert target.proc.returncode == 0, target.stderr[-3000:]
        lines = rejects.lines()
        last = target.states[-1]
        # Every rejection counted in the last STATE is in the rejects file, and the reverse.
        assert last["target_shopimind"]["rejected_count"] == {"customers": len(lines)}
        assert all(json.loads(line)["stage"] == "validation" for line in lines)
        assert last["bookmarks"][CUSTOMERS]["last_id"] <= len(lines)
    assert sandbox.items("customers") == []
    report(f"SIGTERM into 100,000 invalid records: {RUNS} runs, 0 hangs, longest stop {max(stops):.1f} s")


# --- 2, 4, 9. waits that a signal ends, and the exit status after it --------------------------


@pytest.mark.parametrize(
    ("fault", "extra"),
    [
        # 2: a 503 whose Retry-After (600 s) is within the cap: the wait itself is ended.
        ("retry_after", {"max_retry_seconds": 1000}),
        # 9: a batch that keeps failing (500) while the signal comes.
        ("failing", {"max_retries": 1000, "max_retry_seconds": 1000}),
        # 4: STATE waiting (wait_idle) for an answer that takes 120 s.
        ("slow", {"request_timeout": 200}),
    ],
)
def test_a_signal_ends_every_wait_and_a_failed_batch_exits_non_zero(
    tmp_path: Path, fault: str, extra: dict[str, t.Any]
) -> None:
    stops: list[float] = []
    messages = [*customers_stream(range(1, 31)), state({"bookmarks": {CUSTOMERS: {"last_id": 30}}})]
    for run in range(max(2, RUNS // 5)):
        options: dict[str, t.Any] = {"retry_after": 600} if fault == "retry_after" else {}
        with Sandbox(port=0, slow_seconds=120, **options) as server:
            rate = {"retry_after": "fail_503_rate", "failing": "fail_500_rate", "slow": "slow_rate"}[fault]
            server.set_rates(**{rate: 1.0})
            target = Running(tmp_path, target_config(server, **extra), singer_lines(messages).encode(), f"{fault}{run}")
            wait_for(lambda server=server: server.stats()["in_flight"] > 0 or bool(server.requests))  # type: ignore[misc]
            time.sleep(0.3)
            signum = signal.SIGINT if run % 2 else signal.SIGTERM
            stops.append(target.stop(signum))
            held = stored(server)
        assert target.proc.returncode == 1, target.stderr[-3000:]
        assert len(stopped_lines(target.stderr)) == 1, target.stderr[-3000:]
        # No STATE acknowledges the batch that was not settled.
        assert all("bookmarks" not in value for value in target.states), target.states
        assert "Traceback" not in target.stderr
        if fault != "slow":
            assert held == {}
    report(f"signal during {fault}: {len(stops)} runs, 0 hangs, exit 1 every time, longest stop {max(stops):.1f} s")


# --- 2. Retry-After past the cap -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "header"),
    [
        ("503", "100000"),
        ("429", "1000"),
        ("429", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("503", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ],
)
def test_retry_after_past_the_cap_stops_with_one_line(tmp_path: Path, fault: str, header: str) -> None:
    with Sandbox(port=0, retry_after_header=header) as server:
        server.script_faults([fault])
        run = run_target(tmp_path, target_config(server), [*customers_stream(range(1, 11)), state({"b": 1})])
        posts = [e for e in server.requests if e["method"] == "POST"]
        held = stored(server)
    assert run.returncode == 1
    lines = stopped_lines(run.stderr)
    assert len(lines) == 1, run.stderr[-3000:]
    assert header in lines[0]
    assert "Traceback" not in run.stderr
    assert run.states == []
    assert len(posts) == 1
    assert held == {}


# --- 3. an answer that drips -----------------------------------------------------------------


def test_an_answer_that_drips_is_cut_at_request_timeout_and_sent_again(tmp_path: Path) -> None:
    with Sandbox(port=0, drip_seconds=0.5) as server:
        server.script_faults(["drip"])
        messages = [*customers_stream(range(1, 21)), state({"bookmarks": {CUSTOMERS: {"last_id": 20}}})]
        run = run_target(tmp_path, target_config(server, request_timeout=1), messages, timeout=60)
        posts = [e for e in server.requests if e["method"] == "POST"]
        held = stored(server)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [e["fault"] for e in posts] == ["drip", "ok"]
    assert set(held) == {str(n) for n in range(1, 21)}
    assert run.last_state["bookmarks"][CUSTOMERS]["last_id"] == 20


# --- 5. a 200 that does not account for the items ---------------------------------------------


@pytest.mark.parametrize("shape", list(ODD_200))
def test_a_200_that_does_not_account_for_the_items_is_never_acceptance(tmp_path: Path, shape: str) -> None:
    first = [*customers_stream(range(1, 11)), state({"bookmarks": {CUSTOMERS: {"last_id": 10}}})]
    second = [*customers_stream(range(11, 21)), state({"bookmarks": {CUSTOMERS: {"last_id": 20}}})]
    with Sandbox(port=0) as server:
        # Once: retried as a server fault, then accepted.
        server.script_faults([shape])
        once = run_target(tmp_path, target_config(server), first)
        # Always: the run stops, with no STATE past the batch.
        server.script_faults([shape] * 3)
        always = run_target(tmp_path, target_config(server, max_retries=2), second)
        held = stored(server)
    assert once.returncode == 0, once.stderr[-3000:]
    assert once.last_state["bookmarks"][CUSTOMERS]["last_id"] == 10
    assert always.returncode == 1
    assert len(stopped_lines(always.stderr)) == 1, always.stderr[-3000:]
    assert "does not account for the items" in stopped_lines(always.stderr)[0]
    assert always.states == []
    assert set(held) == {str(n) for n in range(1, 11)}


# --- 6. BATCH messages -----------------------------------------------------------------------


def test_batch_messages_are_refused_after_settling_what_came_before(tmp_path: Path, sandbox: Sandbox) -> None:
    manifest = tmp_path / "batch-1.jsonl"
    manifest.write_text("".join(json.dumps(customer(n)) + "\n" for n in range(11, 21)))
    batch = {
        "type": "BATCH",
        "stream": CUSTOMERS,
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [f"file://{manifest}"],
    }
    messages = [
        *customers_stream(range(1, 11)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 10}}}),
        batch,
        state({"bookmarks": {CUSTOMERS: {"last_id": 20}}}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 1
    lines = stopped_lines(run.stderr)
    assert len(lines) == 1, run.stderr[-3000:]
    assert "bad input at line 13" in lines[0]
    assert "BATCH" in lines[0]
    assert [value["bookmarks"][CUSTOMERS]["last_id"] for value in run.states] == [10]
    assert set(stored(sandbox)) == {str(n) for n in range(1, 11)}


def test_about_does_not_advertise_batch() -> None:
    about = subprocess.run([*TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True)
    capabilities = json.loads(about.stdout)["capabilities"]
    assert "batch" not in capabilities
    assert "batch_config" not in json.loads(about.stdout)["settings"]["properties"]


# --- 7. ordering of a key across streams -----------------------------------------------------


def test_an_older_version_in_another_streams_buffer_never_lands_last(tmp_path: Path, sandbox: Sandbox) -> None:
    other = "shop2-customers"  # routes to customers too
    messages = [
        schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]),
        schema(other, CUSTOMER_PROPS, ["id"]),
        record(CUSTOMERS, customer(1, last_name="old")),  # waits in a partial buffer
        record(other, customer(1, last_name="new")),
        *(record(other, customer(n)) for n in range(2, 51)),  # a full batch of 50: sent at once
        record(CUSTOMERS, customer(60)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 60}}}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0, run.stderr[-3000:]
    held = stored(sandbox)
    assert held["1"]["last_name"] == "new"
    assert set(held) == {str(n) for n in range(1, 51)} | {"60"}


# --- 8. one bad value ----------------------------------------------------------------------------

PRODUCT_PROPS = {
    "id": {"type": ["integer", "null"]},
    "lang": {"type": ["string", "null"]},
    "name": {"type": ["string", "null"]},
    "link": {"type": ["string", "null"]},
    "currency": {"type": ["string", "null"]},
    "price": {"type": ["number", "string", "null"]},
    "quantity_remaining": {"type": ["integer", "null"]},
    "is_active": {"type": ["boolean", "null"]},
    "created_at": {"type": ["string", "null"]},
    "updated_at": {"type": ["string", "null"]},
}


def product(n: int, **overrides: t.Any) -> dict:
    row: dict[str, t.Any] = {
        "id": n,
        "lang": "fr",
        "name": f"Product {n}",
        "link": f"https://shop.example.com/p/{n}",
        "currency": "EUR",
        "price": 9.99,
        "quantity_remaining": 3,
        "is_active": True,
        "created_at": "2026-05-07T08:00:00Z",
        "updated_at": "2026-05-07T08:00:00Z",
    }
    row.update(overrides)
    return row


def with_one_bad_line(bad: str, stream: str, props: dict, good: t.Callable[..., dict]) -> bytes:
    """20 good records, the bad one (line 22, key 21), 20 good ones, one STATE."""
    head = [schema(stream, props, ["id"]), *(record(stream, good(n)) for n in range(1, 21))]
    tail = [*(record(stream, good(n)) for n in range(22, 42)), state({"bookmarks": {stream: {"last_id": 41}}})]
    return singer_lines(head).encode() + bad.encode() + b"\n" + singer_lines(tail).encode()


def bad_line(stream: str, field: str, raw: str) -> str:
    """Record 21 of `stream` with `field` set to the raw JSON text `raw` (which json.dumps cannot write)."""
    good = product if stream == "public-products" else customer
    return json.dumps(record(stream, good(21, **{field: "__BAD__"}))).replace('"__BAD__"', raw)


BAD_VALUES = {
    "price Infinity": ("public-products", "price", "Infinity"),
    "price -Infinity": ("public-products", "price", "-Infinity"),
    "price NaN": ("public-products", "price", "NaN"),
    "price 1e26": ("public-products", "price", "1e26"),
    "price 1e400 as text": ("public-products", "price", '"1e400"'),
    "offset +25:00 (schema date-time)": (CUSTOMERS, "created_at", '"2026-05-07T10:00:00+25:00"'),
    "offset +25:00 (plain string)": ("public-products", "created_at", '"2026-05-07T10:00:00+25:00"'),
    "lone surrogate": (CUSTOMERS, "last_name", '"A\\ud800B"'),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_one_bad_value_rejects_its_record_naming_the_field(tmp_path: Path, case: str) -> None:
    stream, field, raw = BAD_VALUES[case]
    props, good = (PRODUCT_PROPS, product) if stream == "public-products" else (CUSTOMER_PROPS, customer)
    rejects = tmp_path / "rejects.jsonl"
    with Sandbox(port=0) as server:
        payload = with_one_bad_line(bad_line(stream, field, raw), stream, props, good)
        run = run_target(tmp_path, target_config(server, rejected_records_path=str(rejects)), payload)
        resource = "products" if stream == "public-products" else "customers"
        keys = {str(item["product_id" if resource == "products" else "customer_id"]) for item in server.items(resource)}
        refused = [e for e in server.requests if e["method"] == "POST" and e["status"] != 200]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert keys == {str(n) for n in range(1, 42)} - {"21"}
    assert refused == []  # nothing unreadable (a bare NaN) went out
    rejected = run.last_state["target_shopimind"]["rejected"]
    assert len(rejected) == 1
    assert rejected[0]["stage"] == "validation"
    assert rejected[0]["key"].startswith("21")
    assert any(error.startswith(f"{field}:") for error in rejected[0]["errors"]), rejected
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["key"].startswith("21")  # the rejects file stays JSON


def test_a_line_nested_ten_thousand_levels_is_bad_input_after_settling_what_came_before(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    deep = bad_line(CUSTOMERS, "tags", "[" * 10_000 + "]" * 10_000)
    run = run_target(tmp_path, target_config(sandbox), with_one_bad_line(deep, CUSTOMERS, CUSTOMER_PROPS, customer))
    assert run.returncode == 1
    lines = stopped_lines(run.stderr)
    assert len(lines) == 1, run.stderr[-3000:]
    assert "bad input at line 22" in lines[0]
    assert "Traceback" not in run.stderr
    assert set(stored(sandbox)) == {str(n) for n in range(1, 21)}


def test_a_field_holding_json_text_nested_ten_thousand_levels_is_rejected(tmp_path: Path, sandbox: Sandbox) -> None:
    props = {**CUSTOMER_PROPS, "group_ids": {"type": ["string", "null"]}}
    deep = json.dumps(record(CUSTOMERS, customer(21, group_ids="[" * 10_000 + "]" * 10_000)))
    run = run_target(tmp_path, target_config(sandbox), with_one_bad_line(deep, CUSTOMERS, props, customer))
    assert run.returncode == 0, run.stderr[-3000:]
    rejected = run.last_state["target_shopimind"]["rejected"]
    assert [r["key"] for r in rejected] == ["21"]
    assert any(error.startswith("group_ids:") for error in rejected[0]["errors"]), rejected
    assert set(stored(sandbox)) == {str(n) for n in range(1, 42)} - {"21"}


# --- 10. each item reported once ------------------------------------------------------------------


class _RefuseAll(BaseHTTPRequestHandler):
    """Every write: 400 with rejected_items that name no item (no index, no payload)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts += 1  # type: ignore[attr-defined]
        body = {"statusCode": 400, "message": "Bad Request", "rejected_items": [{"errors": ["refused"]}]}
        self._answer(400, body)

    def do_GET(self) -> None:
        self._answer(200, {"statusCode": 200, "data": []})

    def _answer(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    @override
    def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
        """Quiet."""


@contextlib.contextmanager
def refuse_all_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefuseAll)
    server.posts = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_rejections_that_match_no_item_are_reported_once_per_item(tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    with refuse_all_server() as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        config = {"api_key": API_KEY, "base_url": url, "rejected_records_path": str(rejects)}
        messages = [*customers_stream(range(1, 101)), state({"bookmarks": {CUSTOMERS: {"last_id": 100}}})]
        run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 100}
    keys = [json.loads(line)["key"] for line in rejects.read_text().splitlines()]
    assert sorted(keys, key=int) == [str(n) for n in range(1, 101)]
    assert all(json.loads(line)["errors"] == ["refused"] for line in rejects.read_text().splitlines())


# --- 11. STATE stays small ------------------------------------------------------------------------


def test_every_string_of_the_report_is_bounded(tmp_path: Path, sandbox: Sandbox) -> None:
    props = {**CUSTOMER_PROPS, "id": {"type": ["string", "null"]}}
    huge = 100_000
    messages = [
        schema(CUSTOMERS, props, ["id"]),
        *(record(CUSTOMERS, customer(0, id=f"{n}-" + "k" * huge, email="x" * huge)) for n in range(200)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 200}}}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0, run.stderr[-3000:]
    line = run.stdout.splitlines()[-1]
    rejected = run.last_state["target_shopimind"]["rejected"]
    assert len(rejected) == 200
    assert all(len(entry["key"]) <= 301 for entry in rejected)
    assert all(len(error) <= 301 for entry in rejected for error in entry["errors"])
    assert len(line) < 200 * 2_000  # 200 entries of a few hundred characters, not 200 times 200 KB


# --- 12, 13. config edges -------------------------------------------------------------------------

BAD_CONFIGS: dict[str, tuple[dict[str, t.Any], str]] = {
    "api_key with CR/LF": ({"api_key": API_KEY + "\r\nX-Injected: 1"}, "api_key"),
    "api_key with a tab": ({"api_key": "abc\tdef-0123456789abcdef"}, "api_key"),
    "max_concurrent_requests null": ({"max_concurrent_requests": None}, "max_concurrent_requests"),
    "max_concurrent_requests 0": ({"max_concurrent_requests": 0}, "max_concurrent_requests"),
    "max_concurrent_requests 10^9": ({"max_concurrent_requests": 10**9}, "max_concurrent_requests"),
    "request_timeout 0": ({"request_timeout": 0}, "request_timeout"),
    "request_timeout -1": ({"request_timeout": -1}, "request_timeout"),
    "checkpoint_interval_seconds 0": ({"checkpoint_interval_seconds": 0}, "checkpoint_interval_seconds"),
    "checkpoint_interval_seconds -5": ({"checkpoint_interval_seconds": -5}, "checkpoint_interval_seconds"),
    "batch_size_rows 0": ({"batch_size_rows": 0}, "batch_size_rows"),
    "batch_size_rows -1": ({"batch_size_rows": -1}, "batch_size_rows"),
    "max_retries -1": ({"max_retries": -1}, "max_retries"),
    "max_retry_seconds -1": ({"max_retry_seconds": -1}, "max_retry_seconds"),
    "max_requests_per_minute null": ({"max_requests_per_minute": None}, "max_requests_per_minute"),
    "default_lang French": ({"default_lang": "French"}, "default_lang"),
    "default_lang eng": ({"default_lang": "eng"}, "default_lang"),
    "default_currency euro": ({"default_currency": "euro"}, "default_currency"),
    "default_currency EU": ({"default_currency": "EU"}, "default_currency"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_config_edges_are_one_line_errors_before_anything_is_sent(tmp_path: Path, sandbox: Sandbox, case: str) -> None:
    extra, setting = BAD_CONFIGS[case]
    config = {**target_config(sandbox), **extra}
    run = run_target(tmp_path, config, [*customers_stream(range(1, 5)), state({"b": 1})])
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = config_errors(run.stderr)
    assert any(setting in line for line in errors), run.stderr[-3000:]
    assert API_KEY not in run.stderr
    assert run.states == []
    assert sandbox.requests == []


def test_an_unwritable_rejects_path_is_a_config_error(tmp_path: Path, sandbox: Sandbox) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = target_config(sandbox, rejected_records_path=str(blocker / "rejects.jsonl"))
    run = run_target(tmp_path, config, [*customers_stream(range(1, 5)), state({"b": 1})])
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert any("rejected_records_path" in line for line in config_errors(run.stderr)), run.stderr[-3000:]
    assert sandbox.requests == []


def test_the_schema_carries_the_bounds() -> None:
    about = subprocess.run([*TARGET, "--about", "--format=json"], capture_output=True, text=True, check=True)
    properties = json.loads(about.stdout)["settings"]["properties"]
    assert properties["max_concurrent_requests"]["minimum"] == 1
    assert properties["max_concurrent_requests"]["maximum"] == 32
    assert properties["max_requests_per_minute"]["minimum"] == 1
    assert properties["request_timeout"]["exclusiveMinimum"] == 0
    assert properties["checkpoint_interval_seconds"]["exclusiveMinimum"] == 0
    assert properties["max_retries"]["minimum"] == 0
    assert properties["max_retry_seconds"]["minimum"] == 0


# --- 14. outage tolerance -------------------------------------------------------------------------


def test_a_short_outage_is_ridden_through_with_the_defaults(tmp_path: Path) -> None:
    with Sandbox(port=0, fail_503_rate=1.0, retry_after=0) as server:
        # 503 without a usable wait for 20 s: more than the old budget of 6 quick attempts.
        server.retry_after_header = "soon"
        threading.Timer(20.0, lambda: server.set_rates(fail_503_rate=0.0)).start()
        messages = [*customers_stream(range(1, 21)), state({"bookmarks": {CUSTOMERS: {"last_id": 20}}})]
        run = run_target(tmp_path, target_config(server), messages, timeout=300)
        posts = [e for e in server.requests if e["method"] == "POST"]
        held = stored(server)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(held) == {str(n) for n in range(1, 21)}
    assert run.last_state["bookmarks"][CUSTOMERS]["last_id"] == 20
    assert [e["status"] for e in posts][-1] == 200
    assert posts[-1]["started"] - posts[0]["started"] >= 20


def test_a_hard_4xx_still_stops_at_once(tmp_path: Path, sandbox: Sandbox) -> None:
    config = {**target_config(sandbox), "api_key": "wrong-key-00000000000000"}
    run = run_target(tmp_path, config, [*customers_stream(range(1, 5)), state({"b": 1})])
    posts = [e for e in sandbox.requests if e["method"] == "POST"]
    assert run.returncode == 1
    assert run.states == []
    assert len(posts) == 1
