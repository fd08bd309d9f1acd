"""What a run prints: STATE only when the tap sent one; logs a person can read."""

from __future__ import annotations

import typing as t

from support import customers_stream, run_target, state, target_config

if t.TYPE_CHECKING:
    import pathlib

    from target_shopimind.sandbox import Sandbox


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
