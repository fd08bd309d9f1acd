"""The field reference (`docs/resources.md`), generated from the resource table.

Users read it to learn the field names, types and rules without reading `resources.py`;
`scripts/update_field_reference.py` rewrites it and a test fails when it and the table disagree.
"""

from __future__ import annotations

import json
import typing as t

from target_shopimind import resources as R

if t.TYPE_CHECKING:
    from collections.abc import Iterable

_KINDS = {
    R.STR: "string",
    R.ID: "id (integer when integral, else string)",
    R.INT: "integer",
    R.MONEY: "number (2 decimals)",
    R.BOOL: "boolean",
    R.DATETIME: "date-time (sent as ISO 8601 UTC, `2026-05-07T08:00:00.000Z`)",
    R.DATE: "date (`YYYY-MM-DD`)",
    R.LANG: "language (ISO 639-1; `fr_FR` becomes `fr`)",
    R.CURRENCY: "currency (ISO 4217, upper case)",
    R.COUNTRY: "country (ISO 3166-1 alpha-2, upper case)",
    R.STR_LIST: "array of strings",
    R.ID_LIST: "array of ids",
    R.OBJECT: "object",
    R.OBJECT_LIST: "array of objects",
}
_TIERS = {R.REQUIRED: "**required**", R.SDK_ONLY: "SDK-typed", R.OPTIONAL: "optional"}

HEADER = """\
# Field reference

<!-- generated from target_shopimind/resources.py by scripts/update_field_reference.py; do not edit -->

What the target sends to each ShopiMind resource. A record's columns are matched to these
field names (rename them with `stream_maps`); columns the resource does not know are dropped.

**Absence** says what is known about an item without the field:
- **required**: a source shows ShopiMind refusing such an item (the upsert key, an image `url`,
  an order line's `product_id` and `quantity`, ...). The target rejects the item locally
  (stage `validation`) without spending quota.
- **SDK-typed**: only the official ShopiMind SDK types the field as required; no source shows the
  server refusing an item without it. The item is sent without it and ShopiMind's answer decides
  (a refusal comes back as stage `api`); the first record of a stream lacking such fields logs one
  warning naming them. `shopimind-sandbox --require-sdk-fields` refuses such items, to try that path.
- **optional**.

Types and rules of a field that is present are always checked. In a field that is not required,
an empty or zero date or date-time (`""`, `0000-00-00`, `0000-00-00 00:00:00`) and an empty
string in a number field are sent as null (one warning per stream and field). Date-times without
an offset are read in `source_timezone` (default UTC).

**Evidence** tags: [DOC] ShopiMind's documentation, [SDK] its official JavaScript SDK, [KIT] its
official integration kit, [TH5] a production connector's observations, [INF] inference.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: t.Any) -> str:
    if value is None:
        return ""
    if value == "now":
        return "the current time"
    return f"`{json.dumps(value)}`"


def _rules(field: R.Field) -> str:
    rules = []
    if not field.nullable:
        rules.append("not null (left out when null)" if not field.required else "not null")
    if field.pattern:
        rules.append(f"matches `{field.pattern}`")
    if field.enum:
        rules.append("one of " + ", ".join(f"`{v}`" for v in field.enum))
    if field.max_length:
        rules.append(f"at most {field.max_length} characters")
    if field.https:
        rules.append("an `https://` URL")
    if field.note:
        rules.append(field.note)
    return "; ".join(rules)


def _rows(fields: Iterable[R.Field], prefix: str = "") -> list[str]:
    rows = []
    for field in fields:
        name = f"{prefix}{field.name}"
        cells = [f"`{name}`", _KINDS.get(field.kind, field.kind), _TIERS[field.tier], _rules(field)]
        cells += [_default(field.default), field.evidence]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        if field.fields:
            member = f"{name}[]." if field.kind == R.OBJECT_LIST else f"{name}."
            rows.extend(_rows(field.fields, member))
    return rows


def resource_section(resource: R.Resource) -> str:
    """The reference of one resource."""
    if resource.delete_path:
        delete = f"`POST {resource.delete_path}` with `{resource.delete_ids}` (at most {R.DELETE_BATCH} per call)"
    else:
        delete = "none (records with `_sdc_deleted_at` are ignored)"
    lines = [
        f"## {resource.name}",
        "",
        resource.description,
        "",
        f"- endpoint: `POST {resource.path}`",
        f"- upsert key: {' + '.join(f'`{k}`' for k in resource.key)}",
        f"- batch: at most {resource.max_batch} items per request",
        f"- bulk delete: {delete}",
        f"- stream names routed here by default: `{resource.name}`, " + ", ".join(f"`{a}`" for a in resource.aliases),
        "",
        "| field | type | absence | rules | default | evidence |",
        "|---|---|---|---|---|---|",
        *_rows(resource.fields),
        "",
    ]
    return "\n".join(lines)


def render() -> str:
    """The whole `docs/resources.md`."""
    index = "\n".join(f"- [{r.name}](#{r.name})" for r in R.RESOURCES)
    sections = "\n".join(resource_section(r) for r in R.RESOURCES)
    return f"{HEADER}\n{index}\n\n{sections}".rstrip("\n") + "\n"
