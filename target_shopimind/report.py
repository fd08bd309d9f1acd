"""What happened to every record: counters, rejections, the rejects file, the summary.

Counters that only the reading thread touches are plain ints; those the delivery
threads touch are updated under one lock.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import pathlib
import re
import threading
import time
import typing as t

from target_shopimind.errors import TargetError

if t.TYPE_CHECKING:
    from collections.abc import Iterable

logger = logging.getLogger("target-shopimind")

RECENT_REJECTIONS = 1000
LOGGED_PER_REASON = 10  # rejections logged one by one per resource and reason; the rest are counted
TOP_REASONS = 5  # reasons per resource in the summary
MINUTE = 60.0
# Every string of a rejection in STATE is cut to this (an error may quote a value, a key may
# be a megabyte), and at most MAX_ERRORS errors are kept per rejection: STATE stays small.
MAX_ERROR_CHARS = 300
MAX_ERRORS = 20


def bounded(text: object, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` as a string of at most `limit` characters (plus an ellipsis when cut)."""
    text = text if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[:limit] + "…"


_INDEX = re.compile(r"\.\d+(?=[.:\s]|$)")  # products.0.price → products[].price
_SCHEMA_VALUE = re.compile(
    r"^(?P<field>[^:]+: ).+? (?P<rule>is not of type|is not one of|is not valid under|does not match|"
    r"is too long|is too short|is not a|is less than|is greater than)",
)
_QUOTED_VALUE = re.compile(r"(value|got) '[^']*'")
_NUMBER_IN_TEXT = re.compile(r"\b(got|is) \d+\b")


def reason_of(errors: Iterable[str]) -> str:
    """The errors of one rejection without their values: `products[].quantity: must be an integer`."""
    parts = []
    for error in errors:
        text = _INDEX.sub("[]", error)
        text = _SCHEMA_VALUE.sub(r"\g<field>value \g<rule>", text)
        text = _QUOTED_VALUE.sub(r"\1 '…'", text)
        parts.append(_NUMBER_IN_TEXT.sub(r"\1 N", text))
    return "; ".join(dict.fromkeys(parts)) or "(no reason given)"


def pace(requests: int, span: float, cap: int | None = None) -> str:
    """Requests per minute over `span` seconds; a burst shorter than a minute as its count and span.

    A rate extrapolated from a few seconds could read above the quota the run never exceeded.
    """
    if requests <= 1 or span <= 0:
        return f"{requests} requests in {span:.1f} s" if requests else "no requests"
    if span < MINUTE:
        return f"{requests} requests in {span:.1f} s"
    rate = (requests - 1) / span * MINUTE
    return f"{min(rate, cap) if cap else rate:.0f} requests/min"


@dataclasses.dataclass
class Tally:
    """Per-resource figures of one run."""

    received: int = 0
    sent: int = 0
    rejected_validation: int = 0
    rejected_api: int = 0
    deleted: int = 0
    deletes_ignored: int = 0
    skipped: int = 0
    merged: int = 0
    waiting_for_parent: int = 0  # child rows whose parent the store has not held yet
    unchanged: int = 0  # skipped by change detection: ShopiMind already has these bytes
    replayed: int = 0  # kept rejections of earlier runs that went through again
    still_rejected: int = 0  # replayed and refused again
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    first_request: float | None = None
    last_request: float | None = None

    @property
    def rejected(self) -> int:
        """Rejections of both stages."""
        return self.rejected_validation + self.rejected_api


def _finite(value: t.Any) -> t.Any:
    """`value` with NaN and infinities as strings (JSON has no token for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_line(entry: dict[str, t.Any]) -> str:
    """One rejects-file line; a record JSON cannot hold as it is is written as best it can."""
    try:
        return json.dumps(entry, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:
        try:
            return json.dumps(_finite(entry), default=str, ensure_ascii=False)
        except RecursionError:
            pass
    except RecursionError:
        pass
    return json.dumps({**entry, "record": "(nested too deeply to write)"}, default=str, ensure_ascii=False)


class Report:
    """Shared by the sinks (reading thread) and the delivery workers."""

    def __init__(
        self,
        *,
        rejects_path: str | None = None,
        max_rejected: int | None = None,
        dry_run: bool = False,
    ) -> None:
        self.tallies: dict[str, Tally] = collections.defaultdict(Tally)
        self.recent: collections.deque[dict[str, t.Any]] = collections.deque(maxlen=RECENT_REJECTIONS)
        self.max_rejected = max_rejected
        self.dry_run = dry_run
        self.started = time.monotonic()
        self.request_cap: int | None = None  # max_requests_per_minute: no pace is shown above it
        # resource -> reason (values stripped) -> rejections; written under the lock, read without it
        self.reasons: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.notes: list[str] = []  # set-up done or planned (custom data definitions, data source)
        self._lock = threading.Lock()
        self._rejects = None
        if rejects_path:
            path = pathlib.Path(rejects_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            # backslashreplace: a lone surrogate in a record is written as its JSON escape.
            self._rejects = path.open("a", encoding="utf-8", errors="backslashreplace")

    def tally(self, name: str) -> Tally:
        """The figures of one resource (or of a skipped stream)."""
        return self.tallies[name]

    def reject(  # noqa: PLR0913
        self,
        *,
        stream: str,
        resource: str,
        key: str,
        stage: str,
        errors: list[str],
        record: t.Any,
        where: str = "",
    ) -> None:
        """Record one rejection (`where` only goes to the log); stop past `max_rejected_records`."""
        kept = [bounded(e) for e in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            kept.append(f"… and {len(errors) - MAX_ERRORS} more errors")
        errors = kept
        entry = {"stream": bounded(stream), "resource": resource, "key": bounded(key), "stage": stage, "errors": errors}
        with self._lock:
            tally = self.tallies[resource]
            if stage == "validation":
                tally.rejected_validation += 1
            else:
                tally.rejected_api += 1
            self.recent.append(entry)
            reason = reason_of(errors)
            self.reasons[resource][reason] += 1
            seen = self.reasons[resource][reason]
            if self._rejects is not None:
                line = _json_line({**entry, "record": record})
                self._rejects.write(line + "\n")
                self._rejects.flush()
            total = sum(x.rejected for x in self.tallies.values())
        if seen <= LOGGED_PER_REASON:
            logger.warning(
                "%s: rejected %s '%s' (%s%s): %s",
                entry["stream"],
                resource,
                entry["key"],
                stage,
                f", {where}" if where else "",
                "; ".join(errors),
            )
        elif seen == LOGGED_PER_REASON + 1:
            logger.warning(
                "%s: further rejections of %s for '%s' are counted, not logged (the rejects file and STATE "
                "have every one; the summary counts them)",
                entry["stream"],
                resource,
                bounded(reason),
            )
        if self.max_rejected is not None and total > self.max_rejected:
            msg = (
                f"{total} records rejected, more than max_rejected_records={self.max_rejected}; "
                "fix the data or the mapping (see the rejections above and in the STATE), "
                "or raise max_rejected_records"
            )
            raise TargetError(msg)

    def note(self, text: str) -> None:
        """A line for the summary about set-up the run did (or, in a dry run, would do)."""
        logger.info("%s", text)
        with self._lock:
            self.notes.append(text)

    def accepted(self, resource: str, *, sent: int = 0, deleted: int = 0) -> None:
        """Items the API accepted (a 200 bulk answer)."""
        with self._lock:
            tally = self.tallies[resource]
            tally.sent += sent
            tally.deleted += deleted

    def still_rejected(self, resource: str) -> None:
        """A replayed record was refused again (either thread)."""
        with self._lock:
            self.tallies[resource].still_rejected += 1

    def on_attempt(self, resource: str, status: int | None, *, retry: bool) -> None:
        """One HTTP attempt (the client calls this)."""
        now = time.monotonic()
        with self._lock:
            tally = self.tallies[resource]
            tally.requests += 1
            tally.retries += int(retry)
            tally.throttled += int(status == 429)
            tally.first_request = tally.first_request if tally.first_request is not None else now
            tally.last_request = now

    def state_value(self) -> dict[str, t.Any]:
        """The `target_shopimind` key of every emitted STATE."""
        with self._lock:
            tallies = sorted(self.tallies.items())
            counts = {name: x.rejected for name, x in tallies if x.rejected}
            value: dict[str, t.Any] = {"rejected_count": counts, "rejected": list(self.recent)}
            value["unchanged_count"] = {name: x.unchanged for name, x in tallies if x.unchanged}
            replayed = {name: x.replayed for name, x in tallies if x.replayed}
            if replayed:
                value["replayed_count"] = replayed
                value["still_rejected_count"] = {name: x.still_rejected for name, x in tallies if x.replayed}
            return value

    def summary_lines(self) -> list[str]:
        """One line per resource, then the totals."""
        verb = "would send" if self.dry_run else "sent"
        lines = []
        with self._lock:
            tallies = sorted(self.tallies.items())
        total = Tally()
        for name, x in tallies:
            elapsed = (x.last_request - x.first_request) if x.first_request is not None and x.last_request else 0.0
            lines.append(
                f"{name}: received {x.received}, {verb} {x.sent}, rejected {x.rejected} "
                f"(validation {x.rejected_validation}, api {x.rejected_api}), unchanged {x.unchanged}, "
                f"deleted {x.deleted}, "
                f"deletes ignored {x.deletes_ignored}, skipped {x.skipped}, merged {x.merged}, "
                f"replayed {x.replayed}, still rejected {x.still_rejected}, "
                f"requests {x.requests}, retries {x.retries}, 429 {x.throttled}, "
                f"elapsed {elapsed:.1f} s, {pace(x.requests, elapsed, self.request_cap)}"
                + (f", waiting for parent {x.waiting_for_parent}" if x.waiting_for_parent else "")
            )
            lines.extend(f"  {count} rejected: {reason}" for reason, count in self.top_reasons(name))
            for field in dataclasses.fields(Tally):
                if field.type == "int":
                    setattr(total, field.name, getattr(total, field.name) + getattr(x, field.name))
        wall = time.monotonic() - self.started
        lines.append(
            f"total: received {total.received}, {verb} {total.sent}, rejected {total.rejected}, "
            f"unchanged {total.unchanged}, replayed {total.replayed}, still rejected {total.still_rejected}, "
            f"deleted {total.deleted}, skipped {total.skipped}, requests {total.requests}, "
            f"retries {total.retries}, 429 {total.throttled}, wall {wall:.1f} s"
        )
        with self._lock:
            lines.extend(self.notes)
        return lines

    def top_reasons(self, resource: str, limit: int = TOP_REASONS) -> list[tuple[str, int]]:
        """The resource's most frequent rejection reasons (values stripped), read without the lock."""
        counter = self.reasons.get(resource)
        if not counter:
            return []
        try:
            counts = dict(counter)
        except RuntimeError:  # a new reason arrived while copied
            return []
        return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]

    def log_summary(self) -> None:
        """The end-of-run block on stderr."""
        logger.info("target-shopimind summary%s:", " (dry run: nothing was sent)" if self.dry_run else "")
        for line in self.summary_lines():
            logger.info("  %s", line)

    def close(self) -> None:
        """Close the rejects file."""
        if self._rejects is not None:
            self._rejects.close()
            self._rejects = None
