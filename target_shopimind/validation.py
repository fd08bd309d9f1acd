"""Local checks of an item against its resource's rules.

The target runs them before sending (an invalid item never spends quota). The sandbox
checks the same resource table with rules of its own, so the two agree by default yet can
disagree, as ShopiMind can. Only fields
whose absence ShopiMind is known to refuse are required here; a field the official SDK merely
types as required is checked when present (`require_sdk` also requires it, as the sandbox's
`--require-sdk-fields` does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import math
import re
import typing as t

from target_shopimind import resources as R
from target_shopimind.mapping import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable

ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$",
)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What mapping writes (`2026-05-07T08:00:00.000Z`): checked without the general parse.
_CANONICAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_CANONICAL_LENGTH = 24
_UTC = datetime.timezone.utc

_PATTERN_HINTS = {
    R.LANG: "must be an ISO 639-1 code such as 'fr'",
    R.CURRENCY: "must be an ISO 4217 code such as 'EUR'",
    R.COUNTRY: "must be an ISO 3166-1 alpha-2 code such as 'FR'",
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid_date(value: object) -> bool:
    if not isinstance(value, str) or not ISO_DATE.match(value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _type_error(field: R.Field, value: object) -> str | None:
    kind = field.kind
    if kind in {R.STR, R.LANG, R.CURRENCY, R.COUNTRY}:
        return None if isinstance(value, str) else "must be a string"
    if kind == R.ID:
        return None if _is_int(value) or (isinstance(value, str) and value) else "must be an id (integer or string)"
    if kind == R.INT:
        return None if _is_int(value) else "must be an integer"
    if kind == R.MONEY:
        return None if _is_number(value) else "must be a number"
    if kind == R.BOOL:
        return None if isinstance(value, bool) else "must be a boolean"
    if kind == R.DATETIME:
        return _datetime_error(value)
    if kind == R.DATE:
        return None if _valid_date(value) else "must be a date as YYYY-MM-DD"
    if kind == R.STR_LIST:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "must be an array of strings"
    if kind == R.ID_LIST:
        ok = isinstance(value, list) and all(_is_int(v) or isinstance(v, str) for v in value)
        return None if ok else "must be an array of ids"
    if kind == R.OBJECT:
        return None if isinstance(value, dict) else "must be an object"
    if kind == R.OBJECT_LIST:
        return None if isinstance(value, list) else "must be an array"
    return _custom_type_error(kind, value)


def _custom_type_error(kind: str, value: object) -> str | None:
    """The kinds of custom data fields (`json` takes any value)."""
    if kind == R.NUMBER:
        ok = _is_number(value) and math.isfinite(t.cast("float", value))
        return None if ok else "must be a number"
    if kind == R.ANY_LIST:
        return None if isinstance(value, list) else "must be an array"
    return None


def _rule_error(field: R.Field, value: object) -> str | None:
    if field.enum is not None and value not in field.enum:
        return f"must be one of {', '.join(map(str, field.enum))}"
    if isinstance(value, str):
        if field.max_length is not None and len(value) > field.max_length:
            return f"must be at most {field.max_length} characters (got {len(value)})"
        if field.https and not value.lower().startswith("https://"):
            return "must be an https:// URL"
        regex = field.regex
        if regex is not None and not regex.match(value):
            if field.name == "email":
                return "not a valid e-mail address"
            return _PATTERN_HINTS.get(field.kind, f"must match {field.pattern}")
    return None


def _absence_error(field: R.Field, present: bool, *, require_sdk: bool) -> str | None:
    """What a null or absent value breaks: evidenced requirements, the SDK's types only on demand."""
    if field.required or (require_sdk and field.sdk_required and not present):
        return "is required"
    if present and not field.nullable:
        return "must not be null"
    return None


_Check = t.Callable[[object], "str | None"]


def _kind_check(field: R.Field) -> _Check:
    """The type check of one field's kind, picked once (same messages as `_type_error`)."""
    kind = field.kind
    if kind in {R.STR, R.LANG, R.CURRENCY, R.COUNTRY}:
        return lambda value: None if isinstance(value, str) else "must be a string"
    if kind == R.INT:
        return lambda value: None if _is_int(value) else "must be an integer"
    if kind == R.MONEY:
        return lambda value: None if _is_number(value) else "must be a number"
    if kind == R.BOOL:
        return lambda value: None if isinstance(value, bool) else "must be a boolean"
    if kind == R.ID:
        return lambda value: (
            None if _is_int(value) or (isinstance(value, str) and value) else "must be an id (integer or string)"
        )
    if kind == R.DATETIME:
        return _datetime_error
    return lambda value: _type_error(field, value)


def _datetime_error(value: object) -> str | None:
    if isinstance(value, str) and len(value) == _CANONICAL_LENGTH and _CANONICAL_DATETIME.match(value):
        with contextlib.suppress(ValueError):  # else the general check below names it
            day = (int(value[:4]), int(value[5:7]), int(value[8:10]))
            datetime.datetime(*day, int(value[11:13]), int(value[14:16]), int(value[17:19]), tzinfo=_UTC)
            return None
    ok = isinstance(value, str) and ISO_DATETIME.match(value) and parse_datetime(value) is not None
    return None if ok else "must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'"


def _has_rules(field: R.Field) -> bool:
    return field.enum is not None or field.max_length is not None or field.https or field.pattern is not None


@dataclasses.dataclass(frozen=True)
class _Step:
    """One field's checks, decided once per field list instead of once per item."""

    field: R.Field
    name: str
    kind_check: _Check
    rule_check: _Check | None
    absence_matters: bool  # required or SDK-typed: its absence is looked at
    nested: bool  # OBJECT / OBJECT_LIST members are checked too


_STEPS: dict[int, _Step] = {}  # by the id of a field of the resource table (it lives for the run)
_PLANS: dict[int, tuple[tuple[R.Field, ...], tuple[_Step, ...]]] = {}


def _step(field: R.Field) -> _Step:
    step = _STEPS.get(id(field))
    if step is None or step.field is not field:
        step = _Step(
            field=field,
            name=field.name,
            kind_check=_kind_check(field),
            rule_check=functools.partial(_rule_error, field) if _has_rules(field) else None,
            absence_matters=field.required or field.sdk_required,
            nested=field.kind in {R.OBJECT, R.OBJECT_LIST},
        )
        _STEPS[id(field)] = step  # the step holds the field, so its id stays its own
    return step


def _plan(fields: Iterable[R.Field]) -> tuple[_Step, ...]:
    """The steps of a field list, decided once per field (and kept per tuple of the table)."""
    cached = _PLANS.get(id(fields)) if isinstance(fields, tuple) else None
    if cached is not None and cached[0] is fields:
        return cached[1]
    steps = tuple(_step(f) for f in fields)
    if isinstance(fields, tuple):
        _PLANS[id(fields)] = (fields, steps)
    return steps


def check_fields(
    fields: Iterable[R.Field],
    item: dict,
    prefix: str = "",
    *,
    require_sdk: bool = False,
    missing: list[str] | None = None,
) -> list[str]:
    """Errors as `field: message` strings; nested fields are dotted (`products.0.quantity`).

    `missing` collects the SDK-typed fields the item lacks (they are not errors unless
    `require_sdk`), so the sink can warn about them without a second pass.
    """
    errors: list[str] = []
    for step in _plan(fields):
        value = item.get(step.name)
        if value is None:
            if step.absence_matters or step.name in item:  # else: optional and absent, fine
                field = step.field
                present = step.name in item
                problem = _absence_error(field, present, require_sdk=require_sdk)
                if problem:
                    errors.append(f"{prefix}{step.name}: {problem}")
                if missing is not None and field.sdk_required and not field.required and not present:
                    missing.append(prefix + step.name)
            continue
        problem = step.kind_check(value) or (step.rule_check(value) if step.rule_check is not None else None)
        if problem:
            errors.append(f"{prefix}{step.name}: {problem}")
        elif step.nested:
            errors.extend(_check_members(step.field, value, prefix + step.name, require_sdk, missing))
    return errors


def _check_members(
    field: R.Field,
    value: t.Any,
    name: str,
    require_sdk: bool,
    missing: list[str] | None,
) -> list[str]:
    """The members of an OBJECT or OBJECT_LIST value (its type already checked)."""
    if field.kind == R.OBJECT:
        return check_fields(field.fields, value, f"{name}.", require_sdk=require_sdk, missing=missing)
    errors: list[str] = []
    for i, member in enumerate(value):
        if isinstance(member, dict):
            nested = f"{name}.{i}."
            errors.extend(check_fields(field.fields, member, nested, require_sdk=require_sdk, missing=missing))
        else:
            errors.append(f"{name}.{i}: must be an object")
    return errors


def validate(
    resource: R.Resource,
    item: dict,
    *,
    require_sdk: bool = False,
    missing: list[str] | None = None,
) -> list[str]:
    """Every rule the item breaks; empty when ShopiMind is expected to accept it.

    `require_sdk` also refuses items lacking fields the official SDK types as required;
    `missing` collects those fields (see `check_fields`).
    """
    return check_fields(resource.fields, item, require_sdk=require_sdk, missing=missing)


_MEMBER_INDEX = re.compile(r"\.\d+\.")


def field_names(paths: Iterable[str]) -> list[str]:
    """`products.0.price`, `products.1.price` → one `products[].price`, in first-seen order."""
    return list(dict.fromkeys(_MEMBER_INDEX.sub("[].", path) for path in paths))
