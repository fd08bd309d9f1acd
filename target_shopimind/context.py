"""What a sink needs from the run, given to it instead of the target.

The target builds one `SinkContext` and provides it as `sink_context`; a sink reads it from
the target the SDK constructs it with and keeps only the context, so no module below the
target needs the target (the graph runs one way: target → sinks → batching → delivery).
"""

from __future__ import annotations

import dataclasses
import typing as t

from target_shopimind.mapping import ItemMapper

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from target_shopimind.batches import Batch
    from target_shopimind.children import ChildStreams
    from target_shopimind.claims import Claims
    from target_shopimind.custom_data import CustomDefinitions
    from target_shopimind.mapping import Injected
    from target_shopimind.reader import PositionedReader
    from target_shopimind.report import Report
    from target_shopimind.resources import Resource
    from target_shopimind.routing import Route
    from target_shopimind.settings import Settings
    from target_shopimind.sync import Sync


@dataclasses.dataclass(frozen=True)
class SinkContext:
    """The run's parts a sink works with, and the settings it acts on."""

    settings: Settings
    report: Report
    submit: Callable[[Batch], None]  # the delivery engine: queue a batch (blocks while the queue is full)
    sync: Sync
    claims: Claims  # which stream's buffer holds an entity of a resource
    children: ChildStreams | None  # None: no child streams configured
    custom: CustomDefinitions
    route: Callable[[str], Route]  # where a stream (after stream maps) goes
    reader: PositionedReader | None  # where the record being read stands in the input (None: not counted)
    check_connection: Callable[[], None]  # Meltano's `config test` probe
    injected: Callable[[], Injected]  # settings added to items (resolving `data_source` on first use)

    def item_mapper(self, resource: Resource, key_properties: Sequence[str]) -> ItemMapper:
        """The mapper of a stream's records into `resource`'s items."""
        return ItemMapper(resource, key_properties, self.injected(), zone=self.settings.source_zone)


@t.runtime_checkable
class ProvidesSinkContext(t.Protocol):
    """A target whose sinks are the ones of this package."""

    @property
    def sink_context(self) -> SinkContext:
        """What every sink is given."""
        ...


def context_of(target: object) -> SinkContext:
    """The context `target` gives its sinks; a clear error for a target that gives none."""
    if not isinstance(target, ProvidesSinkContext):
        msg = f"{type(target).__name__} gives its sinks no sink_context"
        raise TypeError(msg)
    return target.sink_context
