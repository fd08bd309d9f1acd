"""The ShopiMind calls around custom data: definitions (find, create, activate, extend) and data sources.

These are a few set-up calls per run, made on the reading thread before a stream's records
are batched; they go through the same client as the bulk writes, so they share its pacing
(the per-key quota) and its retries.
"""

from __future__ import annotations

import json
import typing as t
import unicodedata

from target_shopimind.answers import error_message, refusal
from target_shopimind.errors import TargetError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from target_shopimind.client import ApiClient

DEFINITIONS = "/v1/custom-data-definitions"
DATA_SOURCES = "/v1/data-sources"
PAGE_LIMIT = 100  # a larger `limit` silently falls back to 10 on the definitions list
MAX_PAGES = 10_000


def plain(name: str) -> str:
    """A name compared the way the contract finds definitions and data sources: trimmed, any case."""
    return name.strip().casefold()


def loose(name: str) -> str:
    """Also without accents: how ShopiMind decides that a definition name is already used."""
    decomposed = unicodedata.normalize("NFKD", plain(name))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def definition_id(definition: dict[str, t.Any]) -> int | str:
    """A definition's id: `id_definition`, else `id`."""
    return t.cast("int | str", definition.get("id_definition", definition.get("id")))


class CustomDataApi:
    """Definition and data-source calls; any refusal stops the run with a message naming the call."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def _call(  # noqa: PLR0913 - keyword-only options of one call
        self,
        method: str,
        path: str,
        resource: str,
        *,
        body: t.Any = None,
        params: dict[str, t.Any] | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[int, t.Any]:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        status, answer = self.client.request(method, path, data, resource, params)
        if 200 <= status < 300 or status in accept:
            return status, answer
        raise TargetError(refusal(status, answer, f"{method} {path}", resource))

    # -- definitions --------------------------------------------------------------------

    def definitions(self, resource: str) -> Iterator[dict[str, t.Any]]:
        """Every definition, deleted ones included, page by page (at most 100 a page)."""
        offset = 0
        for _ in range(MAX_PAGES):
            _, answer = self._call("GET", DEFINITIONS, resource, params={"limit": PAGE_LIMIT, "offset": offset})
            rows = answer.get("data") if isinstance(answer, dict) else None
            if not isinstance(rows, list) or not rows:
                return
            yield from (row for row in rows if isinstance(row, dict))
            offset += len(rows)
            pagination = (answer.get("meta") or {}).get("pagination") or {}
            if pagination.get("has_next_page") is False:
                return

    def find_definition(self, name: str, resource: str) -> dict[str, t.Any] | None:
        """The live definition called `name` (trimmed, case-insensitive; else also accent-insensitive)."""
        live = [
            d for d in self.definitions(resource) if d.get("status") != "deleted" and isinstance(d.get("name"), str)
        ]
        exact = [d for d in live if plain(d["name"]) == plain(name)]
        if exact:
            return exact[0]
        return next((d for d in live if loose(d["name"]) == loose(name)), None)

    def create_definition(self, body: dict[str, t.Any], resource: str) -> dict[str, t.Any]:
        """Create a definition; a name found taken (a retried create that landed) is looked up instead."""
        status, answer = self._call("POST", DEFINITIONS, resource, body=body, accept=frozenset({400, 409}))
        if status in {400, 409}:
            reason = "; ".join(error_message(answer, status))
            found = self.find_definition(body["name"], resource) if "already used" in reason else None
            if found is None:
                raise TargetError(f"{resource}: ShopiMind refused to create the definition (HTTP {status}: {reason})")
            return found
        created = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(created, dict) or definition_id(created) is None:
            found = self.find_definition(body["name"], resource)
            if found is None:
                raise TargetError(f"{resource}: the definition create answer carries no id: {str(answer)[:200]}")
            return found
        return created

    def activate(self, number: int | str, resource: str) -> None:
        """Activate (idempotent; a 409 means it already is)."""
        self._call("PATCH", f"{DEFINITIONS}/{number}/activate", resource, accept=frozenset({409}))

    def extend(
        self,
        number: int | str,
        fields: list[dict[str, t.Any]],
        relationships: list[dict[str, t.Any]],
        resource: str,
    ) -> dict[str, t.Any] | None:
        """Append fields and relationships; the extended definition when the answer carries it."""
        body: dict[str, t.Any] = {}
        if fields:
            body["fields"] = fields
        if relationships:
            body["relationships"] = relationships
        _, answer = self._call("PATCH", f"{DEFINITIONS}/{number}/extend", resource, body=body)
        data = answer.get("data") if isinstance(answer, dict) else None
        return data if isinstance(data, dict) and isinstance(data.get("fields"), list) else None

    # -- data sources -------------------------------------------------------------------

    def data_sources(self) -> list[dict[str, t.Any]]:
        """Every data source of the shop."""
        _, answer = self._call("GET", DATA_SOURCES, "data_sources")
        rows = answer.get("data") if isinstance(answer, dict) else answer
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    def data_source_id(self, label: str) -> tuple[int, bool]:
        """The id of the data source labelled `label` (trimmed, case-insensitive), created when absent.

        Returns the id and whether it was created.
        """
        found = self._find_source(label)
        if found is not None:
            return found, False
        status, answer = self._call(
            "POST",
            DATA_SOURCES,
            "data_sources",
            body={"label": label.strip(), "type": "api"},
            accept=frozenset({400, 409}),
        )
        created = answer.get("data") if isinstance(answer, dict) else None
        number = _source_id(created) if status < 300 and isinstance(created, dict) else None
        if number is None:
            number = self._find_source(label)  # taken meanwhile, or an answer without the id
        if number is None:
            reason = "; ".join(error_message(answer, status))
            raise TargetError(f"data_source: ShopiMind refused to create data source '{label}' ({reason})")
        return number, status < 300

    def _find_source(self, label: str) -> int | None:
        return next(
            (_source_id(s) for s in self.data_sources() if plain(str(s.get("label", ""))) == plain(label)), None
        )


def _source_id(source: dict[str, t.Any]) -> int | None:
    value = source.get("id_data_source", source.get("id"))
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
