"""The sink of a child stream: its rows go to the sync store, not to ShopiMind.

Rows are mapped like records of the parent's nested field (after stream maps), checked
against its local rules, and kept; the parents they belong to are sent at the end of input.
"""

from __future__ import annotations

import typing as t

from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.sinks import Sink

from target_shopimind.children import ChildMapper
from target_shopimind.compat import override
from target_shopimind.errors import TargetError
from target_shopimind.reader import PositionedReader
from target_shopimind.record_checks import RecordCheck

if t.TYPE_CHECKING:
    from singer_sdk.sinks.core import BaseJSONSchemaValidator

    from target_shopimind.children import ChildStreams
    from target_shopimind.target import TargetShopiMind


class ChildSink(Sink):
    """Keeps one child stream's rows in the store."""

    def __init__(
        self,
        target: TargetShopiMind,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self.shop = target
        super().__init__(target, stream_name, schema, key_properties)
        children = target.children
        assert children is not None
        self.children: ChildStreams = children
        self.spec = children.specs[stream_name]
        self.mapper = ChildMapper(self.spec, self.key_properties)
        self.tally = target.report.tally(self.spec.into)
        self._warned_fields = False

    @property
    @override
    def include_sdc_metadata_properties(self) -> bool:
        """Always on: `_sdc_deleted_at` removes a row from its parent."""
        return True

    @property
    @override
    def is_full(self) -> bool:
        """Never: rows go to the store one by one."""
        return False

    @property
    @override
    def current_size(self) -> int:
        """Nothing is buffered in memory."""
        return 0

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """The record check: it notes what is wrong and `process_record` refuses that row alone."""
        self.checks = RecordCheck(self.schema, check_schema=self.validate_schema, name_date_field=False)
        return self.checks

    @property
    @override
    def datetime_error_treatment(self) -> DatetimeErrorTreatmentEnum:
        """NULL: the record check has refused (and nulled) every date-time the SDK cannot parse."""
        return DatetimeErrorTreatmentEnum.NULL

    @override
    def preprocess_record(self, record: dict, context: dict) -> dict:  # noqa: ARG002
        """Missing key properties refuse the row here, before the SDK would stop the run for them."""
        self.checks.missing_keys(record, self.key_properties)
        return record

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
        if self.shop.sync.replaying:
            self.tally.replayed += 1  # a kept rejection of an earlier run (stored now, it leaves the replay queue)
        else:
            self.tally.received += 1
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

    def reject(self, key: str, errors: list[str], record: t.Any) -> None:
        """Report a child row refused by the nested field's local rules; the store keeps it for replay."""
        sync = self.shop.sync
        sync.keep_rejected(resource=self.spec.into, item_key=key, stage="validation", errors=errors)
        if sync.replaying:
            self.shop.report.still_rejected(self.spec.into)
        reader = self.shop.message_reader
        self.shop.report.reject(
            where=reader.position(self.stream_name) if isinstance(reader, PositionedReader) else "",
            stream=self.stream_name,
            resource=self.spec.into,
            key=key,
            stage="validation",
            errors=errors,
            record=record,
        )
