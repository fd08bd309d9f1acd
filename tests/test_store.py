"""The sync store over real HTTP against the sandbox: change detection, acceptance, safety, store_id."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import typing as t

import pytest
from support import (
    API_KEY,
    TARGET,
    customer,
    customers_stream,
    record,
    run_target,
    singer_lines,
    state,
    target_config,
    write_config,
)

from target_shopimind.sandbox import Sandbox
from target_shopimind.store import store_file
from target_shopimind.target import TargetShopiMind

if t.TYPE_CHECKING:
    import pathlib

DAY = 86_400


def writes(server: Sandbox) -> list[dict]:
    """Upsert and delete requests the sandbox answered (or dropped)."""
    return [r for r in server.requests if r["method"] == "POST"]


def store_of(server: Sandbox, folder: pathlib.Path) -> pathlib.Path:
    return store_file(folder, server.url, API_KEY)


def accepted_keys(server: Sandbox, folder: pathlib.Path, resource: str = "customers") -> set[str]:
    with sqlite3.connect(store_of(server, folder)) as db:
        return {row[0] for row in db.execute("SELECT key FROM accepted WHERE resource = ?", (resource,))}


def config_with_store(server: Sandbox, folder: pathlib.Path, **extra: t.Any) -> dict[str, t.Any]:
    return target_config(server, store_path=str(folder), **extra)


def run_in_process(
    config: dict[str, t.Any],
    messages: list[dict],
    capsys: pytest.CaptureFixture[str],
) -> list[dict]:
    """Run the target in this process (so its clock can be replaced); returns its STATE lines."""
    target = TargetShopiMind(config=config)
    target.listen(file_input=t.cast("t.IO[str]", io.BytesIO(singer_lines(messages).encode())))  # the reader takes bytes
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# --- change detection -------------------------------------------------------------------


def test_same_input_twice_sends_nothing_the_second_time(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    config = config_with_store(sandbox, tmp_path / "store")
    messages = [*customers_stream(range(1, 201)), state({"bookmarks": {"customers": 1}})]
    first = run_target(tmp_path, config, messages)
    assert first.returncode == 0, first.stderr
    assert len(writes(sandbox)) == 4
    second = run_target(tmp_path, config, messages)
    assert second.returncode == 0, second.stderr
    assert len(writes(sandbox)) == 4  # no write request at all
    report = second.last_state["target_shopimind"]
    assert report["unchanged_count"] == {"customers": 200}
    assert second.last_state["bookmarks"] == {"customers": 1}
    assert len(sandbox.items("customers")) == 200


def test_one_percent_changed_costs_one_percent_of_the_requests(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    config = config_with_store(sandbox, tmp_path / "store")
    ids = range(1, 1001)
    assert run_target(tmp_path, config, [*customers_stream(ids), state({"b": 1})]).returncode == 0
    assert len(writes(sandbox)) == 20
    changed = set(range(5, 1001, 100))  # 10 rows
    messages = [
        customers_stream([])[0],
        *(record("public-customers", customer(n, first_name="Grace" if n in changed else "Ada")) for n in ids),
        state({"b": 1}),
    ]
    run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr
    assert [r["items"] for r in writes(sandbox)[20:]] == [10]
    assert run.last_state["target_shopimind"]["unchanged_count"] == {"customers": 990}
    graces = {c["customer_id"] for c in sandbox.items("customers") if c["first_name"] == "Grace"}
    assert graces == {str(n) for n in changed}


def test_full_resync_sends_everything_and_keeps_the_store(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    messages = [*customers_stream(range(1, 101)), state({"b": 1})]
    assert run_target(tmp_path, config_with_store(sandbox, folder), messages).returncode == 0
    run = run_target(tmp_path, config_with_store(sandbox, folder, full_resync=True), messages)
    assert run.returncode == 0, run.stderr
    assert len(writes(sandbox)) == 4
    assert run.last_state["target_shopimind"]["unchanged_count"] == {}
    assert len(accepted_keys(sandbox, folder)) == 100
    again = run_target(tmp_path, config_with_store(sandbox, folder), messages)
    assert again.returncode == 0
    assert len(writes(sandbox)) == 4


def test_resend_after_days_with_a_later_clock(
    sandbox: Sandbox,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = config_with_store(sandbox, tmp_path / "store", resend_after_days=7)
    messages = [*customers_stream(range(1, 51)), state({"b": 1})]
    start = time.time()
    monkeypatch.setattr(TargetShopiMind, "clock", staticmethod(lambda: start))
    run_in_process(config, messages, capsys)
    assert len(writes(sandbox)) == 1
    monkeypatch.setattr(TargetShopiMind, "clock", staticmethod(lambda: start + 6 * DAY))
    states = run_in_process(config, messages, capsys)
    assert len(writes(sandbox)) == 1  # accepted 6 days ago: still fresh
    assert states[-1]["target_shopimind"]["unchanged_count"] == {"customers": 50}
    monkeypatch.setattr(TargetShopiMind, "clock", staticmethod(lambda: start + 8 * DAY))
    states = run_in_process(config, messages, capsys)
    assert len(writes(sandbox)) == 2  # older than 7 days: sent again
    assert states[-1]["target_shopimind"]["unchanged_count"] == {}
    monkeypatch.setattr(TargetShopiMind, "clock", staticmethod(lambda: start + 9 * DAY))
    run_in_process(config, messages, capsys)
    assert len(writes(sandbox)) == 2  # that resend refreshed the acceptance time


def test_resend_after_days_zero_sends_every_item(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    config = config_with_store(sandbox, tmp_path / "store", resend_after_days=0)
    messages = [*customers_stream(range(1, 51)), state({"b": 1})]
    for _ in range(2):
        assert run_target(tmp_path, config, messages).returncode == 0
    assert len(writes(sandbox)) == 2


def test_change_detection_off_neither_reads_nor_writes(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    messages = [*customers_stream(range(1, 51)), state({"b": 1})]
    for _ in range(2):
        run = run_target(tmp_path, config_with_store(sandbox, folder, change_detection=False), messages)
        assert run.returncode == 0, run.stderr
    assert len(writes(sandbox)) == 2
    assert accepted_keys(sandbox, folder) == set()


def test_a_later_version_in_the_same_run_is_sent_even_if_it_matches_the_store(tmp_path: pathlib.Path) -> None:
    with Sandbox(port=0, latency_ms=500) as sb:
        config = config_with_store(sb, tmp_path / "store")
        assert run_target(tmp_path, config, [*customers_stream([1]), state({"b": 1})]).returncode == 0
        messages = [
            customers_stream([])[0],
            record("public-customers", customer(1, first_name="Changed")),
            *(record("public-customers", customer(n)) for n in range(2, 51)),  # a full batch: v1 goes
            record("public-customers", customer(1)),  # back to what ShopiMind had, while v1 is in flight
            state({"b": 1}),
        ]
        run = run_target(tmp_path, config, messages)
        assert run.returncode == 0, run.stderr
        assert [r["items"] for r in writes(sb)] == [1, 50, 1]
        assert next(c for c in sb.items("customers") if c["customer_id"] == "1")["first_name"] == "Ada"


# --- recorded only on acceptance ---------------------------------------------------------


def test_an_item_the_api_refuses_is_never_recorded_and_goes_again(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    config = config_with_store(sandbox, folder, replay_rejected=False)
    sandbox.refuse("customers", "7", ["email: refused by the server"])
    messages = [*customers_stream(range(1, 11)), state({"b": 1})]
    first = run_target(tmp_path, config, messages)
    assert first.returncode == 0, first.stderr
    assert [(r["key"], r["stage"]) for r in first.last_state["target_shopimind"]["rejected"]] == [("7", "api")]
    assert accepted_keys(sandbox, folder) == {str(n) for n in range(1, 11) if n != 7}
    second = run_target(tmp_path, config, messages)
    assert second.returncode == 0, second.stderr
    assert [r["items"] for r in writes(sandbox)] == [10, 1]  # only the refused one went again
    assert second.last_state["target_shopimind"]["unchanged_count"] == {"customers": 9}


def test_a_successful_delete_forgets_the_key(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    config = config_with_store(sandbox, folder, on_deleted_record="delete")
    upserts = [*customers_stream([1, 2, 3]), state({"b": 1})]
    assert run_target(tmp_path, config, upserts).returncode == 0
    deleted = [
        customers_stream([])[0],
        record("public-customers", customer(2, _sdc_deleted_at="2026-05-08T00:00:00Z")),
        state({"b": 1}),
    ]
    assert run_target(tmp_path, config, deleted).returncode == 0
    assert accepted_keys(sandbox, folder) == {"1", "3"}
    run = run_target(tmp_path, config, upserts)
    assert run.returncode == 0, run.stderr
    assert writes(sandbox)[-1]["items"] == 1
    assert {c["customer_id"] for c in sandbox.items("customers")} == {"1", "2", "3"}


# --- crash-resume --------------------------------------------------------------------------


def test_kill_9_mid_run_then_the_whole_input_again(tmp_path: pathlib.Path) -> None:
    messages = singer_lines([*customers_stream(range(4000)), state({"bookmarks": {"customers": 4000}})]).encode()
    with Sandbox(port=0, latency_ms=40) as sb:
        config = config_with_store(sb, tmp_path / "store", max_concurrent_requests=2)
        proc = subprocess.Popen(
            [*TARGET, "--config", str(write_config(tmp_path, config))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None
        stdin = proc.stdin

        def feed() -> None:  # from a thread: the pipe takes only part of the input at once
            with contextlib.suppress(BrokenPipeError, ValueError):
                stdin.write(messages)
                stdin.flush()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        deadline = time.monotonic() + 60
        while len(writes(sb)) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed_after = len(writes(sb))
        feeder.join(timeout=10)  # its write fails once the process is gone
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        assert 30 <= killed_after < 50, killed_after  # killed mid-run, with most of the input still to send
        rerun = run_target(tmp_path, config, messages)
        assert rerun.returncode == 0, rerun.stderr
        total = len(writes(sb))
        landed = {c["customer_id"] for c in sb.items("customers")}
    assert landed == {str(n) for n in range(4000)}  # nothing lost
    assert total <= 1.05 * 80, (killed_after, total)  # one uninterrupted run: 80 requests
    assert rerun.last_state["bookmarks"] == {"customers": 4000}


# --- safety ----------------------------------------------------------------------------------


def test_a_file_that_is_not_a_store_stops_the_run_at_start(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    file = store_of(sandbox, folder)
    folder.mkdir()
    file.write_bytes(b"this is not a database" * 100)
    run = run_target(tmp_path, config_with_store(sandbox, folder), [*customers_stream([1]), state({"b": 1})])
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert str(file) in last
    assert "delete that file" in last
    assert writes(sandbox) == []
    assert run.states == []


def test_another_sqlite_database_is_not_taken_for_a_store(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    with sqlite3.connect(store_of(sandbox, folder)) as db:
        db.execute("CREATE TABLE accepted (x)")
    run = run_target(tmp_path, config_with_store(sandbox, folder), [*customers_stream([1]), state({"b": 1})])
    assert run.returncode == 1
    assert str(store_of(sandbox, folder)) in run.stderr.strip().splitlines()[-1]
    assert writes(sandbox) == []


def test_an_older_store_is_rebuilt_and_a_newer_one_refused(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    config = config_with_store(sandbox, folder)
    messages = [*customers_stream(range(1, 11)), state({"b": 1})]
    assert run_target(tmp_path, config, messages).returncode == 0
    with sqlite3.connect(store_of(sandbox, folder)) as db:
        db.execute("UPDATE store_schema SET version = 0 WHERE component = 'sync'")
    rebuilt = run_target(tmp_path, config, messages)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert len(writes(sandbox)) == 2  # nothing misread: everything went once again
    assert len(accepted_keys(sandbox, folder)) == 10
    with sqlite3.connect(store_of(sandbox, folder)) as db:
        db.execute("UPDATE store_schema SET version = 99 WHERE component = 'sync'")
    newer = run_target(tmp_path, config, messages)
    assert newer.returncode == 1
    assert "newer target-shopimind" in newer.stderr.strip().splitlines()[-1]
    assert len(writes(sandbox)) == 2


def test_two_processes_on_one_store(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    lines = singer_lines([*customers_stream(range(500)), state({"b": 1})]).encode()
    with Sandbox(port=0, latency_ms=2000) as sb:  # the first run holds the store for 20 s at least
        first_config = write_config(tmp_path, config_with_store(sb, folder, max_concurrent_requests=1), "a.json")
        (tmp_path / "input.jsonl").write_bytes(lines)
        with (tmp_path / "input.jsonl").open("rb") as stdin:
            first = subprocess.Popen(
                [*TARGET, "--config", str(first_config)], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        deadline = time.monotonic() + 30
        while not writes(sb) and time.monotonic() < deadline:
            time.sleep(0.01)
        impatient = run_target(tmp_path, config_with_store(sb, folder, store_lock_timeout_seconds=0.2), lines)
        assert first.poll() is None, "the first run ended before the second one tried the store"
        sb.set_rates(latency_ms=0)  # the first run now finishes while the patient one waits for the lock
        patient = run_target(tmp_path, config_with_store(sb, folder, store_lock_timeout_seconds=60), lines)
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err.decode()
        total = len(writes(sb))
        assert len(sb.items("customers")) == 500
    assert impatient.returncode == 1
    assert "in use by another target-shopimind process" in impatient.stderr.strip().splitlines()[-1]
    assert impatient.states == []
    assert patient.returncode == 0, patient.stderr  # waited, then found everything accepted
    assert patient.last_state["target_shopimind"]["unchanged_count"] == {"customers": 500}
    assert total == 10
    with sqlite3.connect(store_file(folder, sb.url, API_KEY)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM accepted").fetchone() == (500,)
    assert json.loads(out.decode().splitlines()[-1])["b"] == 1


def test_dry_run_never_writes_the_store(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    messages = [*customers_stream(range(1, 101)), state({"b": 1})]
    assert run_target(tmp_path, config_with_store(sandbox, folder), messages).returncode == 0
    before = store_of(sandbox, folder).read_bytes()
    changed = [*customers_stream(range(1, 121), first_name="Other"), state({"b": 1})]
    dry = run_target(tmp_path, config_with_store(sandbox, folder, dry_run=True), changed)
    assert dry.returncode == 0, dry.stderr
    assert store_of(sandbox, folder).read_bytes() == before
    assert len(writes(sandbox)) == 2
    fresh = tmp_path / "fresh"
    assert run_target(tmp_path, config_with_store(sandbox, fresh, dry_run=True), messages).returncode == 0
    assert not fresh.exists()


def test_dry_run_reports_what_would_be_unchanged(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    messages = [*customers_stream(range(1, 101)), state({"b": 1})]
    assert run_target(tmp_path, config_with_store(sandbox, folder), messages).returncode == 0
    dry = run_target(tmp_path, config_with_store(sandbox, folder, dry_run=True), messages)
    assert dry.returncode == 0, dry.stderr
    assert dry.last_state["target_shopimind"]["unchanged_count"] == {"customers": 100}


def test_the_store_never_holds_the_key(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    assert (
        run_target(tmp_path, config_with_store(sandbox, folder), [*customers_stream([1]), state({"b": 1})]).returncode
        == 0
    )
    for path in folder.iterdir():
        assert API_KEY not in path.name
        assert API_KEY.encode() not in path.read_bytes()


# --- store_id ----------------------------------------------------------------------------------


def test_store_id_in_every_state_and_a_foreign_one_warns(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    config = config_with_store(sandbox, folder, checkpoint_interval_seconds=1e-9)  # a checkpoint at every record
    messages = [*customers_stream(range(1, 6)), state({"b": 1}), *customers_stream(range(6, 9)), state({"b": 2})]
    run = run_target(tmp_path, config, messages)
    assert run.returncode == 0, run.stderr
    ids = {s["target_shopimind"]["store_id"] for s in run.states}
    assert len(ids) == 1
    assert len(run.states) >= 2
    store_id = ids.pop()
    handed_back = [customers_stream([])[0], state(run.last_state)]
    own = run_target(tmp_path, config, handed_back)
    assert own.returncode == 0
    assert "comes from sync store" not in own.stderr
    other = run_target(tmp_path, config_with_store(sandbox, tmp_path / "other"), handed_back)
    assert other.returncode == 0
    assert f"The tap's STATE comes from sync store {store_id}" in other.stderr
    assert other.last_state["target_shopimind"]["store_id"] != store_id


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("process locks and kill -9 are POSIX")
