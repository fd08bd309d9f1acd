"""What every sink of the target shares: the run's context, the record check, tallies, rejections."""

from __future__ import annotations

import typing as t

from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
from singer_sdk.sinks import Sink

from target_shopimind.compat import override
from target_shopimind.context import context_of
from target_shopimind.record_checks import RecordCheck

if t.TYPE_CHECKING:
    from singer_sdk import Target
    from singer_sdk.sinks.core import BaseJSONSchemaValidator

    from target_shopimind.report import Tally


class StreamSink(Sink):
    """A sink that keeps only the context its target gives (`context.ProvidesSinkContext`), never the target.

    The SDK constructs it with the target, as for any sink.
    """

    tally: Tally  # the report's figures of what the stream loads into
    name_date_field = True  # the record check names the field of a date-time the SDK cannot parse

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        self.context = context_of(target)
        super().__init__(target, stream_name, schema, key_properties)
        self.sync = self.context.sync
        self.report = self.context.report

    @property
    def loads_into(self) -> str:
        """The resource (or nested field) the stream's records load into, as the report names it."""
        raise NotImplementedError

    # --- SDK hooks -------------------------------------------------------------------

    @property
    @override
    def include_sdc_metadata_properties(self) -> bool:
        """Always on: `_sdc_deleted_at` marks a deleted record (a delete, or a child row removed)."""
        return True

    @property
    @override
    def is_full(self) -> bool:
        """Never: a sink hands over a batch's worth as soon as it has it (child rows go to the store one by one)."""
        return False

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """The record check: it notes what is wrong and `process_record` refuses that record alone."""
        self.checks = RecordCheck(self.schema, check_schema=self.validate_schema, name_date_field=self.name_date_field)
        return self.checks

    @property
    @override
    def datetime_error_treatment(self) -> DatetimeErrorTreatmentEnum:
        """NULL: the record check has refused (and nulled) every date-time the SDK cannot parse."""
        return DatetimeErrorTreatmentEnum.NULL

    @override
    def preprocess_record(self, record: dict, context: dict) -> dict:  # noqa: ARG002
        """Missing key properties refuse the record here, before the SDK would stop the run for them."""
        self.checks.missing_keys(record, self.key_properties)
        return record

    # --- what every sink does with a record ------------------------------------------

    def count_arrival(self) -> None:
        """One record came: from the input, or replayed from the rejections an earlier run kept."""
        if self.sync.replaying:
            self.tally.replayed += 1  # a kept rejection of an earlier run, not a record of this input
        else:
            self.tally.received += 1

    def reject(self, key: str, errors: list[str], record: t.Any, *, where: str | None = None) -> None:
        """Report a record refused before sending (`where`: its place in the input, by default the current one).

        The sync store keeps it for replay; a replayed record refused again counts as still rejected.
        """
        into = self.loads_into
        self.sync.keep_rejected(resource=into, item_key=key, stage="validation", errors=errors)
        if self.sync.replaying:
            self.report.still_rejected(into)
            if where is None:
                where = "kept from an earlier run, replayed"
        if where is None:
            reader = self.context.reader
            where = reader.position(self.stream_name) if reader is not None else ""
        self.report.reject(
            where=where,
            stream=self.stream_name,
            resource=into,
            key=key,
            stage="validation",
            errors=errors,
            record=record,
        )
