"""The sink of a routed stream: map and check each record, hand its item to the stream's buffers."""

from __future__ import annotations

import decimal
import json
import math
import typing as t

from target_shopimind import validation
from target_shopimind.batching import BODY_ROOM, DeleteBuffer, UpsertBuffer
from target_shopimind.compat import override
from target_shopimind.errors import KeyPropertyMissing, TargetError
from target_shopimind.mapping import dumps
from target_shopimind.record_checks import BlankDate, datelike, nullable
from target_shopimind.resources import MAX_BODY_BYTES
from target_shopimind.sink_base import StreamSink

if t.TYPE_CHECKING:
    from singer_sdk import Target

    from target_shopimind.batches import DeleteBatch, UpsertBatch
    from target_shopimind.replay import Kept
    from target_shopimind.resources import Resource

# The stream `meltano config test` sends a loader.
PROBE_STREAM = "meltano_test_stream"
# What one odd value (NaN, 1e30 as a price, an unpaired surrogate, deep nesting) raises while
# it is mapped or serialized: it becomes a rejection of its record, never a crash of the run.
_UNMAPPABLE = (ArithmeticError, ValueError, TypeError, RecursionError)


_NUMBERS = (float, decimal.Decimal)


def _not_finite(value: float | decimal.Decimal) -> bool:
    return not math.isfinite(value) if isinstance(value, float) else not value.is_finite()


def _item_culprit(item: dict, exc: BaseException) -> str:
    """`field: problem` for the first field of a mapped item that fails to check or serialize."""
    for name, value in item.items():
        try:
            dumps({name: value})
        except _UNMAPPABLE as found:  # noqa: PERF203 - only after an item failed
            return f"{name}: {_problem(found)}"
    return f"item: {_problem(exc)}"


def _problem(exc: BaseException) -> str:
    """What a value that failed to map or serialize is, in words."""
    if isinstance(exc, UnicodeError):
        return "text holds an unpaired surrogate (\\ud800-\\udfff), which is not valid Unicode"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, ArithmeticError):
        return "number out of range"
    if isinstance(exc, ValueError) and "Out of range float" in str(exc):
        return "NaN or an infinite number, which JSON cannot carry"
    return f"value cannot be mapped ({type(exc).__name__})"


class ShopiMindSink(StreamSink):
    """Maps and checks one stream's records; its buffers make the items batches."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        context = self.context
        self.route = context.route(stream_name)
        self.resource = self.route.resource
        self.claims = context.claims
        self.children = context.children
        self.tally = self.report.tally(self.resource.name if self.resource else f"(skipped) {stream_name}")
        self.mapper = context.item_mapper(self.resource, self.key_properties) if self.resource else None
        self.checks.blank_dates = tuple(self._blankable_dates())
        self._warned_fields = False
        self._warned_sdk = False  # the stream's one warning about SDK-typed fields its items lack
        self.upserts: UpsertBuffer | None = None
        self.deletes: DeleteBuffer | None = None
        self._use(self.resource)
        self._warned_delete = False

    @property
    @override
    def loads_into(self) -> str:
        """The stream's resource."""
        assert self.resource is not None
        return self.resource.name

    # --- SDK hooks -------------------------------------------------------------------

    @property
    @override
    def max_size(self) -> int:
        """`batch_size_rows`, capped at the resource's API maximum."""
        limit = self.resource.max_batch if self.resource else 100
        return max(1, min(self.batch_size_rows or limit, limit))

    @property
    @override
    def current_size(self) -> int:
        """Items and ids waiting in this sink."""
        return len(self.upserts or ()) + len(self.deletes or ())

    def _blankable_dates(self) -> list[BlankDate]:
        """Date properties whose empty or zero value means "unknown".

        The SDK parses them before `process_record`, and `0000-00-00` is no date: such a value
        becomes null unless the field is a required one (then the record is rejected).
        """
        if self.resource is None:
            return []
        fields = self.resource.field_map
        flat = {"customer_created_at"} if self.resource.name == "orders" else set()
        keys = set(self.key_properties)
        found = []
        for name, prop in self.schema.get("properties", {}).items():
            field = fields.get(name)
            if not datelike(prop) or name in keys or (field is not None and field.required):
                continue
            found.append(BlankDate(name, nullable(prop), field is not None or name in flat))
        return found

    @override
    def activate_version(self, new_version: int) -> None:
        """ShopiMind cannot list or purge by version: full-table versions are ignored quietly."""
        self.logger.debug("ACTIVATE_VERSION %s ignored for %s", new_version, self.stream_name)

    @override
    def setup(self) -> None:
        """Say once, per stream, why it goes nowhere; stop if the user asked for that."""
        if self.stream_name == PROBE_STREAM:
            self.context.check_connection()
            return
        if self.resource is None and not self.route.on_purpose:
            if self.context.settings.on_unknown_stream == "fail":
                msg = f"{self.route.reason} (on_unknown_stream is 'fail'; set it to 'skip' to skip such streams)"
                raise TargetError(msg)
            self.logger.warning("Skipping stream '%s': %s", self.stream_name, self.route.reason)

    @override
    def process_record(self, record: dict, context: dict) -> None:  # noqa: ARG002
        """Map and check one record, then buffer it as an upsert or a delete."""
        checks = self.checks
        if self.resource is None or self.mapper is None:
            self._skip()
            return
        self.count_arrival()
        if checks.blanked:
            self._warn_blanked(checks.blanked)
        if checks.problems:
            self._refuse(record, checks.problems)
            return
        known, key_source = self.mapper.known, self.mapper.key_source
        odd = next(
            (
                k
                for k, v in record.items()
                if isinstance(v, _NUMBERS) and _not_finite(v) and (k in known or k == key_source)
            ),
            None,
        )
        if odd is not None:
            self.reject(self._raw_key(record), [f"{odd}: NaN or an infinite number, which JSON cannot carry"], record)
            return
        try:
            item, dropped = self.mapper.map(record, want_dropped=not self._warned_fields)  # warned once per stream
        except _UNMAPPABLE as exc:
            self.reject(self._raw_key(record), [self._culprit(record, exc)], record)
            return
        if self.mapper.blanked:
            self._warn_blanked(self.mapper.blanked, noted=True)
        if dropped:
            self._warned_fields = True
            self.logger.warning(
                "Stream '%s': fields unknown to %s are dropped: %s",
                self.stream_name,
                self.resource.name,
                ", ".join(sorted(dropped)),
            )
        children = self.children
        assembled = children is not None and children.is_parent(self.resource)
        if record.get("_sdc_deleted_at") is not None:
            if children is not None and assembled:
                children.drop_parent(self.resource, item)
            self._delete(item)
            return
        if assembled:
            self._keep_parent(item)
            return
        self.offer(item)

    def _skip(self) -> None:
        """A record of a stream that goes nowhere: counted; without its key, the SDK's own error."""
        if self.checks.missing:  # no resource, so no report to keep the record in
            problem = f"record without its key property {', '.join(self.checks.missing)}"
            reader = self.context.reader
            line, stream = (reader.line, reader.stream) if reader is not None else (0, "")
            raise KeyPropertyMissing(line, problem, stream or self.stream_name)
        self.tally.skipped += 1

    def _refuse(self, record: dict, problems: list[str]) -> None:
        """A record the SDK's checks refused: reported under the key its item would have had."""
        assert self.mapper is not None
        try:
            item = self.mapper.map(record, want_dropped=False)[0]
        except Exception:  # noqa: BLE001 - the item is only used for its key and the report
            item = record
        self.reject(self.mapper.key_of(item), problems, item)

    def _keep_parent(self, item: dict) -> None:
        """A parent of child streams: kept in the store, assembled and sent at the end of input."""
        assert self.resource is not None
        assert self.mapper is not None
        assert self.children is not None
        key = self.mapper.key_of(item)
        key_fields = [f for f in self.resource.fields if f.name in self.resource.key]
        errors = validation.check_fields(key_fields, item)
        if errors:
            self.reject(key, errors, item)
            return
        self.children.keep_parent(self.resource, self.stream_name, item, key)

    def offer(self, item: dict, *, assembled: bool = False) -> None:
        """Check one item and buffer it; `assembled` parents wait for what they refer to."""
        assert self.resource is not None
        assert self.mapper is not None
        missing: list[str] | None = None if self._warned_sdk else []
        key = self.mapper.key_of(item)
        try:
            errors = validation.validate(self.resource, item, missing=missing)
            data = b"" if errors else dumps(item)
        except _UNMAPPABLE as exc:
            self.reject(key, [_item_culprit(item, exc)], item)
            return
        if missing and not errors:
            self._warn_sdk_fields(missing)
        if len(data) > BODY_ROOM:
            errors = [f"item is {len(data)} bytes; a ShopiMind request body is capped at {MAX_BODY_BYTES} bytes"]
        if errors:
            self.reject(key, errors, item)
            return
        if assembled:
            assert self.upserts is not None
            self.upserts.assembled = True  # from now on (the end of input) full batches wait for their references
        self._upsert(key, data, self.mapper.key_of(item, self.resource.conflict_fields))

    def _upsert(self, key: str, data: bytes, entity: str) -> None:
        """A valid item: batched now, or after the store says whether it changed."""
        upserts, deletes = self.upserts, self.deletes
        assert upserts is not None
        assert deletes is not None
        resource = upserts.resource.name
        self.claims.take(resource, entity, self)  # another stream's older version goes first
        kept = self.sync.current
        if entity in deletes.held:
            self._check_candidates()
            deletes.flush()  # the delete came first: let it go first, then this item whatever the store says
            self._buffer(key, data, entity, kept)
            return
        detector = self.sync.detector
        if self.sync.replaying:  # settled one by one: an unchanged replay leaves the store at once
            if detector.to_send(resource, [(key, data)])[0]:
                self._buffer(key, data, entity, kept)
            else:
                self.tally.unchanged += 1
                self.claims.release(resource, [entity], self)
            return
        if not detector.reads:
            self._buffer(key, data, entity, kept)
            return
        if upserts.wait(key, data, entity, kept):  # one store lookup per batch's worth
            self._check_candidates()

    def _check_candidates(self) -> None:
        """One store lookup for the waiting items; the changed ones are batched."""
        upserts = self.upserts
        if upserts is None or not upserts.waiting:
            return
        chunk, merged = upserts.take_waiting()
        self.tally.merged += merged
        resource = upserts.resource.name
        send = self.sync.detector.to_send(resource, [(key, data) for key, data, _, _ in chunk])
        for (key, data, entity, kept), go in zip(chunk, send, strict=True):
            if go:
                self._buffer(key, data, entity, kept)
            else:
                self.tally.unchanged += 1
                self.claims.release(resource, [entity], self)

    def _buffer(self, key: str, data: bytes, entity: str, kept: Kept | None) -> None:
        """Add one item to the next batch."""
        assert self.upserts is not None
        replayed = self.sync.replaying
        if replayed:
            self.sync.keeper.replay_pending = True  # its answer settles the kept record
        if self.upserts.add(key, data, entity, kept, replayed):
            self.tally.merged += 1

    @override
    def process_batch(self, context: dict) -> None:  # noqa: ARG002
        """A checkpoint or the end of input: hand over what is buffered."""
        self._check_candidates()
        if self.upserts is not None:
            self.upserts.flush(after_references=True)
        if self.deletes is not None:
            self.deletes.flush(after_references=True)

    # --- helpers ---------------------------------------------------------------------

    def hand_over(self) -> None:
        """Submit everything buffered (another stream of the resource needs one of its entities)."""
        self._check_candidates()
        if self.upserts is not None:
            self.upserts.flush()
        if self.deletes is not None:
            self.deletes.flush()

    def _raw_key(self, record: dict) -> str:
        """The record's key as the stream declares it (its item could not be built)."""
        return "|".join("" if record.get(k) is None else str(record.get(k)) for k in self.key_properties)

    def _culprit(self, record: dict, exc: BaseException) -> str:
        """`field: problem` for the first field that fails to map or serialize on its own."""
        assert self.mapper is not None
        for name, value in record.items():
            try:
                dumps(self.mapper.map({name: value}, want_dropped=False)[0])
            except _UNMAPPABLE as found:  # noqa: PERF203 - only after a record failed
                return f"{name}: {_problem(found)}"
        return f"record: {_problem(exc)}"

    def _warn_blanked(self, names: list[str], *, noted: bool = False) -> None:
        """Once per stream and field: an empty or zero value was sent as null."""
        assert self.mapper is not None
        for name in names if noted else [n for n in names if self.mapper.note_blank(n)]:
            self.logger.warning(
                "Stream '%s': empty or zero values of %s.%s (such as '' or '0000-00-00') are sent as null",
                self.stream_name,
                self.mapper.resource.name,
                name,
            )

    def _warn_sdk_fields(self, missing: list[str]) -> None:
        """Once per stream: the item goes without them and ShopiMind's answer decides."""
        assert self.resource is not None
        self._warned_sdk = True
        self.logger.warning(
            "Stream '%s': %s items are sent without fields the ShopiMind SDK types as required "
            "(no evidence that ShopiMind refuses them; a refusal is reported as stage 'api'): %s",
            self.stream_name,
            self.resource.name,
            ", ".join(validation.field_names(missing)),
        )

    def _delete(self, item: dict) -> None:
        assert self.resource is not None
        assert self.mapper is not None
        resource = self.resource
        if self.context.settings.on_deleted_record != "delete":
            self.tally.deletes_ignored += 1
            return
        if resource.delete_path is None:
            self.tally.deletes_ignored += 1
            if not self._warned_delete:
                self._warned_delete = True
                self.logger.warning("%s has no delete endpoint: deleted records are ignored", resource.name)
            return
        missing = [f for f in resource.conflict_fields if item.get(f) in (None, "")]
        if missing:
            key = self.mapper.key_of(item, resource.conflict_fields)
            self.reject(key, [f"{name}: is required to delete" for name in missing], item)
            return
        entity = self.mapper.key_of(item, resource.conflict_fields)
        self._check_candidates()
        self.claims.take(resource.name, entity, self)  # another stream's upsert of it goes first
        assert self.upserts is not None
        assert self.deletes is not None
        if entity in self.upserts.entities:
            self.upserts.flush()  # the upsert came first: let it go first
        path = resource.delete_path.format(**{p: item[p] for p in resource.delete_parents})
        self.deletes.add(path, json.dumps(item[resource.delete_id_field]).encode(), entity)

    def _use(self, resource: Resource | None) -> None:
        """Route the stream's items to `resource` (a custom definition's is known at its first record)."""
        self.resource = resource
        if resource is None:
            return
        self.upserts = UpsertBuffer(resource, self.stream_name, max_size=self.max_size, ship=self._ship_upserts)
        self.deletes = DeleteBuffer(resource, self.stream_name, ship=self._ship_deletes)

    def _ship_upserts(self, batch: UpsertBatch) -> None:
        self.sync.hold(batch)
        self.context.submit(batch)  # before the buffer clears: an interrupted hand-over resends, never loses
        assert self.upserts is not None
        still = self.upserts.waiting_entities()  # still this buffer's to send
        self.claims.release(batch.resource.name, batch.conflicts - still, self)

    def _ship_deletes(self, batch: DeleteBatch) -> None:
        self.sync.hold(batch)
        self.context.submit(batch)
        self.claims.release(batch.resource.name, batch.keys, self)
