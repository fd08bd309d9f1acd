"""The sink of a child stream: its rows go to the sync store, not to ShopiMind.

Rows are mapped like records of the parent's nested field (after stream maps), checked
against its local rules, and kept; the parents they belong to are sent at the end of input.
"""

from __future__ import annotations

import typing as t

from target_shopimind.children import ChildMapper
from target_shopimind.compat import override
from target_shopimind.errors import TargetError
from target_shopimind.sink_base import StreamSink

if t.TYPE_CHECKING:
    from singer_sdk import Target

    from target_shopimind.children import ChildStreams


class ChildSink(StreamSink):
    """Keeps one child stream's rows in the store."""

    name_date_field = False  # a row's date-time problem is told as the SDK words it

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        children = self.context.children
        assert children is not None
        self.children: ChildStreams = children
        self.spec = children.specs[stream_name]
        self.mapper = ChildMapper(self.spec, self.key_properties)
        self.tally = self.report.tally(self.spec.into)
        self._warned_fields = False

    @property
    @override
    def loads_into(self) -> str:
        """The parent's nested field, as the report names it."""
        return self.spec.into

    @property
    @override
    def current_size(self) -> int:
        """Nothing is buffered in memory."""
        return 0

    @override
    def setup(self) -> None:
        """A child stream of objects needs key properties: they are its rows' identity."""
        if not self.mapper.key_properties:
            msg = (
                f"child stream '{self.stream_name}' ({self.spec.into}) has no key properties: "
                "give the table a primary key (or set key properties in the tap's metadata)"
            )
            raise TargetError(msg)
        self.children.came.add(self.stream_name)

    @override
    def activate_version(self, new_version: int) -> None:
        """A full-table sync: rows it does not bring are removed at the end of input."""
        self.logger.debug("ACTIVATE_VERSION %s for child stream %s", new_version, self.stream_name)
        self.children.full_table_version(self.stream_name)

    @override
    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Keep, move or remove one child row."""
        self.count_arrival()  # a replayed row is stored now: it leaves the replay queue
        if self.checks.problems:
            self.reject(self.mapper.key_of(record)[0] or "?", self.checks.problems, record)
            return
        if record.get("_sdc_deleted_at") is not None:
            key, errors = self.mapper.key_of(record)
            if key is None:
                self.reject("?", errors, record)
                return
            self.children.remove_child(self.spec, key)
            self.tally.deleted += 1
            return
        row = self.mapper.map(record, want_dropped=not self._warned_fields)
        if row.dropped:
            self._warned_fields = True
            self.logger.warning(
                "Stream '%s': columns unknown to %s are dropped: %s",
                self.stream_name,
                self.spec.into,
                ", ".join(sorted(row.dropped)),
            )
        if row.errors:
            self.reject(row.key or "?", row.errors, record)
            return
        self.children.keep_child(self.spec, row)

    @override
    def process_batch(self, context: dict) -> None:  # noqa: ARG002
        """A checkpoint: rows read so far are committed to the store."""
        self.children.commit()
