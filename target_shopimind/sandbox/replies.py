"""What the sandbox answers: one `Reply`, NestJS's error body, ShopiMind's list envelope."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import typing as t

LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 10_000
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclasses.dataclass
class Reply:
    """One answer; `drop` closes the socket instead of writing anything."""

    status: int
    body: t.Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    drop: bool = False
    drip: float = 0.0  # seconds between two bytes of the body


def error_body(status: int, message: str, error: str | None = None) -> dict[str, t.Any]:
    """NestJS's default error shape (`statusCode`, `message`, `error`), as ShopiMind answers."""
    return {"statusCode": status, "message": message, "error": error or _REASONS.get(status, "Error")}


def error(status: int, message: str, reason: str | None = None) -> Reply:
    """An error answer with NestJS's body."""
    return Reply(status, error_body(status, message, reason))


def bad_request(message: str) -> Reply:
    """A 400 with NestJS's body."""
    return error(400, message)


def server_error() -> Reply:
    """The 500 a failing ShopiMind answers (also after applying a write, for `applied500`)."""
    return error(500, "Internal server error")


def now_iso() -> str:
    """The current time as ShopiMind writes it (UTC, milliseconds, `Z`)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def page(
    rows: list[t.Any],
    query: dict[str, list[str]],
    *,
    max_limit: int = LIST_MAX_LIMIT,
    falls_back: bool = False,
) -> dict[str, t.Any]:
    """ShopiMind's list envelope over `rows`, from `limit` and `offset`.

    A `limit` above `max_limit` is cut to it, or (`falls_back`, as the custom data lists do)
    silently replaced by the default 10.
    """

    def number(name: str, default: int, low: int) -> int:
        try:
            value = int(query.get(name, [str(default)])[0])
        except ValueError:
            return default
        return value if value >= low else default

    limit = number("limit", LIST_DEFAULT_LIMIT, 1)
    if limit > max_limit:
        limit = LIST_DEFAULT_LIMIT if falls_back else max_limit
    offset = number("offset", 0, 0)
    total = len(rows)
    current = offset // limit + 1
    has_next = offset + limit < total
    pagination = {
        "total_items": total,
        "items_per_page": limit,
        "total_pages": math.ceil(total / limit),
        "current_page": current,
        "offset": offset,
        "has_previous_page": offset > 0,
        "has_next_page": has_next,
        "next_page": current + 1 if has_next else None,
        "previous_page": current - 1 if offset > 0 and current > 1 else None,
    }
    return {
        "statusCode": 200,
        "data": rows[offset : offset + limit],
        "meta": {"pagination": pagination, "generated_at": now_iso()},
    }
