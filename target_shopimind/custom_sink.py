"""The sink of a `custom_data` stream: a ShopiMind sink whose resource is a custom data definition."""

from __future__ import annotations

import typing as t

from target_shopimind.compat import override
from target_shopimind.context import context_of
from target_shopimind.custom_data import CustomItemMapper
from target_shopimind.sinks import ShopiMindSink

if t.TYPE_CHECKING:
    from singer_sdk import Target


class CustomDataSink(ShopiMindSink):
    """Routes to a definition; readies it (find, create, extend, activate) when the first record comes."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        # Before the base class routes the stream: the route is the definition's resource. The
        # schema here is the one after stream maps; config errors stop the run at this point.
        self.custom = context_of(target).custom
        self.custom.plan(stream_name, schema, key_properties)
        self._definition_schema = schema
        self._ready = False
        super().__init__(target, stream_name, schema, key_properties)
        self.spec = self.custom.spec(stream_name)
        assert self.resource is not None
        assert self.spec is not None
        self.mapper = CustomItemMapper(self.resource, self.spec.contact, zone=self.context.settings.source_zone)

    @override
    def process_record(self, record: dict, context: dict) -> None:
        """The first record readies the definition; then as for any resource."""
        if not self._ready:
            resource = self.custom.prepare(self.stream_name, self._definition_schema, self.key_properties)
            self._use(resource)
            assert self.spec is not None
            self.mapper = CustomItemMapper(resource, self.spec.contact, zone=self.context.settings.source_zone)
            self._ready = True
        super().process_record(record, context)

    @override
    def _delete(self, item: dict) -> None:  # noqa: ARG002 - the item cannot be addressed
        """Custom records are deleted only by their ShopiMind id, which a tap never has: counted, warned once."""
        self.tally.deletes_ignored += 1
        warned = self.custom.warned_deletes
        if self.stream_name not in warned:
            warned.add(self.stream_name)
            self.logger.warning(
                "Stream '%s': ShopiMind deletes custom data records only by their own id; "
                "records with _sdc_deleted_at are ignored (counted as deletes ignored)",
                self.stream_name,
            )
