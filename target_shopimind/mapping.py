"""Record → ShopiMind item: key, types, nested values, injected settings.

Inside an SDK target numbers arrive as `Decimal` and date-time/date fields as
`datetime`/`date`; everything here ends as plain JSON types. A value that cannot be
coerced is left as it is, so validation names the field instead of guessing.

Messy sources: in a field that is not required, an empty or zero date (`""`, `0000-00-00`,
what MySQL-backed shops store for "unknown") and an empty string in a number field become
null. Date-times without an offset are read in the source's zone (`source_timezone`).
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import functools
import json
import re
import typing as t
import zoneinfo

from target_shopimind import resources as R

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

_UTC = datetime.timezone.utc
_INT_STR = re.compile(r"^-?(0|[1-9]\d*)$")
_NUM_STR = re.compile(r"^\s*-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
_DT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$",
)
_ZERO_DATE = re.compile(r"^\s*(0000-00-00([ T]00:00(:00(\.0+)?)?)?)?\s*$")  # also "" and blanks
_BLANK_DATE_KINDS = frozenset({R.DATE, R.DATETIME})
_BLANK_NUMBER_KINDS = frozenset({R.INT, R.MONEY, R.ID})
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}
_CENT = decimal.Decimal("0.01")


def _integral(value: object) -> int | None:
    """The int a value stands for exactly, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if _INT_STR.match(text):
            return int(text)
        if _NUM_STR.match(text):
            return _integral(decimal.Decimal(text))
    return None


def to_str(value: object) -> object:
    """Text as the API's string fields want it (integral numbers without `.0`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, decimal.Decimal, float)):
        whole = _integral(value)
        return str(whole) if whole is not None else str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return to_datetime(value) if isinstance(value, datetime.datetime) else value.isoformat()
    return value


def to_id(value: object) -> object:
    """Integral values become int; other ids ('prod_001', '007') stay strings."""
    if isinstance(value, str):
        text = value.strip()
        return int(text) if _INT_STR.match(text) and len(text) < 19 else value
    whole = _integral(value)
    return whole if whole is not None else to_str(value)


def to_int(value: object) -> object:
    """Integral values as int; anything else is left for validation to name."""
    whole = _integral(value)
    return whole if whole is not None else value


def to_money(value: object) -> object:
    """A number rounded half-up to 2 decimals."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _NUM_STR.match(value):
        value = decimal.Decimal(value.strip())
    if isinstance(value, decimal.Decimal):
        return float(value.quantize(_CENT, rounding=decimal.ROUND_HALF_UP)) if value.is_finite() else value
    if isinstance(value, float):
        return float(decimal.Decimal(repr(value)).quantize(_CENT, rounding=decimal.ROUND_HALF_UP))
    return value


def to_number(value: object) -> object:
    """A finite number: integral values as int, others as float; anything else is left as it is."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and _NUM_STR.match(value):
        value = decimal.Decimal(value.strip())
    if isinstance(value, decimal.Decimal) and value.is_finite():
        whole = _integral(value)
        return whole if whole is not None else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_any_list(value: object) -> object:
    """An array, from a list or its JSON text (a PostgreSQL array literal too)."""
    value = parse_nested(value)
    if isinstance(value, dict) and not value:  # "{}": an empty PostgreSQL array
        return []
    return list(value) if isinstance(value, tuple) else value


def to_bool(value: object) -> object:
    """true/false/1/0/t/f/yes/no (any case) as a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, decimal.Decimal)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return value


def source_zone(name: str | None) -> datetime.tzinfo:
    """The `source_timezone` setting as a zone; ValueError names an unknown one."""
    if not name or name.upper() in {"UTC", "Z", "ETC/UTC"}:
        return _UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        msg = f"source_timezone {name!r} is not a known IANA time zone (examples: 'Europe/Paris', 'UTC')"
        raise ValueError(msg) from None


def is_blank_date(value: object) -> bool:
    """`""`, `0000-00-00`, `0000-00-00 00:00:00`: what shop databases store for an unknown date."""
    return isinstance(value, str) and (not value or value[0] in "0 \t") and _ZERO_DATE.match(value) is not None


def is_blank_number(value: object) -> bool:
    """An empty (or blank) string where a number belongs."""
    return isinstance(value, str) and not value.strip()


def _format_utc(moment: datetime.datetime, zone: datetime.tzinfo = _UTC) -> str:
    """ISO 8601 UTC with milliseconds; a naive moment is read in `zone`."""
    if moment.tzinfo is None:
        if zone is not _UTC:
            moment = moment.replace(tzinfo=zone).astimezone(_UTC)
    else:
        moment = moment.astimezone(_UTC)
    if moment.year >= 1000:  # below, strftime's %Y pads years differently by platform
        return moment.isoformat(timespec="milliseconds")[:23] + "Z"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_datetime(text: str, zone: datetime.tzinfo = _UTC) -> datetime.datetime | None:
    """ISO 8601 in the shapes taps send (T or space, any fraction, Z/±hh[:mm]/none: `zone`)."""
    match = _DT.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = _UTC if offset else zone
    try:
        if offset and offset not in {"Z", "z"}:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            delta = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            tz = datetime.timezone(sign * delta)  # an offset of 24 h or more is a ValueError
        return datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tz
        )
    except ValueError:
        return None


def to_datetime(value: object, zone: datetime.tzinfo = _UTC) -> object:
    """ISO 8601 UTC with milliseconds; values without an offset are read in `zone`."""
    if isinstance(value, datetime.datetime):
        return _format_utc(value, zone)
    if isinstance(value, datetime.date):
        if zone is _UTC:
            return f"{value.isoformat()}T00:00:00.000Z"
        return _format_utc(datetime.datetime(value.year, value.month, value.day, tzinfo=zone))
    if isinstance(value, str):
        moment = parse_datetime(value, zone)
        return _format_utc(moment) if moment else value
    return value


def to_date(value: object) -> object:
    """YYYY-MM-DD."""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 10 and parse_datetime(value):
        return value[:10]
    return value


def to_lang(value: object) -> object:
    """ISO 639-1 from a language or locale (`fr_FR`, `fr-FR`, `FR` → `fr`)."""
    if isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and (len(text) == 2 or text[2] in "_-"):
            return text[:2].lower()
    return value


def to_upper(value: object) -> object:
    """Codes the API wants upper-case (currency, country)."""
    return value.strip().upper() if isinstance(value, str) else value


def parse_nested(value: object) -> object:
    """Nested values that arrive as JSON text (tap-postgres LOG_BASED sends jsonb so)."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in {"{", "["}:
            try:
                return json.loads(text, parse_float=decimal.Decimal)
            except ValueError:
                if text.startswith("{") and text.endswith("}"):  # PostgreSQL array literal
                    return _pg_array(text[1:-1])
    return value


_PG_ITEM = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')


def _pg_array(inner: str) -> list[object]:
    """Members of a one-dimensional PostgreSQL array literal; NULL members are left out."""
    members: list[object] = []
    for match in _PG_ITEM.finditer(inner):
        raw = match.group(1)
        if match.start() == len(inner) and not raw:
            break
        if raw.startswith('"'):
            members.append(re.sub(r"\\(.)", r"\1", raw[1:-1]))
        elif raw.strip() and raw.strip().upper() != "NULL":
            members.append(raw.strip())
    return members


def _to_list(convert: Callable[[object], object]) -> Callable[[object], object]:
    def coerce(value: object) -> object:
        value = parse_nested(value)
        if isinstance(value, dict) and not value:  # "{}": an empty PostgreSQL array
            value = []
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, (int, decimal.Decimal)):
            value = [value]
        return [convert(v) for v in value] if isinstance(value, (list, tuple)) else value

    return coerce


_COERCE: dict[str, Callable[[object], object]] = {
    R.STR: to_str,
    R.ID: to_id,
    R.INT: to_int,
    R.MONEY: to_money,
    R.BOOL: to_bool,
    R.DATETIME: to_datetime,
    R.DATE: to_date,
    R.LANG: to_lang,
    R.CURRENCY: to_upper,
    R.COUNTRY: to_upper,
    R.STR_LIST: _to_list(to_str),
    R.ID_LIST: _to_list(to_id),
    R.NUMBER: to_number,
    R.ANY_LIST: to_any_list,
    R.JSON: parse_nested,
}


_ZONED: dict[datetime.tzinfo, dict[str, Callable[[object], object]]] = {}


def coercions(zone: datetime.tzinfo = _UTC) -> dict[str, Callable[[object], object]]:
    """The coercion of each field kind; date-times without an offset are read in `zone`.

    One table per zone, so the field plans made for it (`_plan`) are made once.
    """
    if zone is _UTC:
        return _COERCE
    if zone not in _ZONED:
        _ZONED[zone] = {**_COERCE, R.DATETIME: functools.partial(to_datetime, zone=zone)}
    return _ZONED[zone]


class _Step(t.NamedTuple):
    """How one field is coerced, decided once per field list instead of once per record."""

    name: str
    field: R.Field
    convert: Callable[[object], object] | None  # the kind's coercion (None: nested or as it is)
    blank: Callable[[object], bool] | None  # an empty or zero value means "unknown" (fields not required)
    left_out_when_null: bool  # optional and not nullable: a null is simply left out


_BLANK_TESTS: dict[str, Callable[[object], bool]] = {
    **dict.fromkeys(_BLANK_DATE_KINDS, is_blank_date),
    **dict.fromkeys(_BLANK_NUMBER_KINDS, is_blank_number),
}
_PLANS: dict[tuple[int, int], tuple[object, object, tuple[_Step, ...]]] = {}


def _plan(fields: Sequence[R.Field], coerce: dict[str, Callable[[object], object]]) -> tuple[_Step, ...]:
    """The steps of a field list under `coerce`; kept for tuples (the resource table's), by identity."""
    key = (id(fields), id(coerce))
    cached = _PLANS.get(key) if isinstance(fields, tuple) else None
    if cached is not None and cached[0] is fields and cached[1] is coerce:
        return cached[2]
    steps = tuple(
        _Step(
            name=f.name,
            field=f,
            convert=coerce.get(f.kind),
            blank=None if f.required else _BLANK_TESTS.get(f.kind),
            left_out_when_null=not f.nullable and not f.required,
        )
        for f in fields
    )
    if isinstance(fields, tuple):
        _PLANS[key] = (fields, coerce, steps)  # both held here, so their ids stay their own
    return steps


def coerce_fields(
    fields: Sequence[R.Field],
    source: dict,
    *,
    coerce: dict[str, Callable[[object], object]] = _COERCE,
    blanked: list[str] | None = None,
    prefix: str = "",
) -> dict:
    """Known fields only, each coerced to its kind; absent fields stay absent.

    Empty or zero dates and empty number strings of fields that are not required become
    null; their names (dotted when nested) are appended to `blanked`.
    """
    out: dict = {}
    for name, field, convert, blank, left_out_when_null in _plan(fields, coerce):
        if name not in source:
            continue
        value = source[name]
        if blank is not None and isinstance(value, str) and blank(value):
            value = None
            if blanked is not None:
                blanked.append(prefix + name)
        if value is not None:
            if convert is not None:
                value = convert(value)
            elif field.kind == R.OBJECT:
                value = parse_nested(value)
                if isinstance(value, dict):
                    nested = f"{prefix}{name}."
                    value = coerce_fields(field.fields, value, coerce=coerce, blanked=blanked, prefix=nested)
            elif field.kind == R.OBJECT_LIST:
                value = parse_nested(value)
                if isinstance(value, list):
                    nested = f"{prefix}{name}[]."
                    value = [
                        coerce_fields(field.fields, v, coerce=coerce, blanked=blanked, prefix=nested)
                        if isinstance(v, dict)
                        else v
                        for v in value
                    ]
        elif left_out_when_null:
            continue  # an optional non-null field is simply left out
        out[name] = value
    return out


@dataclasses.dataclass(frozen=True)
class Injected:
    """Settings added to items that accept them (the record's own value wins)."""

    lang: str | None = None
    currency: str | None = None
    shop_id: str | None = None
    id_data_source: int | None = None
    source_label: str | None = None

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> Injected:
        """The injected values a config asks for."""
        return cls(
            lang=config.get("default_lang"),
            currency=config.get("default_currency"),
            shop_id=config.get("shop_id"),
            id_data_source=config.get("id_data_source"),
            source_label=config.get("source_label"),
        )

    def values(self) -> dict[str, t.Any]:
        """The values that are set."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


_CONSUMED_BY_ORDER_CUSTOMER = ("customer_id", "customer_email", "email", "customer_created_at")


class ItemMapper:
    """Maps one stream's records to one resource's items."""

    def __init__(
        self,
        resource: R.Resource,
        key_properties: Sequence[str],
        injected: Injected,
        *,
        zone: datetime.tzinfo = _UTC,
    ) -> None:
        self.resource = resource
        self.fields = resource.fields
        self.known = {f.name for f in resource.fields}
        only_key = key_properties[0] if len(key_properties) == 1 else None
        fillable = only_key and only_key != resource.id_field and resource.fill_key
        self.key_source = only_key if fillable else None
        self.coerce = coercions(zone)
        by_name = resource.field_map
        self.injected = {
            k: self.coerce.get(by_name[k].kind, to_str)(v) for k, v in injected.values().items() if k in by_name
        }
        self.defaults = {f.name: f.default for f in resource.fields if f.default is not None}
        self.is_order = resource.name == "orders"
        self.blanked: list[str] = []  # fields blanked by the last `map` for the first time
        self._blanked: list[str] = []  # reused by every `map`
        self._blank_seen: set[str] = set()

    def note_blank(self, name: str) -> bool:
        """Remember that `name` held an empty or zero value; True the first time (warn once)."""
        if name in self._blank_seen:
            return False
        self._blank_seen.add(name)
        return True

    def map(self, record: dict, *, want_dropped: bool = True) -> tuple[dict, list[str]]:
        """The item, and the record fields it dropped (only listed when `want_dropped`).

        `blanked` then lists the fields whose empty or zero value became null for the first time.
        """
        source = record
        if self.key_source is not None and source.get(self.resource.id_field) is None:
            source = {**source, self.resource.id_field: source.get(self.key_source)}
        consumed: tuple[str, ...] = ()
        if self.is_order and source.get("customer") is None:
            source = {**source, "customer": self._order_customer(source)}
            consumed = _CONSUMED_BY_ORDER_CUSTOMER
        blanked = self._blanked
        item = coerce_fields(self.fields, source, coerce=self.coerce, blanked=blanked)
        if blanked:
            self.blanked = [name for name in blanked if self.note_blank(name)]
            blanked.clear()
        elif self.blanked:
            self.blanked = []
        for name, value in self.injected.items():
            if item.get(name) is None:
                item[name] = value
        for name, value in self.defaults.items():
            if item.get(name) is None:
                item[name] = _format_utc(datetime.datetime.now(_UTC)) if value == "now" else value
        if self.is_order and item.get("cart_updated_at") in (None, ""):
            # Observed in production: an empty cart_updated_at got the order rejected; it falls back to the order date.
            fallback = item.get("updated_at") or item.get("created_at")
            if fallback:
                item["cart_updated_at"] = fallback
        if not want_dropped:
            return item, []
        dropped = [
            k
            for k in record
            if k not in self.known and k != self.key_source and not k.startswith("_sdc_") and k not in consumed
        ]
        return item, dropped

    @staticmethod
    def _order_customer(record: dict) -> dict | None:
        customer = {
            "customer_id": record.get("customer_id"),
            "email": record["customer_email"] if record.get("customer_email") is not None else record.get("email"),
            "created_at": record.get("customer_created_at"),
        }
        if all(v is None for v in customer.values()):
            return None
        return customer

    def key_of(self, item: dict, fields: Sequence[str] | None = None) -> str:
        """Upsert key (or another field tuple) as one string, composite parts joined by `|`."""
        names = fields or self.resource.key
        if len(names) == 1:
            value = item.get(names[0])
            return "" if value is None else str(value)
        return "|".join("" if item.get(f) is None else str(item.get(f)) for f in names)


def json_default(value: object) -> object:
    """Serialize what an SDK target hands over (Decimal, datetime, date)."""
    if isinstance(value, decimal.Decimal):
        whole = _integral(value)
        return whole if whole is not None else float(value)
    if isinstance(value, datetime.datetime):
        return _format_utc(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    msg = f"cannot serialize {type(value).__name__}"
    raise TypeError(msg)


# One encoder for every item: `json.dumps` with these options would build a new one per call.
_ENCODER = json.JSONEncoder(default=json_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: object) -> bytes:
    """Compact JSON bytes, UTF-8."""
    return _ENCODER.encode(value).encode()
