"""What a run prints: STATE only when the tap sent one; logs a person can read."""

from __future__ import annotations

import re
import typing as t

from support import (
    CUSTOMER_PROPS,
    customer,
    customers_stream,
    record,
    run_target,
    schema,
    state,
    summary,
    target_config,
)

from target_shopimind.progress import Progress, RequestStarts
from target_shopimind.report import LOGGED_PER_REASON, Report, pace, reason_of
from target_shopimind.sandbox import Sandbox

if t.TYPE_CHECKING:
    import pathlib


def test_a_run_without_tap_state_prints_nothing_on_stdout(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    messages = customers_stream(range(1, 6))
    messages.append({"type": "RECORD", "stream": "public-customers", "record": {"id": 9, "email": "bad"}})
    run = run_target(tmp_path, target_config(sandbox), messages)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert len(sandbox.items("customers")) == 5


def test_a_run_with_tap_state_prints_it_with_the_report(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    run = run_target(tmp_path, target_config(sandbox), [*customers_stream(range(1, 6)), state({"bookmarks": {"a": 1}})])
    assert run.returncode == 0, run.stderr
    assert len(run.states) == 1
    assert run.last_state["bookmarks"] == {"a": 1}
    assert run.last_state["target_shopimind"]["rejected_count"] == {}


# --- rejections in the log -----------------------------------------------------------------


def test_many_rejections_are_logged_ten_per_reason_then_counted(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    bad_email = [customer(1000 + n, email=f"not-an-email-{n}") for n in range(450)]
    bad_lang = [customer(2000 + n, lang=f"lang-{n}") for n in range(50)]
    good = [customer(n) for n in range(1, 21)]
    rejects = tmp_path / "rejects.jsonl"
    messages = [
        schema("public-customers", CUSTOMER_PROPS, ["id"]),
        *(record("public-customers", r) for r in [*good, *bad_email, *bad_lang]),
        state({"b": 1}),
    ]
    run = run_target(tmp_path, target_config(sandbox, rejected_records_path=str(rejects)), messages)
    assert run.returncode == 0, run.stderr
    assert len(sandbox.items("customers")) == 20
    assert run.last_state["target_shopimind"]["rejected_count"] == {"customers": 500}
    assert len(rejects.read_text().splitlines()) == 500  # every one is kept
    keys = {f"'{r['id']}'" for r in [*bad_email, *bad_lang]}
    lines = run.stderr.splitlines()
    naming_a_key = [line for line in lines if any(k in line for k in keys)]
    assert len(naming_a_key) == 2 * LOGGED_PER_REASON  # the first ten of each of the two reasons
    # The whole log stays short: not one line per rejection.
    assert len(lines) < 100


def test_reasons_group_alike_errors() -> None:
    assert reason_of(["products.0.quantity: must be an integer", "products.12.quantity: must be an integer"]) == (
        "products[].quantity: must be an integer"
    )
    assert reason_of(["email: 12345 is not of type 'string' (the stream's schema)"]) == reason_of(
        ["email: 678 is not of type 'string' (the stream's schema)"]
    )
    assert reason_of(["Could not parse value '2026-13-45' for field 'x'."]) == reason_of(
        ["Could not parse value 'yesterday' for field 'x'."]
    )
    assert reason_of(["voucher_used: must be at most 256 characters (got 300)"]) == reason_of(
        ["voucher_used: must be at most 256 characters (got 1000)"]
    )
    assert reason_of(["gender: must be one of 0, 1, 2"]) == "gender: must be one of 0, 1, 2"
    assert reason_of(["email: not a valid e-mail address"]) != reason_of(["lang: is required"])


def test_summary_has_the_top_five_reasons_per_resource(tmp_path: pathlib.Path) -> None:
    report = Report(rejects_path=str(tmp_path / "r.jsonl"))
    plan = {"a: is required": 7, "b: is required": 6, "c: is required": 5, "d: is required": 4}
    plan |= {"e: is required": 3, "f: is required": 2}
    for error, count in plan.items():
        for n in range(count):
            report.reject(stream="s", resource="customers", key=str(n), stage="api", errors=[error], record={})
    for n in range(3):
        report.reject(
            stream="s", resource="orders", key=str(n), stage="validation", errors=[f"x.{n}.y: bad"], record={}
        )
    report.close()
    assert report.top_reasons("customers") == [(e, c) for e, c in plan.items()][:5]
    assert report.top_reasons("orders") == [("x[].y: bad", 3)]
    lines = report.summary_lines()
    assert sum(1 for line in lines if line.startswith("  ")) == 5 + 1


# --- pace against the cap, progress -----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_short_burst_is_shown_as_count_and_span_never_as_a_rate_above_the_cap() -> None:
    clock = Clock()
    starts = RequestStarts(clock)
    for _ in range(30):
        starts.add()
        clock.now += 0.1
    text = starts.pace(600)
    assert re.findall(r"\d+", text) == ["30", "3", "600"]  # 30 requests in 3 s, cap 600/min
    assert pace(30, 2.9, 600) == "30 requests in 2.9 s"
    assert pace(700, 61.0, 600) == "600 requests/min"  # averaged over a minute and more, still capped
    assert pace(0, 0.0, 600) == "no requests"


def test_requests_in_the_last_minute_come_from_start_times() -> None:
    clock = Clock()
    starts = RequestStarts(clock)
    for _ in range(900):  # 10 per second for 90 s
        starts.add()
        clock.now += 0.1
    assert starts.in_last_minute(clock.now) == 600
    numbers = [int(n) for n in re.findall(r"\d+", starts.pace(600))]
    assert numbers == [900, 600, 600]


def test_progress_line_reads_the_totals(tmp_path: pathlib.Path) -> None:
    report = Report()
    tally = report.tally("customers")
    tally.received, tally.sent, tally.merged = 100, 40, 5
    report.reject(stream="s", resource="customers", key="1", stage="validation", errors=["e: bad"], record={})
    clock = Clock()
    starts = RequestStarts(clock)
    starts.add()
    clock.now += 10
    line = Progress(report, starts, interval=30, cap=600, clock=clock).line()
    fields = dict(re.findall(r"(received|sent|unchanged|rejected|items waiting) (\d+)", line))
    assert fields == {"received": "100", "sent": "40", "unchanged": "0", "rejected": "1", "items waiting": "54"}


def test_progress_lines_while_the_run_goes_on_and_none_when_off(tmp_path: pathlib.Path) -> None:
    messages = [*customers_stream(range(1, 201)), state({"b": 1})]
    with Sandbox(port=0, latency_ms=300) as slow:
        on = run_target(
            tmp_path, target_config(slow, progress_interval_seconds=0.2, max_concurrent_requests=1), messages
        )
        off = run_target(
            tmp_path, target_config(slow, progress_interval_seconds=0, max_concurrent_requests=1), messages
        )
    assert on.returncode == 0, on.stderr
    assert off.returncode == 0, off.stderr
    progress = [line for line in on.stderr.splitlines() if "progress: received" in line]
    assert progress  # four requests of 300 ms: the run lasts several intervals
    received = [int(n) for n in re.findall(r"progress: received (\d+)", "\n".join(progress))]
    assert received == sorted(received)
    assert all(n <= 200 for n in received)
    assert not [line for line in off.stderr.splitlines() if "progress: received" in line]


def test_without_a_state_from_the_tap_every_batch_still_settles_before_the_run_ends(tmp_path: pathlib.Path) -> None:
    """No STATE means no checkpoint waits for delivery: the end of input must, however slow the answer."""
    with Sandbox(port=0, latency_ms=6000) as server:
        run = run_target(tmp_path, target_config(server), customers_stream(range(1, 11)))
        stored = {item["customer_id"] for item in server.items("customers")}
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == ""
    assert stored == {str(n) for n in range(1, 11)}
    assert summary(run.stderr)["customers"]["sent"] == 10
