"""Resilience through the real CLI against the sandbox's fault flags.

- server faults (500, 503 + Retry-After, dropped connections, answers slower than
  request_timeout, applied-then-500): exit 0 and every valid record stored;
- a 429 storm from a second client on the same key: waited out per Retry-After;
- kill -9 mid-import, then a rerun from the last STATE printed: no record lost;
- SIGTERM: the SDK's drain runs, and STATE acknowledges nothing unsent;
- bad input: a one-line message naming the stream and the position, no traceback for data
  problems, what came before kept, and the exit status of the contract.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import typing as t

import httpx
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

from target_shopimind.sandbox import Sandbox

if t.TYPE_CHECKING:
    from pathlib import Path

CUSTOMERS = "public-customers"


def stored_ids(server: Sandbox) -> set[int]:
    return {int(item["customer_id"]) for item in server.items("customers")}


def bookmark(value: dict) -> int:
    return value["bookmarks"][CUSTOMERS]["last_id"]


def chunked_customers(first: int, last: int, chunk: int) -> list[dict]:
    """Customers first..last, a STATE after every `chunk` of them (as a tap would)."""
    messages: list[dict] = []
    for n in range(first, last + 1):
        messages.append(record(CUSTOMERS, customer(n)))
        if n % chunk == 0 or n == last:
            messages.append(state({"bookmarks": {CUSTOMERS: {"last_id": n}}}))
    return messages


# --- server faults -----------------------------------------------------------------------


def test_server_faults_end_with_every_valid_record_stored(tmp_path: Path) -> None:
    total = 600
    messages = [schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]), *chunked_customers(1, total, 100)]
    messages.insert(50, record(CUSTOMERS, customer(9001, email="not-an-email")))
    with Sandbox(
        port=0,
        quota=0,
        latency_ms=5,
        seed=11,
        retry_after=1,
        slow_seconds=4,
        fail_500_rate=0.08,
        fail_503_rate=0.04,
        drop_rate=0.08,
        applied_then_500_rate=0.08,
    ) as server:
        # Every kind at least once, whatever the random draws give.
        server.script_faults(["500", "503", "drop", "slow", "applied500"])
        config = target_config(
            server, request_timeout=1, max_retries=10, max_concurrent_requests=4, max_requests_per_minute=6000
        )
        run = run_target(tmp_path, config, messages)
        items = {int(item["customer_id"]): item for item in server.items("customers")}
        script_left = server.faults.snapshot()["script"]
        # The slow answer is logged when the server is done with it, long after the target gave up.
        for _ in range(200):
            if server.stats()["in_flight"] == 0:
                break
            time.sleep(0.05)
        log = server.requests
    assert run.returncode == 0, run.stderr[-3000:]
    assert script_left == []
    faults = {e["fault"] for e in log}
    assert {"500", "503", "drop", "slow", "applied500"} <= faults, faults
    assert set(items) == set(range(1, total + 1))
    assert all(items[n]["email"] == f"c{n}@example.com" for n in items)
    assert bookmark(run.last_state) == total
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 1}
    # The batch applied and then answered 500 was sent again, and that was harmless.
    applied = next(e for e in log if e["fault"] == "applied500")
    assert any(e["keys"] == applied["keys"] and e["status"] == 200 for e in log if e["started"] > applied["ended"])
    # The batch whose answer was slower than request_timeout (1 s) was sent again before that
    # answer came (4 s).
    slow = next(e for e in log if e["fault"] == "slow")
    assert any(e["keys"] == slow["keys"] and slow["started"] < e["started"] < slow["ended"] for e in log)
    assert "Traceback" not in run.stderr


# --- a 429 storm ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 4])
def test_429_storm_from_another_client_is_waited_out(tmp_path: Path, workers: int) -> None:
    total = 300
    messages = customers_stream(range(1, total + 1))
    with Sandbox(port=0, quota=4, window_seconds=1, latency_ms=5) as server:
        stop = threading.Event()

        def eat_the_quota() -> None:
            with httpx.Client(base_url=server.url, headers={"spm-api-key": API_KEY}) as other:
                while not stop.is_set():
                    other.get("/v1/customers", params={"limit": 1})
                    time.sleep(0.01)

        def stop_after_the_target_started() -> None:
            # The storm goes on until 2 s after the target's first POST, however long it takes to start.
            while not stop.is_set() and not any(e["method"] == "POST" for e in server.requests):
                time.sleep(0.05)
            stop.wait(2.0)
            stop.set()

        thief = threading.Thread(target=eat_the_quota, daemon=True)
        thief.start()
        threading.Thread(target=stop_after_the_target_started, daemon=True).start()
        # 200/min is within the sandbox's 4/s: every 429 the target meets is the other client's
        # doing. max_retries 0: a 429 that says when to come back must not use up a retry.
        config = target_config(server, max_requests_per_minute=200, max_retries=0, max_concurrent_requests=workers)
        run = run_target(tmp_path, config, messages)
        stop.set()
        thief.join(timeout=5)
        log = server.requests
        ids = stored_ids(server)
    assert run.returncode == 0, run.stderr[-3000:]
    assert ids == set(range(1, total + 1))
    assert "giving up" not in run.stderr
    posts = sorted((e for e in log if e["method"] == "POST"), key=lambda e: e["started"])
    throttled = [e for e in posts if e["status"] == 429]
    assert throttled, "the storm never reached the target"
    for refused in throttled:
        # The refused batch came back no sooner than Retry-After (1 s here) said...
        again = next(e for e in posts if e["started"] > refused["started"] and e["keys"] == refused["keys"])
        assert again["started"] - refused["ended"] >= 0.95, (refused, again)
        # ...and no other request went out meanwhile (50 ms for one already on its way).
        early = [e for e in posts if refused["ended"] + 0.05 < e["started"] < refused["ended"] + 0.95]
        assert not early, (refused["started"], [(e["started"], e["status"]) for e in early])


# --- kill -9 and SIGTERM -------------------------------------------------------------------


class Streamed:
    """The target reading a slow stdin; each STATE line checked against the sandbox as it comes."""

    def __init__(self, tmp_path: Path, config: dict, server: Sandbox, *, kill_at_state: int | None = None) -> None:
        self.server = server
        self.kill_at_state = kill_at_state
        self.proc = subprocess.Popen(
            [*TARGET, "--config", str(write_config(tmp_path, config))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.states: list[dict] = []
        self.unsettled: list[tuple[int, int]] = []  # (bookmark, acknowledged ids not stored) at STATE time
        self.chunks_sent = 0
        self.stderr = b""
        self._threads = [
            threading.Thread(target=self._read_states, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_states(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            value = json.loads(line)
            done = bookmark(value)
            # The target printed it, so everything up to the bookmark must be stored by now.
            missing = len(set(range(1, done + 1)) - stored_ids(self.server))
            if missing:
                self.unsettled.append((done, missing))
            self.states.append(value)
            if self.kill_at_state is not None and len(self.states) >= self.kill_at_state:
                os.kill(self.proc.pid, signal.SIGKILL)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def feed(self, chunks: list[list[dict]], pause: float) -> None:
        """Write the schema, then chunk after chunk, `pause` seconds apart, in the background."""

        def write() -> None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(singer_lines([schema(CUSTOMERS, CUSTOMER_PROPS, ["id"])]).encode())
                for chunk in chunks:
                    self.proc.stdin.write(singer_lines(chunk).encode())
                    self.proc.stdin.flush()
                    self.chunks_sent += 1
                    time.sleep(pause)
                self.proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                return  # the target is gone

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        self._threads.append(thread)

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):  # stdin of a killed target: unwritten bytes
                    pipe.close()
        return code


def customer_chunks(total: int, size: int) -> list[list[dict]]:
    messages = chunked_customers(1, total, size)
    chunks, current = [], []
    for message in messages:
        current.append(message)
        if message["type"] == "STATE":
            chunks.append(current)
            current = []
    return chunks


def test_kill_9_then_rerun_from_the_last_state_loses_nothing(tmp_path: Path) -> None:
    total, size = 6000, 50
    with Sandbox(port=0, quota=0, latency_ms=100) as server:
        config = target_config(server, checkpoint_interval_seconds=0.3, max_requests_per_minute=6000)
        # Input comes faster than 4 requests of 100 ms can take it: batches wait in the queue
        # when a checkpoint's STATE is printed, and the kill comes right after the third one.
        first = Streamed(tmp_path, config, server, kill_at_state=3)
        first.feed(customer_chunks(total, size), pause=0.02)
        assert first.finish() == -signal.SIGKILL, first.stderr.decode(errors="replace")[-3000:]
        assert len(first.states) == 3
        assert first.unsettled == [], "STATE acknowledged records the sandbox did not have"
        resume_after = bookmark(first.states[-1])
        assert 0 < resume_after < total
        assert set(range(1, resume_after + 1)) <= stored_ids(server)

        # The same pipeline again, the tap resuming after the bookmark of that STATE.
        rest = [
            schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]),
            state(first.states[-1]),
            *chunked_customers(resume_after + 1, total, size),
        ]
        second = run_target(tmp_path, config, rest)
        assert second.returncode == 0, second.stderr[-3000:]
        assert bookmark(second.last_state) == total
        assert stored_ids(server) == set(range(1, total + 1))


def test_sigterm_drains_and_acknowledges_only_what_was_sent(tmp_path: Path) -> None:
    total, size = 6000, 50
    with Sandbox(port=0, quota=0, latency_ms=100) as server:
        # No checkpoint before the signal: the only STATE can come from the SDK's drain.
        config = target_config(server, checkpoint_interval_seconds=600, max_requests_per_minute=6000)
        target = Streamed(tmp_path, config, server)
        target.feed(customer_chunks(total, size), pause=0.02)
        while target.chunks_sent < 20:
            time.sleep(0.02)
        assert not target.states, "a STATE came before the signal"
        target.proc.send_signal(signal.SIGTERM)
        code = target.finish()
        stderr = target.stderr.decode(errors="replace")
        assert "draining all sinks" in stderr, stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]
        assert code == 0, stderr[-3000:]
        assert len(target.states) == 1, stderr[-3000:]
        assert target.unsettled == [], "STATE acknowledged records the sandbox did not have"
        acknowledged = bookmark(target.states[-1])
        assert 0 < acknowledged < total
        assert set(range(1, acknowledged + 1)) <= stored_ids(server)

        rest = [schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]), *chunked_customers(acknowledged + 1, total, size)]
        again = run_target(tmp_path, config, rest)
        assert again.returncode == 0, again.stderr[-3000:]
        assert stored_ids(server) == set(range(1, total + 1))


# --- bad input -----------------------------------------------------------------------------


def stopped_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "target-shopimind stopped:" in line]


def before_and_after(bad: bytes) -> bytes:
    """120 good customers and their STATE, the bad line (line 123), then 30 more customers."""
    head = [
        schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]),
        *(record(CUSTOMERS, customer(n)) for n in range(1, 121)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 120}}}),
    ]
    tail = [
        *(record(CUSTOMERS, customer(n)) for n in range(121, 151)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 150}}}),
    ]
    return singer_lines(head).encode() + bad + b"\n" + singer_lines(tail).encode()


UNREADABLE = {
    "malformed JSON": (b'{"type": "RECORD", "stream": "public-customers", "record": {"id": 121,', "not valid JSON"),
    "invalid UTF-8": (
        b'{"type": "RECORD", "stream": "public-customers", "record": {"id": 121, "first_name": "Ad\xe9le"}}',
        "not valid UTF-8",
    ),
    "RECORD before its SCHEMA": (
        json.dumps(record("public-orders", {"id": 1})).encode(),
        "RECORD before its SCHEMA",
    ),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_line_stops_after_settling_what_came_before(tmp_path: Path, sandbox: Sandbox, case: str) -> None:
    bad, problem = UNREADABLE[case]
    run = run_target(tmp_path, target_config(sandbox), before_and_after(bad))
    assert run.returncode == 1
    stream = "public-orders" if "SCHEMA" in case else CUSTOMERS
    lines = stopped_lines(run.stderr)
    assert len(lines) == 1, run.stderr[-3000:]
    assert f"bad input at line 123 (stream '{stream}')" in lines[0]
    assert problem in lines[0]
    assert "Traceback" not in run.stderr
    # Everything before the bad line is stored and acknowledged; nothing after it.
    assert bookmark(run.last_state) == 120
    assert stored_ids(sandbox) == set(range(1, 121))


def test_record_without_its_key_is_rejected_with_its_position(tmp_path: Path, sandbox: Sandbox) -> None:
    keyless = customer(0)
    del keyless["id"]
    run = run_target(
        tmp_path, target_config(sandbox), before_and_after(json.dumps(record(CUSTOMERS, keyless)).encode())
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rejected = run.last_state["target_shopimind"]["rejected"]
    assert len(rejected) == 1 and rejected[0]["stream"] == CUSTOMERS
    assert "id" in " ".join(rejected[0]["errors"])
    assert f"line 123, record 121 of stream '{CUSTOMERS}'" in run.stderr
    assert "Traceback" not in run.stderr
    assert stored_ids(sandbox) == set(range(1, 151))
    assert bookmark(run.last_state) == 150


def test_string_where_the_schema_says_number_is_rejected(tmp_path: Path, sandbox: Sandbox) -> None:
    props = {**CUSTOMER_PROPS, "loyalty_points": {"type": ["number", "null"]}}
    messages = [
        schema(CUSTOMERS, props, ["id"]),
        *(record(CUSTOMERS, customer(n, loyalty_points=n * 1.5)) for n in range(1, 61)),
        record(CUSTOMERS, customer(61, loyalty_points="plenty")),
        *(record(CUSTOMERS, customer(n, loyalty_points=None)) for n in range(62, 101)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 100}}}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0, run.stderr[-3000:]
    rejected = run.last_state["target_shopimind"]["rejected"]
    assert [r["key"] for r in rejected] == ["61"]
    assert "loyalty_points" in " ".join(rejected[0]["errors"])
    assert f"line 62, record 61 of stream '{CUSTOMERS}'" in run.stderr
    assert "Traceback" not in run.stderr
    assert stored_ids(sandbox) == set(range(1, 101)) - {61}


def carts_input() -> list[dict]:
    return [
        schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]),
        *(record(CUSTOMERS, customer(n)) for n in range(1, 81)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 80}}}),
        schema("public-carts", {"id": {"type": "integer"}}, ["id"]),
        record("public-carts", {"id": 1}),
        *(record(CUSTOMERS, customer(n)) for n in range(81, 101)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 100}}}),
    ]


def test_carts_stream_is_skipped_with_a_warning(tmp_path: Path, sandbox: Sandbox) -> None:
    run = run_target(tmp_path, target_config(sandbox), carts_input())
    assert run.returncode == 0, run.stderr[-3000:]
    warnings = [line for line in run.stderr.splitlines() if "public-carts" in line and "read-only" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert stored_ids(sandbox) == set(range(1, 101))
    assert not any("cart" in e["path"] for e in sandbox.requests)


def test_carts_stream_fails_the_run_when_asked(tmp_path: Path, sandbox: Sandbox) -> None:
    run = run_target(tmp_path, target_config(sandbox, on_unknown_stream="fail"), carts_input())
    assert run.returncode == 1
    lines = stopped_lines(run.stderr)
    assert len(lines) == 1, run.stderr[-3000:]
    assert "public-carts" in lines[0] and "read-only" in lines[0]
    assert "Traceback" not in run.stderr
    assert not any("cart" in e["path"] for e in sandbox.requests)
    # No STATE past the failure: whatever was acknowledged is stored.
    for value in run.states:
        assert set(range(1, bookmark(value) + 1)) <= stored_ids(sandbox)
        assert bookmark(value) <= 80


def test_one_megabyte_field_lands(tmp_path: Path, sandbox: Sandbox) -> None:
    big = "x" * (1 << 20)
    messages = [
        schema(CUSTOMERS, CUSTOMER_PROPS, ["id"]),
        *(record(CUSTOMERS, customer(n)) for n in range(1, 31)),
        record(CUSTOMERS, customer(31, last_name=big)),
        *(record(CUSTOMERS, customer(n)) for n in range(32, 61)),
        state({"bookmarks": {CUSTOMERS: {"last_id": 60}}}),
    ]
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0, run.stderr[-3000:]
    items = {int(item["customer_id"]): item for item in sandbox.items("customers")}
    assert set(items) == set(range(1, 61))
    assert items[31]["last_name"] == big
    assert run.last_state["target_shopimind"]["rejected_count"] == {}
