"""Test helpers shared by the test modules: Singer messages, configs, the real CLI as a subprocess, the target in-process."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import typing as t

from target_shopimind.sandbox import DEFAULT_API_KEY, Sandbox
from target_shopimind.target import TargetShopiMind

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from target_shopimind.report import Tally

API_KEY = DEFAULT_API_KEY
TARGET = [sys.executable, "-m", "target_shopimind.target"]


@dataclasses.dataclass
class Run:
    """What one run of `target-shopimind` printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def states(self) -> list[dict]:
        """Every STATE line (stdout carries nothing else)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def last_state(self) -> dict:
        assert self.states, f"no STATE emitted; stderr:\n{self.stderr[-3000:]}"
        return self.states[-1]


def write_config(tmp_path: Path, config: dict[str, t.Any], name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def singer_lines(messages: Iterable[dict]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


def run_target(
    tmp_path: Path,
    config: dict[str, t.Any],
    messages: Iterable[dict] | str | bytes,
    *,
    timeout: float = 120,
) -> Run:
    """Run the real CLI with `messages` on stdin."""
    payload = messages if isinstance(messages, (str, bytes)) else singer_lines(messages)
    data = payload.encode() if isinstance(payload, str) else payload
    proc = subprocess.run(
        [*TARGET, "--config", str(write_config(tmp_path, config))],
        input=data,
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode(errors="replace"))


@dataclasses.dataclass
class InProcessRun:
    """One run of `TargetShopiMind.listen` in the test's own process: its STATE lines and its report."""

    target: TargetShopiMind
    stdout: str

    @property
    def states(self) -> list[dict]:
        """Every STATE line (stdout carries nothing else)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def tally(self, resource: str) -> Tally:
        """The report's figures for `resource`."""
        return self.target.report.tally(resource)


def run_in_process(config: dict[str, t.Any], messages: Iterable[dict] | str) -> InProcessRun:
    """Feed Singer messages (or the text of a `.singer` file) to `target.listen`, as a tap would."""
    payload = messages if isinstance(messages, str) else singer_lines(messages)
    target = TargetShopiMind(config=config)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        target.listen(io.StringIO(payload))
    return InProcessRun(target, out.getvalue())


_SUMMARY_LINE = re.compile(r"(\S+): (received \d+.*)$")
_FIGURE = re.compile(r"(429|[a-z][a-z ]*[a-z]) (\d+)\b")
_REASON_LINE = re.compile(r"\s\d+ rejected: ")


def summary(stderr: str) -> dict[str, dict[str, int]]:
    """The last end-of-run summary on stderr, as resource → figure → count.

    `summary(run.stderr)["customers"]["deleted"] == 25` checks the number itself, where a
    substring such as "deleted 25" would also match "deleted 250".
    """
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if "target-shopimind summary" in line]
    assert starts, f"no summary on stderr:\n{stderr[-3000:]}"
    figures: dict[str, dict[str, int]] = {}
    for line in lines[starts[-1] + 1 :]:
        match = _SUMMARY_LINE.search(line)
        if match is None:
            if _REASON_LINE.search(line):
                continue  # a resource's most frequent rejection reasons, under its line
            break
        figures[match.group(1)] = {name: int(count) for name, count in _FIGURE.findall(match.group(2))}
    return figures


def schema(stream: str, properties: dict[str, dict], key: list[str]) -> dict:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": key,
    }


def record(stream: str, row: dict) -> dict:
    return {"type": "RECORD", "stream": stream, "record": row}


def state(value: dict) -> dict:
    return {"type": "STATE", "value": value}


CUSTOMER_PROPS: dict[str, dict] = {
    "id": {"type": ["integer", "null"]},
    "email": {"type": ["string", "null"]},
    "first_name": {"type": ["string", "null"]},
    "last_name": {"type": ["string", "null"]},
    "lang": {"type": ["string", "null"]},
    "is_newsletter_subscribed": {"type": ["boolean", "null"]},
    "created_at": {"type": ["string", "null"], "format": "date-time"},
    "updated_at": {"type": ["string", "null"], "format": "date-time"},
    "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
}


def customer(n: int, **overrides: t.Any) -> dict:
    row = {
        "id": n,
        "email": f"c{n}@example.com",
        "first_name": "Ada",
        "last_name": f"Lovelace {n}",
        "lang": "fr_FR",
        "is_newsletter_subscribed": True,
        "created_at": "2026-05-07T10:00:00+02:00",
        "updated_at": "2026-05-07T08:00:00Z",
    }
    row.update(overrides)
    return row


def customers_stream(ids: Iterable[int], stream: str = "public-customers", **overrides: t.Any) -> list[dict]:
    return [schema(stream, CUSTOMER_PROPS, ["id"]), *(record(stream, customer(n, **overrides)) for n in ids)]


_STORES = tempfile.TemporaryDirectory(prefix="target-shopimind-stores-")


def fresh_store_path() -> str:
    """A new, empty sync store folder (removed when the test session ends)."""
    return tempfile.mkdtemp(dir=_STORES.name)


def target_config(server: Sandbox, **extra: t.Any) -> dict[str, t.Any]:
    """Config for `server`; each call gets its own empty sync store unless `store_path` is given."""
    return {"api_key": API_KEY, "base_url": server.url, "store_path": fresh_store_path(), **extra}


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
