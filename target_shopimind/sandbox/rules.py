"""The sandbox's item rules, built from the resource table the way class-validator checks a DTO.

Every field of `resources.RESOURCES` becomes its constraints, under class-validator's names
(`isDefined`, `isNotEmpty`, `isInt`, `isIn`, `maxLength`, ...), checked in order; the first
one a value breaks is its refusal (class-validator's `stopAtFirstError`). A refusal is a
`Violation`: property path, constraint name, message. The `strings` error style renders it
`path: message`, the `nestjs` style as the nested `{"property", "children", "constraints"}`
objects a NestJS server returns. The target's own checks are not used: both read the same
table, yet the sandbox can refuse what the target lets through, as ShopiMind can.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import typing as t

from target_shopimind import resources as R

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# A date-time as ShopiMind takes it: date, T or space, hh:mm[:ss[.fraction]], then Z or an offset.
DATETIME_SHAPE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$",
)
DATE_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DAY_MINUTES = 24 * 60
_ISO_HINTS = {
    R.LANG: "must be an ISO 639-1 code such as 'fr'",
    R.CURRENCY: "must be an ISO 4217 code such as 'EUR'",
    R.COUNTRY: "must be an ISO 3166-1 alpha-2 code such as 'FR'",
}


@dataclasses.dataclass(frozen=True)
class Violation:
    """One broken constraint: where (`path`, dotted in text), which (`constraint`), and why."""

    path: tuple[str, ...]
    constraint: str
    message: str

    @property
    def text(self) -> str:
        """The `strings` error style: `products.0.quantity: is required`."""
        return f"{'.'.join(self.path)}: {self.message}"

    @classmethod
    def from_text(cls, text: str) -> Violation:
        """A refusal given as `path: message` (a rule only the server knows, see `Sandbox.refuse`)."""
        path, sep, message = text.partition(": ")
        if not sep:
            path, message = "item", text
        return cls(tuple(path.split(".")), "isValid", message)


def class_validator_tree(violations: Iterable[Violation]) -> list[dict[str, t.Any]]:
    """Violations as class-validator's error tree: one node per property, nested by path."""
    roots: list[dict[str, t.Any]] = []
    for violation in violations:
        nodes = roots
        last = len(violation.path) - 1
        for depth, prop in enumerate(violation.path):
            node = next((n for n in nodes if n["property"] == prop), None)
            if node is None:
                node = {"property": prop, "children": []}
                nodes.append(node)
            if depth == last:
                node.setdefault("constraints", {})[violation.constraint] = violation.message
            nodes = node["children"]
    return roots


# -- value checks (the sandbox's own: it shares none with the target) ---------------------


def is_int(value: object) -> bool:
    """An integer, not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An integer or a float, not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """A number that is neither NaN nor infinite."""
    return is_number(value) and math.isfinite(t.cast("float", value))


def is_date(value: object) -> bool:
    """`YYYY-MM-DD` naming a real day."""
    if not isinstance(value, str) or not DATE_SHAPE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_datetime(value: object) -> bool:
    """An ISO 8601 date-time naming a real moment, with an offset under 24 hours."""
    found = DATETIME_SHAPE.match(value) if isinstance(value, str) else None
    if found is None:
        return False
    year, month, day, hour, minute, second, _, offset = found.groups()
    try:
        dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))  # noqa: DTZ001
    except ValueError:
        return False
    if offset in {None, "Z"}:
        return True
    digits = offset[1:].replace(":", "")
    return int(digits[:2]) * 60 + int(digits[2:4] or 0) < _DAY_MINUTES


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_id(value: object) -> bool:
    return is_int(value) or (isinstance(value, str) and bool(value))


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_id_list(value: object) -> bool:
    return isinstance(value, list) and all(is_int(v) or isinstance(v, str) for v in value)


def _is_list(value: object) -> bool:
    return isinstance(value, list)


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


# -- constraints --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Constraint:
    """A class-validator decorator: its name, the test a value must pass, the message otherwise."""

    name: str
    holds: Callable[[t.Any], bool]
    message: str
    with_length: bool = False  # the message ends with the value's length, as `(got 300)`

    def refusal(self, value: t.Any) -> str | None:
        """The message when `value` breaks the constraint, else None."""
        if self.holds(value):
            return None
        return f"{self.message} (got {len(value)})" if self.with_length else self.message


IS_REQUIRED = Constraint("isDefined", lambda _: False, "is required")
NOT_NULL = Constraint("isNotEmpty", lambda _: False, "must not be null")
IS_OBJECT = Constraint("isObject", _is_object, "must be an object")

# The constraint each field kind starts with (a `json` field takes any value).
_TYPES: dict[str, Constraint] = {
    R.STR: Constraint("isString", _is_str, "must be a string"),
    R.LANG: Constraint("isString", _is_str, "must be a string"),
    R.CURRENCY: Constraint("isString", _is_str, "must be a string"),
    R.COUNTRY: Constraint("isString", _is_str, "must be a string"),
    R.ID: Constraint("isValid", _is_id, "must be an id (integer or string)"),
    R.INT: Constraint("isInt", is_int, "must be an integer"),
    R.MONEY: Constraint("isNumber", is_number, "must be a number"),
    R.BOOL: Constraint("isBoolean", lambda v: isinstance(v, bool), "must be a boolean"),
    R.DATETIME: Constraint(
        "isDateString", is_datetime, "must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'"
    ),
    R.DATE: Constraint("isDateString", is_date, "must be a date as YYYY-MM-DD"),
    R.STR_LIST: Constraint("isArray", _is_str_list, "must be an array of strings"),
    R.ID_LIST: Constraint("isArray", _is_id_list, "must be an array of ids"),
    R.OBJECT: IS_OBJECT,
    R.OBJECT_LIST: Constraint("isArray", _is_list, "must be an array"),
    R.NUMBER: Constraint("isNumber", is_finite_number, "must be a number"),
    R.ANY_LIST: Constraint("isArray", _is_list, "must be an array"),
}


def _string_rule(test: Callable[[str], bool]) -> Callable[[t.Any], bool]:
    """A rule on text: other values (an integer id, say) are not its business."""
    return lambda value: not isinstance(value, str) or test(value)


def _pattern(field: R.Field) -> Constraint:
    regex = t.cast("re.Pattern[str]", field.regex)
    holds = _string_rule(lambda v: regex.match(v) is not None)
    if field.name == "email":
        return Constraint("isValid", holds, "not a valid e-mail address")
    hint = _ISO_HINTS.get(field.kind)
    if hint is not None:
        return Constraint("isValid", holds, hint)
    return Constraint("matches", holds, f"must match {field.pattern}")


def constraints_of(field: R.Field) -> tuple[Constraint, ...]:
    """What a present, non-null value of `field` must pass, in the order they are checked."""
    found: list[Constraint] = []
    if field.kind in _TYPES:
        found.append(_TYPES[field.kind])
    if field.enum is not None:
        allowed = field.enum
        found.append(Constraint("isIn", lambda v: v in allowed, f"must be one of {', '.join(map(str, allowed))}"))
    if field.max_length is not None:
        most = field.max_length
        found.append(
            Constraint(
                "maxLength",
                _string_rule(lambda v: len(v) <= most),
                f"must be at most {most} characters",
                with_length=True,
            )
        )
    if field.https:
        found.append(
            Constraint("isUrl", _string_rule(lambda v: v.lower().startswith("https://")), "must be an https:// URL")
        )
    if field.pattern is not None:
        found.append(_pattern(field))
    return tuple(found)


@dataclasses.dataclass(frozen=True)
class FieldRules:
    """One property of the DTO: what its absence breaks, its constraints, its nested members."""

    name: str
    absent: Constraint | None  # when the field is missing
    null: Constraint | None  # when it is there but null
    constraints: tuple[Constraint, ...]
    members: tuple[FieldRules, ...] = ()  # of an object, or of each object of a list
    listed: bool = False  # an array of objects: each element must be an object with `members`

    @classmethod
    def of(cls, field: R.Field, *, require_sdk: bool) -> FieldRules:
        """The rules of `field`; `require_sdk` also requires fields the SDK types as required."""
        if field.required:
            absent: Constraint | None = IS_REQUIRED
            null: Constraint | None = IS_REQUIRED
        else:
            absent = IS_REQUIRED if require_sdk and field.sdk_required else None
            null = None if field.nullable else NOT_NULL
        return cls(
            field.name,
            absent,
            null,
            constraints_of(field),
            tuple(cls.of(member, require_sdk=require_sdk) for member in field.fields),
            listed=field.kind == R.OBJECT_LIST,
        )

    def check(self, item: dict[str, t.Any], path: tuple[str, ...], out: list[Violation]) -> None:
        """Append what `item`'s value of this field breaks (nested members included) to `out`."""
        value = item.get(self.name)
        here = (*path, self.name)
        if value is None:
            rule = self.null if self.name in item else self.absent
            if rule is not None:
                out.append(Violation(here, rule.name, rule.message))
            return
        for constraint in self.constraints:
            message = constraint.refusal(value)
            if message is not None:
                out.append(Violation(here, constraint.name, message))
                return
        if self.listed:
            for i, member in enumerate(value):
                at = (*here, str(i))
                if isinstance(member, dict):
                    check_members(self.members, member, at, out)
                else:
                    out.append(Violation(at, IS_OBJECT.name, IS_OBJECT.message))
        elif self.members:
            check_members(self.members, value, here, out)


def check_members(
    rules: Iterable[FieldRules], item: dict[str, t.Any], path: tuple[str, ...], out: list[Violation]
) -> None:
    """Check every field of `item` against its rules."""
    for rule in rules:
        rule.check(item, path, out)


class ItemRules:
    """A resource's rules, built once from its row of the resource table."""

    def __init__(self, resource: R.Resource, *, require_sdk: bool = False) -> None:
        self.resource = resource
        self.require_sdk = require_sdk
        self.fields = tuple(FieldRules.of(field, require_sdk=require_sdk) for field in resource.fields)

    def violations(self, item: t.Any) -> list[Violation]:
        """Every constraint the item breaks; empty when the sandbox accepts it."""
        if not isinstance(item, dict):
            return [Violation(("item",), IS_OBJECT.name, IS_OBJECT.message)]
        out: list[Violation] = []
        check_members(self.fields, item, (), out)
        return out
