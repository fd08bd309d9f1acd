"""Record checks on the SDK's public hooks: one bad record is refused and reported, never raised.

The SDK checks each record in three places before `process_record`, and each would stop the run:
the stream's schema (`Sink.get_validator`), date-time parsing (`Sink.datetime_error_treatment`)
and key properties (after `Sink.preprocess_record`). Here the validator notes what is wrong
instead of raising and, since it runs first, also finds the date-times the SDK could not parse
(nulling them, so the SDK has nothing left to fail on); `preprocess_record` notes missing key
properties. The sink then refuses the record in `process_record`, with its mapped key.
"""

from __future__ import annotations

import datetime
import decimal
import typing as t

import jsonschema
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR

from target_shopimind.compat import override
from target_shopimind.mapping import is_blank_date

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_PLAIN_KEYWORDS = frozenset({"type", "format", "description", "title", "default", "examples", "$comment"})
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float, decimal.Decimal),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}
# What the SDK parses each date-like format with (the standard library's, as it does).
_PARSERS: dict[str, Callable[[str], object]] = {
    "date-time": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "time": datetime.time.fromisoformat,
}


# Date-times the SDK adds to every record itself, in its own format: not the tap's data to check
# (`_sdc_deleted_at` is: it comes from the tap).
_SDK_STAMPS = frozenset({"_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at"})


def plain_types(schema: dict[str, t.Any]) -> dict[str, tuple[type, ...]] | None:
    """Allowed Python types per property when the schema only declares types, else None."""
    if schema.get("additionalProperties") is False or set(schema) - {"type", "properties", "required", "$schema"}:
        return None
    plain: dict[str, tuple[type, ...]] = {}
    for name, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict) or set(prop) - _PLAIN_KEYWORDS:
            return None
        declared = prop.get("type")
        kinds = [declared] if isinstance(declared, str) else declared
        if kinds is None:
            continue  # anything goes
        if not all(k in _JSON_TYPES for k in kinds):
            return None
        plain[name] = tuple(c for k in kinds for c in _JSON_TYPES[k])
    return plain


def _members(prop: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return [prop, *(m for m in prop.get("anyOf", ()) if isinstance(m, dict))]


def datelike_kind(prop: object) -> str | None:
    """`date-time`, `date` or `time` for a property the SDK parses (its own rule), else None."""
    if not isinstance(prop, dict):
        return None
    for member in _members(prop):
        if "string" in member.get("type", []) and member.get("format") in _PARSERS:
            return str(member["format"])
    return None


def datelike(prop: object) -> bool:
    """A property whose empty or zero value may stand for "unknown" (a date or a date-time)."""
    return isinstance(prop, dict) and any(m.get("format") in {"date", "date-time"} for m in _members(prop))


def nullable(prop: dict[str, t.Any]) -> bool:
    """Whether the property's schema allows null."""
    for member in _members(prop):
        declared = member.get("type")
        if declared == "null" or (isinstance(declared, list) and "null" in declared):
            return True
    return False


class BlankDate(t.NamedTuple):
    """A date property whose `""` or `0000-00-00` means unknown: it becomes null (or absent)."""

    name: str
    nullable: bool
    warn: bool


class RecordCheck(BaseJSONSchemaValidator):
    """The SDK's record validator, noting problems instead of raising.

    Flat, type-only schemas (what database taps send) are checked with isinstance; anything
    else, and any doubt, goes to the full JSON Schema validator. `problems` holds what is wrong
    with the last record it saw; `blanked` the blank dates it turned to null.
    """

    def __init__(
        self,
        schema: dict[str, t.Any],
        *,
        check_schema: bool = True,
        blank_dates: Sequence[BlankDate] = (),
        name_date_field: bool = True,
    ) -> None:
        super().__init__(schema)
        self.validator = (
            DEFAULT_JSONSCHEMA_VALIDATOR(schema, format_checker=jsonschema.FormatChecker(formats=()))
            if check_schema
            else None
        )
        self.plain = plain_types(schema)
        self.required = tuple(schema.get("required", ()))
        self.blank_dates = tuple(blank_dates)
        self.name_date_field = name_date_field
        properties = schema.get("properties", {})
        self.dates = {
            name: _PARSERS[kind]
            for name, prop in properties.items()
            if (kind := datelike_kind(prop)) and name not in _SDK_STAMPS
        }
        self.problems: list[str] = []
        self.blanked: list[str] = []
        self.missing: list[str] = []

    def _plainly_valid(self, record: dict[str, t.Any]) -> bool:
        plain = self.plain
        if plain is None or any(name not in record for name in self.required):
            return False
        for name, value in record.items():
            allowed = plain.get(name)
            if allowed is None:
                continue
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                return False
        return True

    @override
    def validate(self, record: dict[str, t.Any]) -> None:
        """Note what is wrong with `record`; blank dates become null first."""
        self.problems = []
        self.blanked = []
        self.missing = []
        for blank in self.blank_dates:
            if is_blank_date(record.get(blank.name)):
                if blank.nullable:
                    record[blank.name] = None
                else:
                    del record[blank.name]  # the stream's schema would refuse a null
                if blank.warn:
                    self.blanked.append(blank.name)
        if self.validator is not None and not self._plainly_valid(record):
            error = next(iter(self.validator.iter_errors(record)), None)
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path) or "record"
                self.problems.append(f"{where}: {error.message} (the stream's schema)")
        if self.dates:
            self._check_dates(record)

    def _check_dates(self, record: dict[str, t.Any]) -> None:
        """Date-times the SDK would fail to parse: the first is a problem, each becomes null."""
        for name, parse in self.dates.items():
            value = record.get(name)
            if value is None:
                continue
            try:
                parse(value)
            except (ValueError, TypeError):
                record[name] = None
                if not self.problems:
                    found = f"Could not parse value '{value}' for field '{name}'."
                    self.problems.append(f"{name}: not a valid date-time ({found})" if self.name_date_field else found)

    def missing_keys(self, record: dict[str, t.Any], key_properties: Sequence[str]) -> None:
        """Key properties `record` lacks are filled with null (the SDK refuses a record without them).

        They are the record's problem (`missing`) unless the schema check already refused it.
        """
        missing = [k for k in key_properties if k not in record]
        for name in missing:
            record[name] = None
        if missing and not self.problems:  # the SDK checks the schema first: its problem is the one told
            self.missing = missing
            self.problems = [f"{k}: the stream's key property is missing" for k in missing]
