"""Fault injection: which outcome the next write gets, and the answer a fault replaces it with."""

from __future__ import annotations

import collections
import math
import random
import threading
import typing as t

from target_shopimind.sandbox.replies import Reply, error, server_error

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

OK, FAIL_500, FAIL_503, DROP, SLOW, APPLIED_500 = "ok", "500", "503", "drop", "slow", "applied500"
THROTTLE = "429"
DRIP = "drip"  # processed, then the answer trickles out one byte per `drip_seconds`
# 200 answers that do not account for the items (nothing stored), as a proxy or a broken
# deployment might give: an HTML page, `{}`, `rejected_items` as an object, a rejected_count
# without rejected_items, counts that do not add up.
ODD_200 = {
    "html200": "<html><body>Maintenance</body></html>",
    "empty200": {},
    "items_object200": {"statusCode": 200, "rejected_items": {}},
    "count_only200": {"statusCode": 200, "sent_count": 0, "rejected_count": 1},
    "miscount200": {"statusCode": 200, "sent_count": 1, "rejected_count": 0, "rejected_items": []},
}
FAULT_KINDS = (OK, FAIL_500, FAIL_503, DROP, SLOW, APPLIED_500, THROTTLE, DRIP, *ODD_200)
_KIND_ALIASES = {"applied_then_500": APPLIED_500, "applied-then-500": APPLIED_500, "fail_500": FAIL_500}
# Constructor/CLI rate names -> fault kind, in the order a random draw tries them.
RATE_NAMES = {
    "drop_rate": DROP,
    "fail_500_rate": FAIL_500,
    "fail_503_rate": FAIL_503,
    "applied_then_500_rate": APPLIED_500,
    "slow_rate": SLOW,
    "drip_rate": DRIP,
    "odd_200_rate": "html200",
}
_SETTING_NAMES = ("latency_ms", "slow_seconds", "retry_after", "drip_seconds")


class Faults:
    """Which outcome the next write gets: a script first, then seeded random rates."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        latency_ms: float = 0,
        fail_500_rate: float = 0.0,
        fail_503_rate: float = 0.0,
        retry_after: float = 1,
        drop_rate: float = 0.0,
        applied_then_500_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 35.0,
        drip_rate: float = 0.0,
        drip_seconds: float = 0.5,
        odd_200_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._initial: dict[str, float] = {
            "latency_ms": latency_ms,
            "retry_after": retry_after,
            "slow_seconds": slow_seconds,
            "drip_seconds": drip_seconds,
            "drip_rate": drip_rate,
            "odd_200_rate": odd_200_rate,
            "fail_500_rate": fail_500_rate,
            "fail_503_rate": fail_503_rate,
            "drop_rate": drop_rate,
            "applied_then_500_rate": applied_then_500_rate,
            "slow_rate": slow_rate,
        }
        self.settings: dict[str, float] = {}
        self._script: collections.deque[str] = collections.deque()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        self.set_rates(**self._initial)

    @staticmethod
    def normalize_kind(kind: object) -> str:
        """`500` (int or str), `applied_then_500` and friends as one of FAULT_KINDS."""
        name = _KIND_ALIASES.get(str(kind).lower(), str(kind).lower())
        if name not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
        return name

    def script_faults(self, outcomes: Iterable[object]) -> None:
        """Queue outcomes for the next write requests, in order (appended to any left)."""
        kinds = [self.normalize_kind(o) for o in outcomes]
        with self._lock:
            self._script.extend(kinds)

    def set_rates(self, **settings: float) -> None:
        """Change rates (`drop_rate`, `fail_500_rate`, or a kind such as `"503"`) and latency settings."""
        by_kind = {kind: name for name, kind in RATE_NAMES.items()}
        updates: dict[str, float] = {}
        for name, value in settings.items():
            key = name if name in RATE_NAMES or name in _SETTING_NAMES else None
            if key is None:
                try:
                    key = by_kind.get(self.normalize_kind(name.removesuffix("_rate")))
                except ValueError:
                    key = None
            if key is None:
                raise ValueError(f"unknown fault setting {name!r}")
            number = float(value)
            if number < 0 or (key in RATE_NAMES and number > 1):
                raise ValueError(f"{name} out of range: {value}")
            updates[key] = number
        with self._lock:
            merged = {**self.settings, **updates}
            if sum(merged.get(n, 0.0) for n in RATE_NAMES) > 1:
                raise ValueError("fault rates add up to more than 1")
            self.settings = merged

    def reset(self) -> None:
        """Back to the constructor's settings and seed, with no script."""
        with self._lock:
            self._script.clear()
            self._rng = random.Random(self._seed)  # noqa: S311
            self.settings = dict(self._initial)

    def next(self) -> str:
        """Outcome of the next write request."""
        with self._lock:
            if self._script:
                return self._script.popleft()
            draw = self._rng.random()
            for name, kind in RATE_NAMES.items():
                rate = self.settings[name]
                if draw < rate:
                    return kind
                draw -= rate
            return OK

    def snapshot(self) -> dict[str, t.Any]:
        """Return the settings and the script left, for `GET /_sandbox/faults`."""
        with self._lock:
            return {"script": list(self._script), "rates": dict(self.settings)}

    def reply(self, fault: str, *, retry_after_header: str | None, pause: Callable[[float], bool]) -> Reply | None:
        """The answer of a fault that replaces processing; None lets the request be processed.

        `pause` sleeps unless the server stops meanwhile (then a slow answer is dropped).
        """
        settings = self.settings
        if fault == DROP:
            return Reply(0, drop=True)
        if fault == FAIL_500:
            return server_error()
        if fault in ODD_200:
            return Reply(200, ODD_200[fault])
        if fault in {FAIL_503, THROTTLE}:
            retry_after = retry_after_header or str(max(0, math.ceil(settings["retry_after"])))
            status, text = (503, "Service Unavailable") if fault == FAIL_503 else (429, "Too Many Requests")
            answer = error(status, text)
            answer.headers["Retry-After"] = retry_after
            return answer
        if fault == SLOW and not pause(settings["slow_seconds"]):
            return Reply(0, drop=True)  # stopping: the client gave up long ago
        return None
