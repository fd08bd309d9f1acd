"""Which ShopiMind resource a Singer stream loads into."""

from __future__ import annotations

import dataclasses
import typing as t

from target_shopimind.resources import BY_NAME, READ_ONLY, READ_ONLY_ALIASES, RESOURCES, Resource

if t.TYPE_CHECKING:
    from collections.abc import Mapping

_ALIASES: dict[str, str] = {
    **{r.name: r.name for r in RESOURCES},
    **{alias: r.name for r in RESOURCES for alias in r.aliases},
}


@dataclasses.dataclass(frozen=True)
class Route:
    """Where a stream goes; `resource` is None when it goes nowhere, and `reason` says why."""

    stream: str
    resource: Resource | None
    reason: str = ""
    on_purpose: bool = False  # dropped by an explicit `null` in stream_resource_map


def check_resource_map(mapping: Mapping[str, str | None]) -> list[str]:
    """Errors for `stream_resource_map` values that name no resource."""
    known = set(BY_NAME) | set(READ_ONLY)
    return [
        f"stream_resource_map: '{stream}' maps to unknown resource '{name}' (known: {', '.join(sorted(BY_NAME))})"
        for stream, name in mapping.items()
        if name is not None and name not in known
    ]


def route(stream: str, mapping: Mapping[str, str | None] | None = None) -> Route:
    """Explicit mapping first, then the stream name's last `-` segment and its aliases."""
    mapping = mapping or {}
    if stream in mapping:
        name = mapping[stream]
        if name is None:
            return Route(stream, None, "dropped by stream_resource_map", on_purpose=True)
    else:
        segment = stream.rsplit("-", 1)[-1].strip().lower()
        name = _ALIASES.get(segment) or READ_ONLY_ALIASES.get(segment)
        if name is None:
            return Route(
                stream,
                None,
                f"no ShopiMind resource is named '{segment}'; map it with stream_resource_map",
            )
    if name in READ_ONLY:
        return Route(stream, None, f"stream '{stream}' routes to '{name}': {READ_ONLY[name]}")
    if name not in BY_NAME:
        return Route(stream, None, f"stream_resource_map names unknown resource '{name}'")
    return Route(stream, BY_NAME[name])
