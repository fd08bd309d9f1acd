"""Records whose stream map fails, named by the key they would have had.

A user's map expression that fails on one record raises inside the SDK, before any sink sees
the record (the sinks refuse the records the SDK's own checks find, see `record_checks.py`).
The report must still name it the way every other rejection is named: by its upsert key after
stream maps and key filling (`C-2`, not the raw `2`). This module finds which stream map failed
and what the record's key fields become through that map's key expressions alone, using the
SDK's public stream-map classes only.
"""

from __future__ import annotations

import copy
import fnmatch
import typing as t

from singer_sdk.mapper import CustomStreamMap

if t.TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from singer_sdk.mapper import StreamMap

_OPTIONS = ("__source__", "__alias__", "__filter__")


def failing_map(stream_maps: Iterable[StreamMap], record: dict) -> tuple[StreamMap, Exception] | None:
    """The first stream map that cannot transform `record`, with its error; None when all can."""
    for stream_map in stream_maps:
        try:
            stream_map.transform(copy.copy(record))
        except Exception as exc:  # noqa: BLE001, PERF203 - any error of a user's expression refuses the record
            return stream_map, exc
    return None


def describe(error: Exception) -> str:
    """One line for a stream map failure, with the expression's own error when it is wrapped."""
    cause = error.__cause__ or error.__context__
    text = f"{error}" + (f" ({type(cause).__name__}: {cause})" if cause is not None else "")
    if not str(error):
        text = f"{type(error).__name__}{text}"
    return f"stream map failed: {text}"


class KeyFields:
    """Evaluates only the stream-map expressions of a stream's key fields (cached per map)."""

    def __init__(self, stream_maps_config: Mapping[str, t.Any]) -> None:
        self.config = stream_maps_config
        self._maps: dict[tuple[str, str], CustomStreamMap | None] = {}

    def of(self, stream_map: StreamMap, record: dict, wanted: Collection[str]) -> dict:
        """The wanted fields of `record` after `stream_map`, evaluated one expression at a time.

        The failing expression may be one of them: those are then taken from the raw record.
        """
        stream = getattr(stream_map, "stream_name", None) or stream_map.stream_alias
        cache_key = (stream, stream_map.stream_alias)
        if cache_key not in self._maps:
            self._maps[cache_key] = self._key_map(stream_map, stream, wanted)
        key_map = self._maps[cache_key]
        if key_map is None:
            return record
        try:
            result = key_map.transform(copy.copy(record))
        except Exception:  # noqa: BLE001 - a key expression itself fails: the raw values are all there is
            return record
        return {**record, **result} if result is not None else record

    def _key_map(self, stream_map: StreamMap, stream: str, wanted: Collection[str]) -> CustomStreamMap | None:
        definition = self._definition(stream, stream_map.stream_alias)
        if definition is None or not isinstance(stream_map, CustomStreamMap):
            return None
        keep = {k: v for k, v in definition.items() if k in wanted or k == "__key_properties__"}
        try:
            return CustomStreamMap(
                stream_alias=stream_map.stream_alias,
                map_config=stream_map.map_config,
                faker_config=stream_map.faker_config,
                raw_schema=stream_map.raw_schema,
                key_properties=stream_map.raw_key_properties,
                map_transform=keep,
                flattening_options=None,
                stream_name=stream,
            )
        except Exception:  # noqa: BLE001 - an expression the full map accepted; fall back to raw values
            return None

    def _definition(self, stream: str, alias: str) -> dict | None:
        """The user's stream-map definition behind (stream, alias), as the SDK matches them."""
        for name, definition in self.config.items():
            if not isinstance(definition, dict):
                continue
            source = definition.get("__source__", name)
            if stream != source and not fnmatch.fnmatch(stream, source):
                continue
            if "__source__" in definition and name != alias:
                continue
            if "__source__" not in definition and "__alias__" not in definition and alias not in {name, stream}:
                continue
            return {k: v for k, v in definition.items() if k not in _OPTIONS}
        return None
