"""Streams loaded into ShopiMind custom data definitions (the `custom_data` setting).

A definition is found by name or created from the stream's JSON Schema, extended when the
schema gains properties, and activated. It then becomes a `Resource` row like the built-in
ones (records endpoint, unique keys, at most 20 items a request, one field per definition
field), so mapping, validation, batching, delivery, rejections and reports need nothing
of their own.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import typing as t

from target_shopimind import resources as R
from target_shopimind.compat import override
from target_shopimind.custom_api import definition_id, loose
from target_shopimind.errors import TargetError
from target_shopimind.mapping import Injected, ItemMapper, coerce_fields

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from target_shopimind.custom_api import CustomDataApi
    from target_shopimind.report import Report

logger = logging.getLogger("target-shopimind")

RECORDS_PATH = "/v1/custom-data-records/{id}"
MAX_BATCH = 20
RESOLVER_BY = ("email", "id_customer", "id_contact")
CONTACTS = {"targetSchemaType": "system", "targetSchema": "contacts"}

# Definition field type -> how its values are coerced and checked.
KIND_OF_TYPE: dict[str, str] = {
    "text": R.STR,
    "longtext": R.STR,
    "number": R.NUMBER,
    "decimal": R.NUMBER,
    "bool": R.BOOL,
    "date": R.DATE,
    "datetime": R.DATETIME,
    "list": R.ANY_LIST,
    "json": R.JSON,
    "geolocation": R.JSON,
}
# Existing field type -> the stream property types (as mapped below) it can take without loss.
ACCEPTS: dict[str, frozenset[str]] = {
    "text": frozenset({"text", "longtext", "date", "datetime", "number", "decimal", "bool"}),
    "longtext": frozenset({"text", "longtext", "date", "datetime", "number", "decimal", "bool"}),
    "number": frozenset({"number"}),
    "decimal": frozenset({"number", "decimal"}),
    "bool": frozenset({"bool"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime", "date"}),
    "list": frozenset({"list"}),
    "json": frozenset({"json", "list"}),
    "geolocation": frozenset({"json"}),
}
_RESOLVER_VALUE_KIND = {"email": R.STR, "id_customer": R.STR, "id_contact": R.ID}


@dataclasses.dataclass(frozen=True)
class Contact:
    """The relation to contacts: `column` holds the value, `by` says what it is."""

    column: str
    by: str


@dataclasses.dataclass(frozen=True)
class Spec:
    """One `custom_data` entry."""

    stream: str
    definition: str
    unique_keys: tuple[str, ...] = ()
    contact: Contact | None = None

    @property
    def resource_name(self) -> str:
        """How reports, STATE and the rejects file name it."""
        return f"custom:{self.definition}"


def parse_specs(setting: t.Any) -> tuple[dict[str, Spec], list[str]]:
    """The `custom_data` setting as specs by stream, and its errors (one line each)."""
    specs: dict[str, Spec] = {}
    errors: list[str] = []
    if setting in (None, {}):
        return specs, errors
    if not isinstance(setting, dict):
        return specs, ["custom_data must be an object: stream name -> {definition, unique_keys?, contact?}"]
    for stream, entry in setting.items():
        where = f"custom_data: stream '{stream}'"
        if not isinstance(entry, dict):
            errors.append(f"{where} must map to an object {{definition, unique_keys?, contact?}}")
            continue
        unknown = sorted(set(entry) - {"definition", "unique_keys", "contact"})
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)} (known: definition, unique_keys, contact)")
        name = entry.get("definition")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where}: 'definition' must name the custom data definition")
            continue
        keys = entry.get("unique_keys")
        if keys is not None and (
            not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys)
        ):
            errors.append(f"{where}: 'unique_keys' must be a non-empty list of column names")
            continue
        contact = entry.get("contact")
        link = None
        if contact is not None:
            if not isinstance(contact, dict) or not isinstance(contact.get("column"), str) or not contact["column"]:
                errors.append(f'{where}: \'contact\' must be {{"column": <column>, "by": {" | ".join(RESOLVER_BY)}}}')
                continue
            if contact.get("by") not in RESOLVER_BY:
                errors.append(
                    f"{where}: contact 'by' must be one of {', '.join(RESOLVER_BY)}, not {contact.get('by')!r}"
                )
                continue
            link = Contact(contact["column"], contact["by"])
        specs[stream] = Spec(stream, name.strip(), tuple(keys or ()), link)
    return specs, errors


def _types_of(prop: dict[str, t.Any]) -> tuple[set[str], str | None]:
    """JSON types and format of a property, `anyOf`/`oneOf` branches merged, null left out."""
    types: set[str] = set()
    fmt = prop.get("format")
    declared = prop.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(x for x in declared if isinstance(x, str))
    for branch in [*(prop.get("anyOf") or []), *(prop.get("oneOf") or [])]:
        if isinstance(branch, dict):
            more, more_fmt = _types_of(branch)
            types |= more
            fmt = fmt or more_fmt
    types.discard("null")
    return types, fmt


def field_type(prop: t.Any) -> str:
    """The definition field type of a JSON Schema property (the contract's mapping)."""
    types, fmt = _types_of(prop if isinstance(prop, dict) else {})
    if types == {"string"}:
        return {"date-time": "datetime", "date": "date"}.get(str(fmt), "text")
    if types == {"integer"}:
        return "number"
    if types and types <= {"integer", "number"}:
        return "decimal"
    if types == {"boolean"}:
        return "bool"
    if types == {"array"}:
        return "list"
    if types == {"object"}:
        return "json"
    return "text" if "string" in types else "json"


def _resolver_field(contact: Contact, *, required: bool) -> R.Field:
    value = R.Field(
        "value",
        _RESOLVER_VALUE_KIND[contact.by],
        required=True,
        nullable=False,
        pattern=r"^[^@\s]+@[^@\s]+$" if contact.by == "email" else None,
    )
    by = R.Field("by", R.STR, required=True, nullable=False, enum=(contact.by,))
    return R.Field(contact.column, R.OBJECT, required=required, nullable=not required, fields=(by, value))


def build_resource(
    spec: Spec,
    definition: dict[str, t.Any],
    unique_keys: Sequence[str],
) -> R.Resource:
    """The definition as a `Resource` row: records endpoint, unique keys, 20 a request."""
    number = definition_id(definition)
    contact_fields = {
        r.get("sourceField")
        for r in definition.get("relationships") or []
        if r.get("targetSchemaType") == "system" and r.get("targetSchema") == "contacts"
    }
    fields: list[R.Field] = []
    for field in definition.get("fields") or []:
        name = field["name"]
        required = name in unique_keys or bool(field.get("required"))
        if spec.contact is not None and name == spec.contact.column and name in contact_fields:
            fields.append(_resolver_field(spec.contact, required=required))
        else:
            kind = KIND_OF_TYPE.get(str(field.get("type")), R.JSON)
            fields.append(R.Field(name, kind, required=required, nullable=not required))
    return R.Resource(
        name=spec.resource_name,
        path=RECORDS_PATH.format(id=number if number is not None else "(new)"),
        key=tuple(unique_keys),
        max_batch=MAX_BATCH,
        fields=tuple(fields),
        id_field=unique_keys[0],
        depends_on=("customers",) if spec.contact is not None else (),
        description=f"Custom data definition '{definition.get('name', spec.definition)}'.",
    )


class CustomItemMapper(ItemMapper):
    """Record → custom data record: the definition's fields only, coerced; the contact as a resolver."""

    def __init__(
        self,
        resource: R.Resource,
        contact: Contact | None,
        *,
        zone: datetime.tzinfo = datetime.timezone.utc,
    ) -> None:
        super().__init__(resource, (), Injected(), zone=zone)
        self.contact = contact if contact is not None and resource.field_map.get(contact.column) else None
        if self.contact is not None and resource.field_map[self.contact.column].kind != R.OBJECT:
            self.contact = None  # the definition has no contacts relation on that column

    @override
    def map(self, record: dict, *, want_dropped: bool = True) -> tuple[dict, list[str]]:
        """The record, and the columns it dropped (only listed when `want_dropped`)."""
        source = record
        contact = self.contact
        if contact is not None:
            value = record.get(contact.column)
            if value is not None and not (isinstance(value, dict) and "by" in value):
                source = {**record, contact.column: {"by": contact.by, "value": value}}
        item = coerce_fields(self.fields, source, coerce=self.coerce)  # date-times in source_timezone
        if not want_dropped:
            return item, []
        return item, [k for k in record if k not in self.known and not k.startswith("_sdc_")]

    @override
    def key_of(self, item: dict, fields: Sequence[str] | None = None) -> str:
        """Unique keys as one string (a resolver by its value), composite parts joined by `|`."""

        def part(value: t.Any) -> str:
            if isinstance(value, dict) and "value" in value:
                value = value["value"]
            return "" if value is None else str(value)

        return "|".join(part(item.get(f)) for f in fields or self.resource.key)


@dataclasses.dataclass
class _Known:
    """A definition as the run knows it (from ShopiMind, or planned in a dry run)."""

    definition: dict[str, t.Any]
    activated: bool = False
    planned: bool = False  # dry run: what would be created


class CustomDefinitions:
    """Finds, creates, extends and activates the definitions of the `custom_data` streams."""

    def __init__(self, specs: dict[str, Spec], api: CustomDataApi | None, report: Report) -> None:
        self.specs = specs
        self.api = api  # None: dry run, nothing is read or written
        self.report = report
        self._known: dict[str, _Known] = {}  # by loose name
        self._resources: dict[str, R.Resource] = {}  # by stream
        self._warned_keys: set[str] = set()
        self.warned_deletes: set[str] = set()  # streams told that deletes are ignored

    def spec(self, stream: str) -> Spec | None:
        """The `custom_data` entry of a stream, if any."""
        return self.specs.get(stream)

    def resource(self, stream: str) -> R.Resource | None:
        """The resource `prepare` built for a stream."""
        return self._resources.get(stream)

    def plan(self, stream: str, schema: dict[str, t.Any], key_properties: Sequence[str] | None) -> R.Resource:
        """Check the stream against its entry (config errors stop here, before anything is sent).

        Returns a provisional resource built from the schema alone; `prepare` replaces it once
        the stream's first record arrives, so a stream without records costs no request.
        """
        spec = self.specs[stream]
        unique_keys, wanted, relation = self._wanted(spec, schema, key_properties)
        planned = {"name": spec.definition, "unique_keys": unique_keys, "fields": wanted, "relationships": relation}
        resource = build_resource(spec, planned, unique_keys)
        self._resources[stream] = resource
        return resource

    @staticmethod
    def _wanted(
        spec: Spec,
        schema: dict[str, t.Any],
        key_properties: Sequence[str] | None,
    ) -> tuple[list[str], list[dict[str, t.Any]], list[dict[str, t.Any]]]:
        """Unique keys, fields and relationships the stream asks of its definition."""
        properties = {k: v for k, v in (schema.get("properties") or {}).items() if not k.startswith("_sdc_")}
        unique_keys = list(spec.unique_keys or key_properties or ())
        where = f"custom_data: stream '{spec.stream}' (definition '{spec.definition}')"
        if not unique_keys:
            msg = (
                f"{where} has no key properties and no unique_keys; set unique_keys "
                "(without them every run would insert its records again)"
            )
            raise TargetError(msg)
        missing = [k for k in unique_keys if k not in properties]
        if missing:
            raise TargetError(f"{where}: unique key(s) {', '.join(missing)} are not properties of the stream")
        if spec.contact is not None and spec.contact.column not in properties:
            raise TargetError(f"{where}: contact column '{spec.contact.column}' is not a property of the stream")
        wanted = [
            {"name": name, "label": name, "type": field_type(prop), "required": name in unique_keys}
            for name, prop in properties.items()
        ]
        relation = [{"sourceField": spec.contact.column, **CONTACTS}] if spec.contact is not None else []
        return unique_keys, wanted, relation

    def prepare(self, stream: str, schema: dict[str, t.Any], key_properties: Sequence[str] | None) -> R.Resource:
        """Make the stream's definition ready for its records (find or create, extend, activate)."""
        spec = self.specs[stream]
        unique_keys, wanted, relation = self._wanted(spec, schema, key_properties)
        known = self._known.get(loose(spec.definition))
        if known is None:
            known = self._find_or_create(spec, unique_keys, wanted, relation)
            self._known[loose(spec.definition)] = known
        else:
            self._extend(spec, known, wanted, relation)
        if not known.activated and not known.planned:
            assert self.api is not None
            self.api.activate(definition_id(known.definition), spec.resource_name)
            known.activated = True
        keys = list(known.definition.get("unique_keys") or [])
        if not keys:
            keys = unique_keys
            if spec.definition not in self._warned_keys:
                self._warned_keys.add(spec.definition)
                logger.warning(
                    "custom data definition '%s' has no unique keys: ShopiMind inserts every record it gets "
                    "(a replay duplicates); the run still identifies records by %s",
                    spec.definition,
                    ", ".join(keys),
                )
        elif keys != unique_keys and spec.definition not in self._warned_keys:
            self._warned_keys.add(spec.definition)
            logger.warning(
                "custom data definition '%s' upserts on its unique keys %s, not %s",
                spec.definition,
                ", ".join(keys),
                ", ".join(unique_keys),
            )
        resource = build_resource(spec, known.definition, keys)
        self._resources[stream] = resource
        return resource

    def _find_or_create(
        self,
        spec: Spec,
        unique_keys: list[str],
        wanted: list[dict[str, t.Any]],
        relation: list[dict[str, t.Any]],
    ) -> _Known:
        body: dict[str, t.Any] = {"name": spec.definition, "unique_keys": unique_keys, "fields": wanted}
        if relation:
            body["relationships"] = relation
        described = ", ".join(f"{f['name']} ({f['type']})" for f in wanted)
        linked = f", linked to contacts by {spec.contact.by} in '{spec.contact.column}'" if spec.contact else ""
        if self.api is None:
            self.report.note(
                f"{spec.resource_name}: would look the definition up by name and, if absent, create it with "
                f"fields {described}; unique keys {', '.join(unique_keys)}{linked}; then activate it"
            )
            return _Known({**body, "relationships": relation}, planned=True)
        found = self.api.find_definition(spec.definition, spec.resource_name)
        if found is not None:
            known = _Known(found)
            logger.info("custom data definition '%s' found (id %s)", found.get("name"), definition_id(found))
            self._extend(spec, known, wanted, relation)
            return known
        created = self.api.create_definition(body, spec.resource_name)
        if not isinstance(created.get("fields"), list):
            created = {**body, **created}
        self.report.note(
            f"{spec.resource_name}: created definition (id {definition_id(created)}) with fields {described}; "
            f"unique keys {', '.join(unique_keys)}{linked}"
        )
        return _Known(created)

    def _extend(
        self,
        spec: Spec,
        known: _Known,
        wanted: list[dict[str, t.Any]],
        relation: list[dict[str, t.Any]],
    ) -> None:
        """Append what the stream has and the definition lacks; stop on a contradicting type."""
        definition = known.definition
        existing = {f["name"]: f for f in definition.get("fields") or [] if isinstance(f, dict)}
        new_fields = []
        for field in wanted:
            current = existing.get(field["name"])
            if current is None:
                new_fields.append({**field, "required": False})  # records already there lack it
                continue
            have = str(current.get("type"))
            if field["type"] not in ACCEPTS.get(have, frozenset({have})):
                msg = (
                    f"custom_data: stream '{spec.stream}': property '{field['name']}' is {field['type']} in the "
                    f"stream's schema, but field '{field['name']}' of definition '{spec.definition}' is {have}; "
                    "fields cannot be changed: convert the column with stream_maps, or load into another definition"
                )
                raise TargetError(msg)
        relations = [
            r
            for r in relation
            if not any(
                e.get("sourceField") == r["sourceField"] and e.get("targetSchema") == r["targetSchema"]
                for e in definition.get("relationships") or []
            )
        ]
        if not new_fields and not relations:
            return
        what = ", ".join(
            [
                *(f"{f['name']} ({f['type']})" for f in new_fields),
                *(f"relation {r['sourceField']} → contacts" for r in relations),
            ]
        )
        if self.api is None or known.planned:
            self.report.note(f"{spec.resource_name}: would extend the definition with {what}")
        else:
            extended = self.api.extend(definition_id(definition), new_fields, relations, spec.resource_name)
            self.report.note(f"{spec.resource_name}: extended the definition with {what}")
            if extended is not None:
                known.definition = extended
                return
        definition["fields"] = [*existing.values(), *new_fields]
        definition["relationships"] = [*(definition.get("relationships") or []), *relations]
