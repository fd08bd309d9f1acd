"""Order and batching on the wire, through the real CLI (or in-process, to read the report) against the sandbox.

What the sandbox's request log must show:
- never more requests in flight than `max_concurrent_requests`;
- never two requests in flight at once carrying the same entity (conflict key);
- batches full to the resource's maximum, except one per resource per drain
  (a checkpoint or the end of input);
- at each drain, requests of referenced resources end before requests of the resources
  pointing to them start, and a STATE is printed only once every record before it is stored.

Timing is only used to order events, never to judge speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import typing as t

from support import (
    CUSTOMER_PROPS,
    TARGET,
    customer,
    record,
    run_in_process,
    run_target,
    schema,
    state,
    target_config,
    write_config,
)

from target_shopimind.resources import BY_NAME
from target_shopimind.sandbox import Sandbox

if t.TYPE_CHECKING:
    from pathlib import Path

CUSTOMERS = "public-customers"


def upserts(log: list[dict]) -> list[dict]:
    """Upsert requests the sandbox answered 200 (final attempts)."""
    return [e for e in log if e["method"] == "POST" and e["status"] == 200 and not e["path"].endswith("bulk-delete")]


def max_overlap(log: list[dict]) -> int:
    """Most requests in flight at one instant, from the logged start and end times."""
    events = sorted([(e["started"], 1) for e in log] + [(e["ended"], -1) for e in log], key=lambda x: (x[0], x[1]))
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def overlapping_conflicts(log: list[dict]) -> list[tuple[dict, dict, set[str]]]:
    """Pairs of requests in flight at the same time that share a conflict key."""
    entries = sorted((e for e in log if e.get("fault") != "slow" and e["conflict_keys"]), key=lambda e: e["started"])
    found = []
    for i, a in enumerate(entries):
        keys_a = set(a["conflict_keys"])
        for b in entries[i + 1 :]:
            if b["started"] >= a["ended"]:
                break
            if b["resource"] == a["resource"] and keys_a & set(b["conflict_keys"]):
                found.append((a, b, keys_a & set(b["conflict_keys"])))
    return found


def partials_by_resource(log: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in upserts(log):
        if e["items"] < BY_NAME[e["resource"]].max_batch:
            out[e["resource"]] = out.get(e["resource"], 0) + 1
    return out


# --- concurrency and entities -------------------------------------------------------------


def chunked_versions(chunks: int) -> tuple[list[dict], dict[int, str]]:
    """Chunks of 50 distinct customers; every third chunk re-sends 10 ids of the chunk before.

    Each chunk is exactly one batch, so a re-sent id sits in two consecutive batches and the
    later one must wait. Returns the messages and the last version of every id.
    """
    messages = [schema(CUSTOMERS, CUSTOMER_PROPS, ["id"])]
    last: dict[int, str] = {}
    previous: list[int] = []
    for c in range(chunks):
        ids = list(range(c * 50 + 1, c * 50 + 51))
        if c % 3 == 2:
            ids[:10] = previous[-10:]
        for n in ids:
            last[n] = f"v{c}"
            messages.append(record(CUSTOMERS, customer(n, last_name=f"v{c}")))
        messages.append(state({"bookmarks": {CUSTOMERS: {"chunk": c}}}))
        previous = ids
    return messages, last


def test_in_flight_cap_and_no_shared_entity_in_flight(tmp_path: Path) -> None:
    messages, last = chunked_versions(30)
    with Sandbox(port=0, quota=0, latency_ms=60, seed=3) as server:
        # Retries must keep holding their entities: a 500, a dropped connection, applied-then-500.
        server.script_faults(["ok", "500", "ok", "drop", "ok", "ok", "applied500"])
        config = target_config(server, max_concurrent_requests=3, max_requests_per_minute=6000)
        run = run_target(tmp_path, config, messages)
        log = server.requests
        stats = server.stats()
        stored = {int(item["customer_id"]): item for item in server.items("customers")}
    assert run.returncode == 0, run.stderr[-3000:]
    assert server.faults.snapshot()["script"] == [], "every scripted fault was served"
    assert stats["max_in_flight"] <= 3
    assert max_overlap(log) <= 3
    assert max_overlap(log) >= 2, "the run never had two requests in flight: nothing was tested"
    clashes = overlapping_conflicts(log)
    assert not clashes, [(a["resource"], a["status"], b["status"], sorted(shared)[:5]) for a, b, shared in clashes[:3]]
    # A later version never overtook an earlier one.
    assert {n: item["last_name"] for n, item in stored.items()} == last
    assert len(upserts(log)) == 30
    assert all(e["items"] == 50 for e in upserts(log))


# --- full batches ------------------------------------------------------------------------


def test_batches_are_full_but_for_the_end_of_each_stream(tmp_path: Path) -> None:
    groups = "public-customer_groups"
    group_props: dict[str, dict] = {
        "id": {"type": ["integer", "null"]},
        "lang": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
    }
    stamp = "2026-05-07T08:00:00Z"
    messages = [schema(groups, group_props, ["id"]), schema(CUSTOMERS, CUSTOMER_PROPS, ["id"])]
    # Interleaved streams, duplicates (merged in the buffer) and a few invalid rows (rejected
    # locally): none of them may leave a batch short.
    for n in range(1, 2018):
        messages.append(record(CUSTOMERS, customer(n)))
        if n % 7 == 0:
            messages.append(record(CUSTOMERS, customer(n - 3, first_name="Updated")))
        if n % 500 == 0:
            messages.append(record(CUSTOMERS, customer(90_000 + n, email="not-an-email")))
        if n % 5 == 0:
            g = n // 5
            messages.append(
                record(groups, {"id": g, "lang": "fr", "name": f"G{g}", "created_at": stamp, "updated_at": stamp})
            )
        if n % 250 == 0:
            messages.append(state({"bookmarks": {CUSTOMERS: {"id": n}}}))
    with Sandbox(port=0, quota=0, latency_ms=5) as server:
        config = target_config(server, max_requests_per_minute=60_000)
        run = run_in_process(config, messages)
        log = server.requests
        stats = server.stats()
    assert stats["items"]["customers"] == 2017
    assert stats["items"]["customers_groups"] == 403
    assert run.states[-1]["target_shopimind"]["rejected_count"] == {"customers": 4}
    sent = upserts(log)
    partial = partials_by_resource(log)
    drains = len(run.states)
    assert drains == 1, "one drain (the end): checkpoint_interval_seconds is 60"
    assert partial == {"customers": 1, "customers_groups": 1}, partial
    for name in ("customers", "customers_groups"):
        mine = [e for e in sent if e["resource"] == name]
        items = sum(e["items"] for e in mine)
        assert len(mine) == -(-items // BY_NAME[name].max_batch), (name, len(mine), items)
        # The report agrees with the sandbox: every record is sent, merged or rejected, and
        # every request but the end's last one carries the resource's maximum.
        tally = run.tally(name)
        assert (tally.sent, tally.requests, tally.retries) == (items, len(mine), 0), (name, tally)
        assert tally.received == tally.sent + tally.merged + tally.rejected, (name, tally)
    assert run.tally("customers").rejected_validation == 4


# --- checkpoints: reference order and STATE ---------------------------------------------

STAMP = "2026-05-07T08:00:00Z"
Row = t.Callable[[int], dict]
CHAIN: dict[str, tuple[str, dict[str, dict], list[str], Row]] = {
    # stream: (resource, properties, key_properties, row for round n)
    "public-customer_groups": (
        "customers_groups",
        {
            "id": {"type": "integer"},
            "lang": {"type": "string"},
            "name": {"type": "string"},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
        ["id"],
        lambda n: {"id": n, "lang": "fr", "name": f"G{n}", "created_at": STAMP, "updated_at": STAMP},
    ),
    "public-customers": (
        "customers",
        CUSTOMER_PROPS,
        ["id"],
        customer,
    ),
    "public-addresses": (
        "customers_addresses",
        {
            "customer_id": {"type": "integer"},
            "id": {"type": "integer"},
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "address_line_1": {"type": "string"},
            "postal_code": {"type": "string"},
            "city": {"type": "string"},
            "is_active": {"type": "boolean"},
        },
        ["id"],
        lambda n: {
            "customer_id": n,
            "id": n,
            "first_name": "Ada",
            "last_name": "L",
            "address_line_1": "1 rue Haute",
            "postal_code": "75001",
            "city": "Paris",
            "is_active": True,
        },
    ),
    "public-orders": (
        "orders",
        {
            "id": {"type": "integer"},
            "lang": {"type": "string"},
            "status_id": {"type": "string"},
            "customer_id": {"type": "integer"},
            "customer_email": {"type": "string"},
            "customer_created_at": {"type": "string"},
            "products": {},
            "cart_id": {"type": "integer"},
            "cart_updated_at": {"type": "string"},
            "amount": {"type": "number"},
            "amount_without_tax": {"type": "number"},
            "shipping_costs": {"type": "number"},
            "shipping_costs_without_tax": {"type": "number"},
            "currency": {"type": "string"},
            "is_confirmed": {"type": "boolean"},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
        ["id"],
        lambda n: {
            "id": n,
            "lang": "fr",
            "status_id": "paid",
            "customer_id": n,
            "customer_email": f"c{n}@example.com",
            "customer_created_at": STAMP,
            "products": [{"product_id": 100, "price": 19.99, "price_without_tax": 16.66, "quantity": 2}],
            "cart_id": n,
            "cart_updated_at": STAMP,
            "amount": 39.98,
            "amount_without_tax": 33.32,
            "shipping_costs": 0,
            "shipping_costs_without_tax": 0,
            "currency": "EUR",
            "is_confirmed": True,
            "created_at": STAMP,
            "updated_at": STAMP,
        },
    ),
}
KEY_OF_ROUND: dict[str, t.Callable[[int], str]] = {  # how the sandbox logs round n's upsert key
    "customers_groups": lambda n: f"{n}|fr",
    "customers": str,
    "customers_addresses": lambda n: f"{n}|{n}",
    "orders": str,
}


def chain_input(rounds: int) -> tuple[bytes, dict[tuple[str, str], int]]:
    """Round n carries one record of each stream of the reference chain, then a STATE.

    Returns the input and, for every (resource, key), its line number.
    """
    lines = [json.dumps(state({"bookmarks": {"round": 0}}))]
    for stream, (_, props, key, _) in CHAIN.items():
        lines.append(json.dumps(schema(stream, props, key)))
    line_of: dict[tuple[str, str], int] = {}
    for n in range(1, rounds + 1):
        for stream, (resource, _, _, row) in CHAIN.items():
            lines.append(json.dumps(record(stream, row(n))))
            line_of[(resource, KEY_OF_ROUND[resource](n))] = len(lines)
        lines.append(json.dumps(state({"bookmarks": {"round": n}})))
    return ("\n".join(lines) + "\n").encode(), line_of


def test_checkpoints_flush_references_first_and_state_follows_delivery(tmp_path: Path) -> None:
    rounds = 2000
    data, line_of = chain_input(rounds)
    state_checks: list[tuple[int, dict[str, int]]] = []  # (round of the STATE, items missing per resource)
    with Sandbox(port=0, quota=0, latency_ms=20) as server:
        config = target_config(
            server,
            max_concurrent_requests=3,
            max_requests_per_minute=3000,  # paced, so the run spans several checkpoints
            checkpoint_interval_seconds=0.5,
        )
        with subprocess.Popen(
            [*TARGET, "--config", str(write_config(tmp_path, config))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            stdin, stdout, stderr_pipe = proc.stdin, proc.stdout, proc.stderr
            errors: list[bytes] = []
            drain_stderr = threading.Thread(target=lambda: errors.append(stderr_pipe.read()), daemon=True)
            drain_stderr.start()

            def feed() -> None:
                stdin.write(data)
                stdin.close()

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            states = []
            for raw in stdout:
                value = json.loads(raw)
                states.append(value)
                done = value["bookmarks"]["round"]
                # Everything up to this STATE must already be stored: check now, while the run goes on.
                missing = {}
                for resource, key_of in KEY_OF_ROUND.items():
                    stored = {
                        "|".join(str(item.get(f)) for f in BY_NAME[resource].key) for item in server.items(resource)
                    }
                    absent = sum(1 for n in range(1, done + 1) if key_of(n) not in stored)
                    if absent:
                        missing[resource] = absent
                state_checks.append((done, missing))
            returncode = proc.wait(timeout=120)
            feeder.join(timeout=10)
            drain_stderr.join(timeout=10)
        log = server.requests
    stderr = b"".join(errors).decode(errors="replace")
    assert returncode == 0, stderr[-3000:]
    assert state_checks, "no STATE printed"
    assert state_checks[-1][0] == rounds
    assert all(not missing for _, missing in state_checks), [c for c in state_checks if c[1]][:3]
    drains = len(states)
    assert drains >= 3, f"only {drains} drains: the checkpoints were not exercised"

    sent = upserts(log)
    # Nothing but drains leaves a batch short: at most one partial per resource per drain.
    partial = partials_by_resource(log)
    assert all(count <= drains for count in partial.values()), (partial, drains)
    for resource, key_of in KEY_OF_ROUND.items():
        mine = [e for e in sent if e["resource"] == resource]
        # Every round's item was sent exactly once...
        assert sorted(k for e in mine for k in e["keys"]) == sorted(key_of(n) for n in range(1, rounds + 1)), resource
        # ...in full batches but for at most one per drain.
        assert len(mine) <= -(-rounds // BY_NAME[resource].max_batch) + drains, (resource, len(mine), drains)

    # A drain's flush of resource X (a partial batch) starts only after every request of a
    # resource X points to that holds records read before it has ended.
    def last_line(entry: dict) -> int:
        return max(line_of[(entry["resource"], key)] for key in entry["keys"])

    violations = []
    checked = 0
    for flush in (e for e in sent if e["items"] < BY_NAME[e["resource"]].max_batch):
        before = last_line(flush)
        for ref in sent:
            if ref["resource"] in BY_NAME[flush["resource"]].depends_on and last_line(ref) < before:
                checked += 1
                if ref["ended"] > flush["started"]:
                    violations.append((ref["resource"], ref["items"], flush["resource"], flush["items"]))
    assert checked, "no flush had references to wait for"
    assert not violations, violations[:5]
    assert max_overlap(log) <= 3
    assert not overlapping_conflicts(log)
