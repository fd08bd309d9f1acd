"""What a /v1 method + path addresses.

The resource routes come from the resource table; the custom data and data-source routes are
listed here. An unknown route is a 404, as NestJS answers.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

from target_shopimind.resources import RESOURCES, Resource

DEFINITIONS_PATH = "/v1/custom-data-definitions"
RECORDS_PATH = "/v1/custom-data-records"
DATA_SOURCES_PATH = "/v1/data-sources"


@dataclasses.dataclass(frozen=True)
class Route:
    """A resource route: `kind` is "upsert", "delete", "list" or "carts"."""

    kind: str
    resource: Resource | None
    params: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Call:
    """What a custom-data or data-source request addresses."""

    kind: str  # e.g. "definitions.create", "records.upsert", "sources.list"
    definition_id: str | None = None
    record_id: str | None = None

    @property
    def write(self) -> bool:
        """Creates and record writes: they get the sandbox's fault injection like the bulk writes."""
        return self.kind in {"records.upsert", "records.delete", "definitions.create", "sources.create"}


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"({\w+})", template)
    body = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts if p)
    return re.compile(f"^{body}/?$")


_RESOURCE_ROUTES: list[tuple[str, re.Pattern[str], str, Resource | None]] = [
    *((m, _template_regex(r.path), k, r) for r in RESOURCES for m, k in (("POST", "upsert"), ("GET", "list"))),
    *(("POST", _template_regex(r.delete_path), "delete", r) for r in RESOURCES if r.delete_path),
    ("GET", _template_regex("/v1/carts"), "carts", None),
]

_CUSTOM_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", _template_regex(DEFINITIONS_PATH), "definitions.list"),
    ("POST", _template_regex(DEFINITIONS_PATH), "definitions.create"),
    ("GET", _template_regex(f"{DEFINITIONS_PATH}/{{d}}"), "definitions.get"),
    ("DELETE", _template_regex(f"{DEFINITIONS_PATH}/{{d}}"), "definitions.delete"),
    ("PATCH", _template_regex(f"{DEFINITIONS_PATH}/{{d}}/activate"), "definitions.activate"),
    ("PATCH", _template_regex(f"{DEFINITIONS_PATH}/{{d}}/deactivate"), "definitions.deactivate"),
    ("PATCH", _template_regex(f"{DEFINITIONS_PATH}/{{d}}/extend"), "definitions.extend"),
    ("POST", _template_regex(f"{RECORDS_PATH}/{{d}}/bulk-delete"), "records.delete"),
    ("GET", _template_regex(f"{RECORDS_PATH}/{{d}}"), "records.list"),
    ("POST", _template_regex(f"{RECORDS_PATH}/{{d}}"), "records.upsert"),
    ("DELETE", _template_regex(f"{RECORDS_PATH}/{{d}}"), "records.delete_one"),
    ("PATCH", _template_regex(f"{RECORDS_PATH}/{{d}}/{{r}}"), "records.patch"),
    ("GET", _template_regex(DATA_SOURCES_PATH), "sources.list"),
    ("POST", _template_regex(DATA_SOURCES_PATH), "sources.create"),
)


def match_route(method: str, path: str) -> Route | None:
    """The resource route of `method path`, or None."""
    for route_method, regex, kind, resource in _RESOURCE_ROUTES:
        found = regex.match(path)
        if found and route_method == method:
            params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
            return Route(kind, resource, params)
    return None


def match_call(method: str, path: str) -> Call | None:
    """The custom-data or data-source call of `method path`, or None."""
    for route_method, regex, kind in _CUSTOM_ROUTES:
        found = regex.match(path)
        if found and route_method == method:
            groups = found.groupdict()
            return Call(kind, groups.get("d"), groups.get("r"))
    return None
