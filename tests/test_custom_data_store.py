"""Custom data records go through the sync store like resource items: change detection and replay."""

from __future__ import annotations

import typing as t

from support import record, run_target, schema, state
from test_custom_data import DEFINITION, PROPS, STREAM, account, accounts, custom_config

if t.TYPE_CHECKING:
    import pathlib

    from target_shopimind.sandbox import Sandbox

RESOURCE = f"custom:{DEFINITION}"


def record_posts(sandbox: Sandbox, since: int = 0) -> list[int]:
    return [
        e["items"]
        for e in sandbox.requests[since:]
        if e["method"] == "POST" and e["path"].startswith("/v1/custom-data-records/")
    ]


def test_a_second_identical_run_sends_no_record(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    cfg = custom_config(sandbox, store_path=str(tmp_path / "store"))
    first = run_target(tmp_path, cfg, accounts(range(1, 46)))
    assert first.returncode == 0, first.stderr
    assert record_posts(sandbox) == [20, 20, 5]
    before = len(sandbox.requests)
    second = run_target(tmp_path, cfg, accounts(range(1, 46)))
    assert second.returncode == 0, second.stderr
    assert record_posts(sandbox, before) == []
    assert second.last_state["target_shopimind"]["unchanged_count"] == {RESOURCE: 45}
    # One changed row: only that record goes.
    before = len(sandbox.requests)
    messages = accounts(range(1, 46))
    messages[7] = record(STREAM, account(7, points=1))  # [0] is the SCHEMA
    third = run_target(tmp_path, cfg, messages)
    assert third.returncode == 0, third.stderr
    assert record_posts(sandbox, before) == [1]
    assert next(r for r in sandbox.items(RESOURCE) if r["account_id"] == 7)["points"] == 1
    assert len(sandbox.items(RESOURCE)) == 45


def test_a_rejected_record_is_replayed_after_a_fix(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    store = str(tmp_path / "store")
    messages = [
        schema(STREAM, PROPS, ["account_id"]),
        record(STREAM, account(1, email="  ada@example.com ")),  # spaces: not an e-mail address
        record(STREAM, account(2)),
        state({"bookmarks": {STREAM: 2}}),
    ]
    first = run_target(tmp_path, custom_config(sandbox, store_path=store), messages)
    assert first.returncode == 0, first.stderr
    assert first.last_state["target_shopimind"]["rejected_count"] == {RESOURCE: 1}
    assert [r["account_id"] for r in sandbox.items(RESOURCE)] == [2]
    # The fix: a stream map trims the column. The tap's bookmark moved past row 1; row 3 is new.
    fixed = custom_config(sandbox, store_path=store, stream_maps={STREAM: {"email": "email.strip()"}})
    later = [schema(STREAM, PROPS, ["account_id"]), record(STREAM, account(3)), state({"bookmarks": {STREAM: 3}})]
    second = run_target(tmp_path, fixed, later)
    assert second.returncode == 0, second.stderr
    report = second.last_state["target_shopimind"]
    assert report["replayed_count"] == {RESOURCE: 1}
    assert report["still_rejected_count"] == {RESOURCE: 0}
    held = {r["account_id"]: r for r in sandbox.items(RESOURCE)}
    assert sorted(held) == [1, 2, 3]
    assert held[1]["email"] == {"by": "email", "value": "ada@example.com"}
