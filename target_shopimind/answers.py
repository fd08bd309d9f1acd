"""What ShopiMind's answers say: which items a bulk answer refused, and why a request failed.

The key names inside a `rejected_items` entry are not documented; the ones read here are
those the API facts and the tests give evidence for (`index`, the echoed payload, errors as
strings or NestJS class-validator objects).
"""

from __future__ import annotations

import json
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Callable

_INDEX_KEYS = ("index", "idx", "position", "item_index")
_PAYLOAD_KEYS = ("item", "payload", "data", "original", "record", "original_payload", "value")
_ERROR_KEYS = ("errors", "error", "messages", "message", "validation_errors", "constraints", "reason")


def error_strings(errors: t.Any, path: str = "") -> list[str]:
    """Plain strings or NestJS class-validator objects as `field: message` strings."""
    if errors is None:
        return []
    if isinstance(errors, str):
        return [f"{path}: {errors}" if path else errors]
    if isinstance(errors, list):
        return [text for error in errors for text in error_strings(error, path)]
    if isinstance(errors, dict):
        if "property" in errors or "constraints" in errors or "children" in errors:
            prop = str(errors.get("property", ""))
            here = f"{path}.{prop}" if path and prop else (prop or path)
            constraints = errors.get("constraints") or {}
            messages = constraints.values() if isinstance(constraints, dict) else error_strings(constraints)
            out = [f"{here}: {message}" if here else str(message) for message in messages]
            out.extend(error_strings(errors.get("children") or [], here))
            return out
        field = errors.get("field") or errors.get("path") or errors.get("property")
        message = errors.get("message") or errors.get("msg") or errors.get("error")
        if message is not None:
            here = f"{path}.{field}" if path and field else (field or path)
            return error_strings(message, str(here) if here else "")
        return [f"{k}: {v}" for k, v in errors.items()]
    return [json.dumps(errors, default=str)]


def rejected_entries(body: t.Any) -> list[t.Any] | None:
    """The `rejected_items` list of an answer, or None when there is none."""
    if isinstance(body, dict):
        items = body.get("rejected_items")
        if items is None and isinstance(body.get("data"), dict):
            items = body["data"].get("rejected_items")
        return items if isinstance(items, list) else None
    return None


def match_rejections(
    entries: list[t.Any],
    keys: list[str],
    key_of_payload: Callable[[dict], str],
) -> tuple[dict[int, list[str]], list[list[str]]]:
    """Map `rejected_items` to batch positions: by `index`, else by upsert key in the payload.

    Returns the errors by position, and the errors of entries that matched nothing.
    """
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    matched: dict[int, list[str]] = {}
    unmatched: list[list[str]] = []
    for entry in entries:
        position: int | None = None
        errors: list[str] = []
        if isinstance(entry, dict):
            if "property" in entry:  # the entry is itself a class-validator error
                errors = error_strings({k: entry[k] for k in ("property", "constraints", "children") if k in entry})
            for name in () if errors else _ERROR_KEYS:
                if name in entry:
                    errors = error_strings(entry[name])
                    break
            index = next((entry[k] for k in _INDEX_KEYS if k in entry), None)
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(keys):
                position = index
            else:
                payload = next((entry[k] for k in _PAYLOAD_KEYS if isinstance(entry.get(k), dict)), None)
                candidates = by_key.get(key_of_payload(payload)) if payload is not None else None
                position = next((p for p in candidates or () if p not in matched), None)
        else:
            errors = error_strings(entry)
        errors = errors or ["rejected by ShopiMind (no reason given)"]
        if position is None:
            unmatched.append(errors)
        else:
            matched[position] = errors
    return matched, unmatched


def error_message(body: t.Any, status: int) -> list[str]:
    """The reason a whole request was refused, from a NestJS-style error body."""
    if isinstance(body, dict):
        found = error_strings(body.get("message")) or error_strings(body.get("error"))
        if found:
            return found
    return [f"HTTP {status}"]


def _count(value: t.Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def unaccounted(body: t.Any, sent: int) -> str | None:
    """Why a 200 to a bulk upsert of `sent` items does not say what became of them, or None.

    An acceptance needs the bulk envelope: a `rejected_items` list, and counts (when given)
    that add up to the items sent. Anything else (an HTML page, `{}`, counts that disagree)
    might have dropped items, so it is not taken as an acceptance.
    """
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    entries = rejected_entries(body)
    if entries is None:
        return "rejected_items is not a list" if "rejected_items" in body else "no rejected_items list"
    if len(entries) > sent:
        return f"{len(entries)} rejected_items for {sent} items"
    data = body.get("data")
    counts: dict[str, t.Any] = data if isinstance(data, dict) and "sent_count" not in body else body
    rejected = counts.get("rejected_count")
    if rejected is not None and _count(rejected) != len(entries):
        return f"rejected_count {rejected!r} but {len(entries)} rejected_items"
    accepted = counts.get("sent_count")
    if accepted is not None and (_count(accepted) is None or accepted + len(entries) != sent):
        return f"sent_count {accepted!r} + {len(entries)} rejected_items for {sent} items"
    return None


def delete_unaccounted(body: t.Any) -> str | None:
    """Why a 200 to a bulk delete is not a bulk answer (an HTML page, a list), or None."""
    return None if isinstance(body, dict) else "the body is not a JSON object"


def refusal(status: int, answer: t.Any, where: str, resource: str, *, suffix: str = "") -> str:
    """The one-line reason a request was refused for good, naming the setting to check.

    `where` is the method and path (`POST /v1/orders`).
    """
    reason = "; ".join(error_message(answer, status))
    if status in {401, 403}:
        return (
            f"ShopiMind refused the API key (HTTP {status}: {reason}): check the api_key setting "
            "(TARGET_SHOPIMIND_API_KEY) and that the integration is active"
        )
    if status == 404:
        return f"HTTP 404 on {where}: check the base_url setting (it must be the API root)"
    return f"{resource}: HTTP {status} on {where} ({reason}){suffix}"
