"""The sandbox's custom data and data-source routes: definitions, records, data sources.

ShopiMind lets a shop define its own objects (a *definition*: named, typed fields, unique
keys, relationships to contacts) and load rows of them (*records*). This module holds the
sandbox's copy of them and answers the routes the target uses, with the rules the API is
known to apply: names unique without case, accents or surrounding spaces among
non-deleted definitions, `limit` above 100 falling back to 10 on the definitions list,
append-only extension, logical delete, at most 20 records per write, unknown keys refused,
upsert on the unique keys (insert without), deletes by ShopiMind record id only, and data
sources with unique labels. The HTTP plumbing (key check, quota, latency, faults) stays in
the server; answers here are `(status, body)` pairs, and a refused record is a list of
class-validator `Violation`s.
"""

from __future__ import annotations

import threading
import typing as t
import unicodedata

from target_shopimind.sandbox.replies import error_body, now_iso, page
from target_shopimind.sandbox.rules import (
    DATETIME_SHAPE,
    IS_OBJECT,
    IS_REQUIRED,
    Constraint,
    Violation,
    is_date,
    is_finite_number,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from target_shopimind.sandbox.routes import Call

FIELD_TYPES = ("bool", "text", "longtext", "number", "decimal", "list", "date", "datetime", "json", "geolocation")
RESOLVER_BY = ("email", "id_customer", "id_contact")
RECORDS_MAX_BATCH = 20
DELETE_MAX_IDS = 20
DEFINITIONS_MAX_LIMIT = 100  # above it the definitions list silently falls back to the default
NAME_USED = "custom data definition name is already used."
NOT_FOUND = "Custom data definition not found"
LABEL_USED = "data source label is already used."

Answer = tuple[int, t.Any]


def normalized(name: str) -> str:
    """A name as ShopiMind compares them: trimmed, without case or accents."""
    decomposed = unicodedata.normalize("NFKD", name.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _error(status: int, message: str) -> Answer:
    return status, error_body(status, message)


def _is_text(value: object) -> bool:
    return isinstance(value, str)


# What a value of each field type must pass (a `json` field takes any value).
_VALUE_CONSTRAINTS: dict[str, Constraint] = {
    "text": Constraint("isString", _is_text, "must be a string"),
    "longtext": Constraint("isString", _is_text, "must be a string"),
    "number": Constraint("isNumber", is_finite_number, "must be a number"),
    "decimal": Constraint("isNumber", is_finite_number, "must be a number"),
    "bool": Constraint("isBoolean", lambda v: isinstance(v, bool), "must be a boolean"),
    "date": Constraint("isDateString", is_date, "must be a date as YYYY-MM-DD"),
    "datetime": Constraint(
        "isDateString", lambda v: isinstance(v, str) and bool(DATETIME_SHAPE.match(v)), "must be an ISO 8601 date-time"
    ),
    "list": Constraint("isArray", lambda v: isinstance(v, list), "must be an array"),
    "geolocation": Constraint("isObject", lambda v: isinstance(v, (dict, list)), "must be an object"),
}


def value_violation(name: str, field_type: str, value: object) -> Violation | None:
    """What `value` breaks as the value of field `name` of `field_type`, or None."""
    constraint = _VALUE_CONSTRAINTS.get(field_type)
    message = constraint.refusal(value) if constraint is not None else None
    return None if constraint is None or message is None else Violation((name,), constraint.name, message)


def resolver_error(value: object) -> str | None:
    """A contacts relation takes an `id_contact` or `{"by": ..., "value": ...}`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if not isinstance(value, dict):
        return 'must be an id_contact or {"by": "email" | "id_customer" | "id_contact", "value": ...}'
    unknown = sorted(set(value) - {"by", "value"})
    if unknown:
        return f"unknown resolver key(s) {', '.join(unknown)}"
    if value.get("by") not in RESOLVER_BY:
        return f"by must be one of {', '.join(RESOLVER_BY)}"
    if value.get("value") in (None, ""):
        return "value is required"
    return None


class CustomData:
    """Definitions, their records and the data sources of one sandbox."""

    def __init__(self, *, rejected_entry: Callable[[int, t.Any, list[Violation]], dict] | None = None) -> None:
        self._lock = threading.Lock()
        self._rejected_entry = rejected_entry or _plain_entry
        self.definitions: dict[int, dict[str, t.Any]] = {}
        self.records: dict[int, dict[int, dict[str, t.Any]]] = {}  # definition id -> record id -> values
        self.sources: dict[int, dict[str, t.Any]] = {}
        self._by_key: dict[int, dict[str, int]] = {}  # definition id -> unique-key string -> record id
        self.reject_400_with_items = False  # the all-invalid 400 lists the rejected records too
        self._next_definition = 1
        self._next_record = 1
        self._next_source = 1

    # -- inspection ---------------------------------------------------------------------

    def find(self, name: str) -> dict[str, t.Any] | None:
        """The non-deleted definition called `name` (compared as ShopiMind does)."""
        wanted = normalized(name)
        with self._lock:
            return next(
                (d for d in self.definitions.values() if d["status"] != "deleted" and normalized(d["name"]) == wanted),
                None,
            )

    def items(self, name: str) -> list[dict[str, t.Any]] | None:
        """`custom_data_definitions`, `data_sources`, or `custom:<name>` (that definition's records)."""
        if name in {"custom_data_definitions", "data_sources"}:
            return self._rows(name)
        if name.startswith("custom:"):
            found = self.find(name.removeprefix("custom:"))
            if found is None:
                raise KeyError(f"no custom data definition named {name.removeprefix('custom:')!r}")
            with self._lock:
                return [_copy(r) for r in self.records[found["id_definition"]].values()]
        return None

    def counts(self) -> dict[str, int]:
        """Records per live definition, as `custom:<name>` (for the sandbox's stats)."""
        with self._lock:
            return {
                f"custom:{d['name']}": len(self.records[d["id_definition"]])
                for d in self.definitions.values()
                if d["status"] != "deleted"
            }

    def stats(self) -> dict[str, int]:
        """How many definitions (deleted included) and data sources the sandbox holds."""
        with self._lock:
            return {"definitions": len(self.definitions), "data_sources": len(self.sources)}

    def reset(self) -> None:
        """Forget everything."""
        with self._lock:
            self.definitions.clear()
            self.records.clear()
            self._by_key.clear()
            self.sources.clear()
            self._next_definition = self._next_record = self._next_source = 1

    def dump(self) -> dict[str, t.Any]:
        """Everything, for the sandbox's state file."""
        with self._lock:
            return {
                "definitions": [_copy(d) for d in self.definitions.values()],
                "records": {
                    str(k): [{"id": rid, "values": v} for rid, v in rows.items()] for k, rows in self.records.items()
                },
                "data_sources": [_copy(s) for s in self.sources.values()],
            }

    def load(self, state: dict[str, t.Any]) -> None:
        """Restore what `dump` wrote."""
        with self._lock:
            for definition in state.get("definitions") or []:
                self.definitions[int(definition["id_definition"])] = definition
                self.records.setdefault(int(definition["id_definition"]), {})
            for key, rows in (state.get("records") or {}).items():
                self.records[int(key)] = {int(row["id"]): row["values"] for row in rows}
            for source in state.get("data_sources") or []:
                self.sources[int(source["id_data_source"])] = source
            for number, rows in self.records.items():
                keys = self.definitions[number]["unique_keys"] if number in self.definitions else []
                self._by_key[number] = {_key(v, keys): rid for rid, v in rows.items()} if keys else {}
            self._next_definition = max(self.definitions, default=0) + 1
            self._next_record = max((rid for rows in self.records.values() for rid in rows), default=0) + 1
            self._next_source = max(self.sources, default=0) + 1

    def describe(self, call: Call, body: t.Any, entry: dict[str, t.Any]) -> None:
        """Resource name, item count and keys of a request, for the sandbox's request log."""
        definition = self._definition(call.definition_id) if call.definition_id else None
        if call.kind.startswith("records.") and definition is not None:
            entry["resource"] = f"custom:{definition['name']}"
        elif call.kind.startswith("definitions."):
            entry["resource"] = "custom_data_definitions"
        elif call.kind.startswith("sources."):
            entry["resource"] = "data_sources"
        if call.kind in {"records.upsert", "records.delete"} and isinstance(body, list):
            entry["items"] = len(body)
            if call.kind == "records.upsert" and definition is not None:
                keys = definition.get("unique_keys") or []
                entry["keys"] = [_key(item, keys) for item in body if isinstance(item, dict)]
            else:
                entry["keys"] = [str(i) for i in body]
            entry["conflict_keys"] = list(entry["keys"])

    # -- answers ------------------------------------------------------------------------

    def answer(self, call: Call, query: dict[str, list[str]], body: t.Any) -> Answer:
        """Answer one call (the request already passed the key check and the quota)."""
        handlers: dict[str, Callable[[], Answer]] = {
            "definitions.list": lambda: self._list("custom_data_definitions", query),
            "definitions.create": lambda: self._create_definition(body),
            "definitions.get": lambda: self._get_definition(call),
            "definitions.delete": lambda: self._delete_definition(call),
            "definitions.activate": lambda: self._set_status(call, "active"),
            "definitions.deactivate": lambda: self._set_status(call, "inactive"),
            "definitions.extend": lambda: self._extend(call, body),
            "records.list": lambda: self._list_records(call, query),
            "records.upsert": lambda: self._upsert(call, body),
            "records.delete": lambda: self._delete_records(call, body),
            "records.delete_one": lambda: self._delete_records(call, list(query.get("id", [])), single=True),
            "records.patch": lambda: self._patch_record(call, body),
            "sources.list": lambda: self._list("data_sources", None),
            "sources.create": lambda: self._create_source(body),
        }
        return handlers[call.kind]()

    def _definition(self, raw_id: str | None) -> dict[str, t.Any] | None:
        try:
            found = self.definitions.get(int(raw_id or ""))
        except ValueError:
            return None
        return found if found is not None and found["status"] != "deleted" else None

    def _rows(self, table: str) -> list[dict[str, t.Any]]:
        """Copies of every definition (deleted ones too) or every data source (active or not)."""
        with self._lock:
            rows = self.definitions if table == "custom_data_definitions" else self.sources
            return [_copy(row) for row in rows.values()]

    def _list(self, table: str, query: dict[str, list[str]] | None) -> Answer:
        """The definitions list pages (`query`); the data-sources list answers every source at once."""
        rows = self._rows(table)
        if query is None:
            return 200, {"statusCode": 200, "data": rows}
        return 200, page(rows, query, max_limit=DEFINITIONS_MAX_LIMIT, falls_back=True)

    def _get_definition(self, call: Call) -> Answer:
        with self._lock:
            found = self._definition(call.definition_id)
            if found is None:
                return _error(400, NOT_FOUND)
            return 200, {"statusCode": 200, "data": _copy(found)}

    def _create_definition(self, body: t.Any) -> Answer:
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return _error(400, "name: is required")
        fields = body.get("fields")
        if not isinstance(fields, list) or not fields:
            return _error(400, "fields: must be a non-empty array")
        with self._lock:
            problems = self._fields_errors(fields, [])
            unique_keys = body.get("unique_keys") or []
            names = {f.get("name") for f in fields if isinstance(f, dict)}
            if not isinstance(unique_keys, list) or not all(isinstance(k, str) for k in unique_keys):
                problems.append("unique_keys: must be an array of field names")
            else:
                problems.extend(f"unique_keys: '{k}' is not a field" for k in unique_keys if k not in names)
            relationships = body.get("relationships") or []
            problems.extend(self._relationship_errors(relationships, names))
            if problems:
                return _error(400, "; ".join(problems))
            wanted = normalized(name)
            if any(d["status"] != "deleted" and normalized(d["name"]) == wanted for d in self.definitions.values()):
                return _error(400, NAME_USED)
            number = self._next_definition
            self._next_definition += 1
            now = now_iso()
            definition = {
                "id_definition": number,
                "name": name,
                "description": body.get("description"),
                "unique_keys": list(unique_keys),
                "fields": [_field(f) for f in fields],
                "relationships": [dict(r) for r in relationships],
                "status": "active",
                "created_at": now,
                "updated_at": now,
            }
            self.definitions[number] = definition
            self.records[number] = {}
            self._by_key[number] = {}
            return 201, {"statusCode": 201, "data": _copy(definition)}

    def _fields_errors(self, fields: list[t.Any], existing: list[dict[str, t.Any]]) -> list[str]:
        problems: list[str] = []
        seen = {f["name"] for f in existing}
        for i, field in enumerate(fields):
            if not isinstance(field, dict):
                problems.append(f"fields.{i}: must be an object")
                continue
            name = field.get("name")
            if not isinstance(name, str) or not name:
                problems.append(f"fields.{i}.name: is required")
                continue
            if name in seen:
                problems.append(f"fields.{i}.name: field '{name}' already exists")
            seen.add(name)
            if field.get("type") not in FIELD_TYPES:
                problems.append(f"fields.{i}.type: must be one of {', '.join(FIELD_TYPES)}")
            if not isinstance(field.get("label"), str):
                problems.append(f"fields.{i}.label: is required")
            if not isinstance(field.get("required"), bool):
                problems.append(f"fields.{i}.required: must be a boolean")
        return problems

    def _relationship_errors(self, relationships: t.Any, names: set[t.Any]) -> list[str]:
        if not isinstance(relationships, list):
            return ["relationships: must be an array"]
        problems: list[str] = []
        for i, relation in enumerate(relationships):
            if not isinstance(relation, dict):
                problems.append(f"relationships.{i}: must be an object")
                continue
            if relation.get("sourceField") not in names:
                problems.append(f"relationships.{i}.sourceField: must name a field")
            kind, target = relation.get("targetSchemaType"), relation.get("targetSchema")
            if kind == "system":
                if target not in {"contacts", "products"}:
                    problems.append(f"relationships.{i}.targetSchema: must be contacts or products")
            elif kind == "custom":
                if self._definition(str(target)) is None:
                    problems.append(f"relationships.{i}.targetSchema: no definition with id {target}")
            else:
                problems.append(f"relationships.{i}.targetSchemaType: must be system or custom")
        return problems

    def _delete_definition(self, call: Call) -> Answer:
        with self._lock:
            found = self._definition(call.definition_id)
            if found is None:
                return _error(400, NOT_FOUND)
            found["status"] = "deleted"
            found["updated_at"] = now_iso()
            return 200, {"statusCode": 200, "data": _copy(found)}

    def _set_status(self, call: Call, status: str) -> Answer:
        with self._lock:
            found = self._definition(call.definition_id)
            if found is None:
                return _error(400, NOT_FOUND)
            found["status"] = status  # idempotent
            found["updated_at"] = now_iso()
            return 200, {"statusCode": 200, "data": _copy(found)}

    def _extend(self, call: Call, body: t.Any) -> Answer:
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        unknown = sorted(set(body) - {"name", "description", "fields", "relationships"})
        if unknown:
            return _error(400, f"{', '.join(unknown)}: cannot be changed by extend (it only appends)")
        with self._lock:
            found = self._definition(call.definition_id)
            if found is None:
                return _error(400, NOT_FOUND)
            fields = body.get("fields") or []
            relationships = body.get("relationships") or []
            problems = (
                self._fields_errors(fields, found["fields"]) if isinstance(fields, list) else ["fields: not an array"]
            )
            names = {f["name"] for f in found["fields"]} | {f.get("name") for f in fields if isinstance(f, dict)}
            problems.extend(self._relationship_errors(relationships, names))
            name = body.get("name")
            if name is not None:
                if not isinstance(name, str) or not name.strip():
                    problems.append("name: must be a non-empty string")
                elif any(
                    d is not found and d["status"] != "deleted" and normalized(d["name"]) == normalized(name)
                    for d in self.definitions.values()
                ):
                    return _error(400, NAME_USED)
            if problems:
                return _error(400, "; ".join(problems))
            if name is not None:
                found["name"] = name
            if "description" in body:
                found["description"] = body["description"]
            found["fields"].extend(_field(f) for f in fields)
            found["relationships"].extend(dict(r) for r in relationships)
            found["updated_at"] = now_iso()
            return 200, {"statusCode": 200, "data": _copy(found)}

    def _writable(self, call: Call) -> tuple[dict[str, t.Any] | None, Answer | None]:
        found = self._definition(call.definition_id)
        if found is None:
            return None, _error(400, NOT_FOUND)
        if found["status"] != "active":
            return None, _error(400, f"Custom data definition is {found['status']}: activate it first")
        return found, None

    def _record_errors(self, definition: dict[str, t.Any], item: t.Any, *, partial: bool = False) -> list[Violation]:
        if not isinstance(item, dict):
            return [Violation(("item",), IS_OBJECT.name, IS_OBJECT.message)]
        fields = {f["name"]: f for f in definition["fields"]}
        contacts = {
            r["sourceField"]
            for r in definition["relationships"]
            if r.get("targetSchemaType") == "system" and r.get("targetSchema") == "contacts"
        }
        errors = [
            Violation((key,), "isValid", "unknown field (not in the definition)") for key in item if key not in fields
        ]
        for name, field in fields.items():
            value = item.get(name)
            if value is None:
                if (field.get("required") or name in definition["unique_keys"]) and not partial:
                    errors.append(Violation((name,), IS_REQUIRED.name, IS_REQUIRED.message))
                continue
            if name in contacts:
                problem = resolver_error(value)
                found = Violation((name,), "isValid", problem) if problem else None
            else:
                found = value_violation(name, field["type"], value)
            if found is not None:
                errors.append(found)
        return errors

    def _upsert(self, call: Call, body: t.Any) -> Answer:
        if not isinstance(body, list):
            return _error(400, "Request body must be a JSON array of records")
        if len(body) > RECORDS_MAX_BATCH:
            return _error(400, f"At most {RECORDS_MAX_BATCH} records per request (got {len(body)})")
        with self._lock:
            definition, refusal = self._writable(call)
            if refusal is not None:
                return refusal
            assert definition is not None
            keys = definition["unique_keys"]
            rows = self.records[definition["id_definition"]]
            index = self._by_key.setdefault(definition["id_definition"], {})
            accepted = rejected = 0
            entries = []
            for i, item in enumerate(body):
                errors = self._record_errors(definition, item)
                if errors:
                    rejected += 1
                    entries.append(self._rejected_entry(i, item, errors))
                    continue
                accepted += 1
                key = _key(item, keys) if keys else None
                existing = index.get(key) if key is not None else None
                if existing is None:  # without unique keys every record is a new one
                    existing = self._next_record
                    self._next_record += 1
                    if key is not None:
                        index[key] = existing
                rows[existing] = dict(item)  # an update keeps the record's id
        if body and not accepted:
            return 400, _all_invalid(entries if self.reject_400_with_items else None)
        return 200, {"statusCode": 200, "sent_count": accepted, "rejected_count": rejected, "rejected_items": entries}

    def _list_records(self, call: Call, query: dict[str, list[str]]) -> Answer:
        with self._lock:
            found = self._definition(call.definition_id)
            if found is None:
                return _error(400, NOT_FOUND)
            rows = [{**_copy(values), "id": rid} for rid, values in self.records[found["id_definition"]].items()]
        return 200, page(rows, query, falls_back=True)

    def _delete_records(self, call: Call, body: t.Any, *, single: bool = False) -> Answer:
        if not isinstance(body, list) or (single and len(body) != 1):
            what = "an id query parameter" if single else "a JSON array of record ids"
            return _error(400, f"Request must give {what}")
        if len(body) > DELETE_MAX_IDS:
            return _error(400, f"At most {DELETE_MAX_IDS} ids per bulk-delete (got {len(body)})")
        try:
            ids = [int(i) for i in body]
        except (TypeError, ValueError):
            return _error(400, "record ids must be integers")
        with self._lock:
            definition, refusal = self._writable(call)
            if refusal is not None:
                return refusal
            assert definition is not None
            rows = self.records[definition["id_definition"]]
            index = self._by_key.get(definition["id_definition"], {})
            keys = definition["unique_keys"]
            for rid in ids:
                row = rows.pop(rid, None)  # idempotent: unknown ids are skipped
                if row is not None and keys:
                    index.pop(_key(row, keys), None)
        return 200, {"statusCode": 200, "sent_count": len(ids), "rejected_count": 0, "rejected_items": []}

    def _patch_record(self, call: Call, body: t.Any) -> Answer:
        with self._lock:
            definition, refusal = self._writable(call)
            if refusal is not None:
                return refusal
            assert definition is not None
            rows = self.records[definition["id_definition"]]
            try:
                rid = int(call.record_id or "")
            except ValueError:
                rid = -1
            if rid not in rows:
                return _error(400, "Custom data record not found")
            errors = self._record_errors(definition, body, partial=True)
            if errors:
                return _error(400, "; ".join(e.text for e in errors))
            keys = definition["unique_keys"]
            index = self._by_key.setdefault(definition["id_definition"], {})
            if keys:
                index.pop(_key(rows[rid], keys), None)
            rows[rid].update(body)
            if keys:
                index[_key(rows[rid], keys)] = rid
            return 200, {"statusCode": 200, "data": {**_copy(rows[rid]), "id": rid}}

    def _create_source(self, body: t.Any) -> Answer:
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        label = body.get("label")
        if not isinstance(label, str) or not label.strip():
            return _error(400, "label: is required")
        unknown = sorted(set(body) - {"label", "type", "config", "parent_id", "is_default"})
        if unknown:
            return _error(400, f"{', '.join(unknown)}: unknown field")
        with self._lock:
            if any(normalized(s["label"]) == normalized(label) for s in self.sources.values()):
                return _error(400, LABEL_USED)
            number = self._next_source
            self._next_source += 1
            now = now_iso()
            source = {
                "id_data_source": number,
                "label": label,
                "type": body.get("type"),
                "is_default": bool(body.get("is_default", False)),
                "config": body.get("config"),
                "active": True,
                "parent_id": body.get("parent_id"),
                "created_at": now,
                "updated_at": now,
            }
            self.sources[number] = source
            return 201, {"statusCode": 201, "data": _copy(source)}


def _field(field: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "name": field["name"],
        "label": field["label"],
        "type": field["type"],
        "required": field["required"],
        "description": field.get("description"),
        "default": field.get("default"),
        "options": list(field.get("options") or []),
    }


def _key(item: dict[str, t.Any], keys: list[str]) -> str:
    """Unique-key values as one string (a resolver by its value), as the target renders keys."""

    def part(value: t.Any) -> str:
        if isinstance(value, dict) and "value" in value:
            value = value["value"]
        return "" if value is None else str(value)

    return "|".join(part(item.get(k)) for k in keys)


def _plain_entry(index: int, item: t.Any, errors: list[Violation]) -> dict[str, t.Any]:
    return {"index": index, "item": item, "errors": [e.text for e in errors]}


def _all_invalid(entries: list[dict] | None) -> dict[str, t.Any]:
    body: dict[str, t.Any] = {"statusCode": 400, "message": "All records are invalid", "error": "Bad Request"}
    if entries is not None:
        body["rejected_items"] = entries
    return body


def _copy(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
