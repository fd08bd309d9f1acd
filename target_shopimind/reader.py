"""Singer input read as bytes, so every bad line is named by its number."""

from __future__ import annotations

import collections
import json
import re
import sys
import typing as t

from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json

from target_shopimind.compat import override
from target_shopimind.errors import InputError, RecordBeforeSchema, TargetError
from target_shopimind.stopping import Interrupted, Stop

BATCH_REFUSED = (
    "BATCH messages are not supported; configure the tap to send RECORD messages (turn its `batch_config` off)"
)
_STREAM = re.compile(rb'"stream"\s*:\s*"([^"\\]{1,200})"')


def _stream_hint(raw: bytes) -> str | None:
    """The stream a broken line seems to belong to (for the message only)."""
    match = _STREAM.search(raw[:4096])
    return match.group(1).decode("utf-8", "replace") if match else None


class PositionedReader(SingerReader):
    """Counts lines; turns unreadable lines into `InputError` after `before_abort` runs.

    It is also where a stop signal takes effect: `waiting_for_input` tells the signal handler
    that the thread is only waiting for the next line (holding nothing, so it may be
    interrupted there), and between two messages a pending stop ends the loop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.records: collections.Counter[str] = collections.Counter()
        self.stream = ""  # the input stream (before stream maps) of the record being handled
        self.before_abort: t.Callable[[], None] | None = None
        self.stop = Stop()
        self.waiting_for_input = False
        self.stopping = False
        # Told of each RECORD before the target handles it (the record as the tap sent it).
        self.on_record: t.Callable[[dict], None] | None = None
        # Told of each STATE before the target keeps it; may stop the run.
        self.on_state: t.Callable[[dict], None] | None = None
        # Told once before the first line is read, and when a stop signal ended the input early.
        self.on_start: t.Callable[[], None] | None = None
        self.on_interrupted: t.Callable[[], None] | None = None
        # Told of an error the target raised for a RECORD; True: the record was refused, go on.
        self.refuse: t.Callable[[dict, Exception], bool] | None = None
        self._callbacks: dict[str, t.Callable[[dict], None]] = {}

    @property
    @override
    def default_input(self) -> t.IO[t.Any]:  # type: ignore[override]
        """Standard input as bytes."""
        return sys.stdin.buffer

    def position(self, stream: str) -> str:
        """Where the current record stands, for messages (`stream`: when no record is being handled)."""
        stream = self.stream or stream
        return f"line {self.line}, record {self.records[stream]} of stream '{stream}'"

    @override
    def process_lines(
        self,
        file_input: t.IO[t.Any] | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> collections.Counter[str]:
        """Dispatch each message; on an unreadable one, keep what came before, then stop.

        A stop signal ends the input early: the target then settles what it read, as at the end.
        """
        stats: collections.Counter[str] = collections.Counter()
        self._callbacks = callbacks
        if self.on_start is not None:
            self.on_start()
        lines = iter(file_input or self.default_input)
        try:
            while True:
                raw = self._next_line(lines)
                if raw is None:
                    break
                self.line += 1
                message = self._parse(raw)
                if message is None:
                    continue
                stats[self._dispatch(message, callbacks)] += 1
        except InputError:  # includes errors raised by the target for this line
            if self.before_abort is not None:
                self.before_abort()
            raise
        except Interrupted:
            if self.on_interrupted is None:
                raise
            self.on_interrupted()
        return stats

    def _dispatch(self, message: dict, callbacks: dict[str, t.Callable[[dict], None]]) -> str:
        """Hand one message to the target; returns its type."""
        kind = str(message["type"])
        callback = callbacks.get(kind)
        if callback is None:
            raise InputError(self.line, f"unknown message type {kind!r}", message.get("stream"))
        if kind == "BATCH":  # the SDK would hand the files' records to the sinks unchecked
            raise InputError(self.line, BATCH_REFUSED, message.get("stream"))
        if kind == "RECORD":
            self.records[str(message.get("stream"))] += 1
            callback = self.dispatch_record
        elif kind == "STATE" and self.on_state is not None:
            self.on_state(message)
        try:
            callback(message)
        except RecordsWithoutSchemaException:
            raise RecordBeforeSchema(self.line, "RECORD before its SCHEMA", message.get("stream")) from None
        except InvalidInputLine as exc:
            raise InputError(self.line, str(exc).split(":")[0], message.get("stream")) from None
        return kind

    def dispatch_record(self, message: dict) -> None:
        """Hand one RECORD to the target; an error it raises for that record alone refuses the record.

        Also how kept records of earlier runs are replayed at the end of input, on the same path.
        """
        self.stream = str(message.get("stream", ""))
        if self.on_record is not None:
            self.on_record(message)
        try:
            self._callbacks["RECORD"](message)
        except (TargetError, Interrupted, RecordsWithoutSchemaException, InvalidInputLine):
            raise
        except Exception as exc:
            if self.refuse is None or not self.refuse(message, exc):
                raise

    def _next_line(self, lines: t.Iterator[t.Any]) -> t.Any:
        """The next line, None at the end; a stop signal ends the input here (a safe point)."""
        self.waiting_for_input = True
        try:
            if self.stop.requested and not self.stopping:
                self.stopping = True
                raise Interrupted
            return next(lines, None)
        finally:
            self.waiting_for_input = False

    def _parse(self, raw: bytes | str) -> dict | None:
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                raise InputError(self.line, problem, _stream_hint(raw)) from None
        else:
            text = raw
        if not text.strip():
            return None
        try:
            message = deserialize_json(text)
        except json.JSONDecodeError as exc:
            hint = _stream_hint(text.encode("utf-8", "replace"))
            raise InputError(self.line, f"not valid JSON ({exc.msg} at column {exc.colno})", hint) from None
        except RecursionError:
            hint = _stream_hint(text.encode("utf-8", "replace"))
            raise InputError(self.line, "JSON nested too deeply to read", hint) from None
        if not isinstance(message, dict) or "type" not in message:
            raise InputError(self.line, "a Singer message needs a 'type'")
        return message
