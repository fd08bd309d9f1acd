"""TargetShopiMind: settings, routing and the STATE contract; the work is in the modules."""

from __future__ import annotations

import logging
import signal
import sys
import time
import typing as t

from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError

from target_shopimind import refused, routing
from target_shopimind.child_sink import ChildSink
from target_shopimind.children import ChildStore, ChildStreams
from target_shopimind.claims import Claims
from target_shopimind.client import ApiClient
from target_shopimind.compat import override
from target_shopimind.context import SinkContext
from target_shopimind.custom_api import CustomDataApi
from target_shopimind.custom_data import CustomDefinitions
from target_shopimind.custom_sink import CustomDataSink
from target_shopimind.delivery import Delivery, Sender
from target_shopimind.errors import TargetError
from target_shopimind.progress import Progress, TimedLimiter
from target_shopimind.reader import PositionedReader
from target_shopimind.replay import Kept
from target_shopimind.report import Report
from target_shopimind.resources import dependency_rank
from target_shopimind.settings import CONFIG_JSONSCHEMA, IGNORED_SDK_SETTINGS, Settings
from target_shopimind.sinks import ShopiMindSink
from target_shopimind.stopping import Interrupted, Stop
from target_shopimind.sync import Sync

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import PurePath
    from types import FrameType

    from singer_sdk.mapper import StreamMap
    from singer_sdk.sinks import Sink

    from target_shopimind.mapping import Injected

_RANK = dependency_rank()
_LAST = max(_RANK.values()) + 1  # custom data: after everything, its records may point to contacts


class TargetShopiMind(Target):
    """Loads Singer streams into ShopiMind with bulk upserts."""

    name = "target-shopimind"
    default_sink_class = ShopiMindSink
    message_reader_class = PositionedReader

    config_jsonschema = CONFIG_JSONSCHEMA

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings minus those the target ignores, so they are not advertised."""
        super().append_builtin_config(config_jsonschema)
        for name in IGNORED_SDK_SETTINGS:
            config_jsonschema["properties"].pop(name, None)

    # What change detection takes as the time (seconds since the epoch).
    clock: t.ClassVar[t.Callable[[], float]] = staticmethod(time.time)

    def __init__(
        self,
        *,
        config: dict | PurePath | str | list[PurePath | str] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        setup_mapper: bool = True,
        message_reader: PositionedReader | None = None,
    ) -> None:
        super().__init__(
            config=config,
            parse_env_config=parse_env_config,
            validate_config=validate_config,
            setup_mapper=setup_mapper,
            message_reader=message_reader,
        )
        self.settings, errors = Settings.from_config(self.config)
        if validate_config and errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        settings = self.settings
        self.stop = Stop()
        self.claims = Claims()
        self._MAX_RECORD_AGE_IN_MINUTES = settings.checkpoint_interval_seconds / 60
        self._injected: Injected | None = None
        self.report = Report(
            rejects_path=settings.rejected_records_path,
            max_rejected=settings.max_rejected_records,
            dry_run=settings.dry_run,
        )
        cap = settings.max_requests_per_minute
        self.report.request_cap = cap
        # Notes request start times for the progress line; its waits end when a stop's grace is over.
        limiter = TimedLimiter(cap, sleep=self.stop.sleep_unless_aborted)
        self.client: ApiClient | None = None
        if not settings.dry_run:
            self.client = ApiClient(
                base_url=settings.base_url,
                api_key=settings.api_key,
                limiter=limiter,
                attempts=self.report,
                timeout=settings.request_timeout,
                max_retries=settings.max_retries,
                max_retry_seconds=settings.max_retry_seconds,
                workers=settings.max_concurrent_requests,
                stop=self.stop,
            )
        self.custom_api = CustomDataApi(self.client) if self.client is not None else None
        self.custom = CustomDefinitions(dict(settings.custom_data), self.custom_api, self.report)
        self._sender = Sender(self.client, self.report)
        self.delivery = Delivery(self._sender, workers=settings.max_concurrent_requests, stop=self.stop)
        self._sync: Sync | None = None
        self._sink_context: SinkContext | None = None
        self._warned_store_id = False
        self.progress = Progress(
            self.report,
            limiter.starts if self.client is not None else None,
            interval=settings.progress_interval_seconds,
            cap=cap,
        )
        self._routes: dict[str, routing.Route] = {}
        self.sinks: dict[str, Sink] = {}  # the latest sink of each stream (after stream maps)
        self._key_fields = refused.KeyFields(settings.stream_maps)
        self._state_written = False
        self._records_seen = False
        self.children = self._open_children()
        if isinstance(self.message_reader, PositionedReader):
            self.message_reader.before_abort = self._keep_what_came_before
            self.message_reader.stop = self.stop
            self.message_reader.on_start = self._start_listening
            self.message_reader.on_interrupted = self._input_interrupted
            self.message_reader.on_record = self._record_arrived
            self.message_reader.on_state = self._state_arrived
            self.message_reader.refuse = self._refuse_record

    def _open_children(self) -> ChildStreams | None:
        """The child streams of the config, over the sync store (None when there are none)."""
        specs = self.settings.child_streams
        if not specs:
            return None
        store = ChildStore(self.sync.store)  # the child tables live in the sync store's file
        path = self.settings.store_path
        return ChildStreams(specs, store, store_path=path, resource_of=lambda s: self.route(s).resource)

    @property
    def sync(self) -> Sync:
        """The sync store of this run, opened on first use (a bad store stops the run here)."""
        if self._sync is None:
            self._sync = Sync.open(self.settings, clock=type(self).clock)
            self._sync.on_still_rejected = self.report.still_rejected
            self._sender.hooks = self._sync
        return self._sync

    @property
    def sink_context(self) -> SinkContext:
        """What every sink is given instead of the target (built on first use: it opens the sync store)."""
        if self._sink_context is None:
            self._sink_context = SinkContext(
                settings=self.settings,
                report=self.report,
                submit=self.delivery.submit,
                sync=self.sync,
                claims=self.claims,
                children=self.children,
                custom=self.custom,
                route=self.route,
                reader=self.message_reader if isinstance(self.message_reader, PositionedReader) else None,
                check_connection=self.check_connection,
                injected=lambda: self.injected,
            )
        return self._sink_context

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: t.Sequence[str] | None = None,
    ) -> Sink:
        """A sink a new SCHEMA replaces hands its buffer over first.

        So no record of it is overtaken by a newer version of the same item buffered in the new
        sink (the SDK itself drains a replaced sink only at the next checkpoint).
        """
        old = self.sinks.get(stream_name) if schema is not None else None
        sink = super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)
        if sink is not old and schema is not None:
            self.sinks[stream_name] = sink  # kept here too: the target never reads the SDK's own table
            if old is not None:
                self.drain_one(old)
        return sink

    @property
    def injected(self) -> Injected:
        """Settings added to items; `data_source` is resolved (found or created) on first use."""
        if self._injected is None:
            label, number = self.settings.data_source, None
            if label:
                if self.custom_api is None:
                    self.report.note(f"data_source: would look up data source '{label}' and create it when absent")
                else:
                    number, created = self.custom_api.data_source_id(label)
                    self.report.note(f"data_source: {'created' if created else 'found'} '{label}' (id {number})")
            self._injected = self.settings.injected(number)
        return self._injected

    @override
    def get_sink_class(self, stream_name: str) -> type[Sink]:
        """`custom_data` streams get the custom data sink (it wins over routing); child streams go to the store."""
        if self.custom.spec(stream_name) is not None:
            return CustomDataSink
        if self.children is not None and stream_name in self.children.specs:
            return ChildSink
        return super().get_sink_class(stream_name)

    def route(self, stream: str) -> routing.Route:
        """Where a stream (after stream maps) goes."""
        custom = self.custom.resource(stream)
        if custom is not None:
            return routing.Route(stream, custom)
        if stream not in self._routes:
            self._routes[stream] = routing.route(stream, self.settings.stream_resource_map)
        return self._routes[stream]

    # --- records: what the reader tells, what a stream map refuses -------------------

    def _record_arrived(self, message_dict: dict) -> None:
        """Before the SDK handles a RECORD: note its input stream and keep it as the tap sent it (for replay)."""
        self._records_seen = True
        stream = str(message_dict.get("stream", ""))
        sync = self.sync
        if not sync.replaying:
            sync.current = None
            if sync.keeper.enabled:
                maps = self.mapper.stream_maps.get(stream)
                key_properties = tuple(maps[0].raw_key_properties or ()) if maps else ()
                # As the tap sent it: the SDK's stream maps work on a copy of this dict.
                sync.current = Kept(stream, key_properties, message_dict.get("record") or {})
                sync.keeper.arrived(sync.current)

    def _refuse_record(self, message_dict: dict, error: Exception) -> bool:
        """A user's stream-map expression that fails on this record refuses the record, not the run."""
        stream = str(message_dict.get("stream", ""))
        failed = refused.failing_map(self.mapper.stream_maps.get(stream, ()), message_dict.get("record") or {})
        if failed is None:
            return False
        broken, problem = failed
        self.logger.debug("Stream map of '%s' failed: %r", stream, error)
        self._reject_unread(message_dict, [refused.describe(problem)], alias=broken.stream_alias, broken=broken)
        return True

    def _reject_unread(self, message_dict: dict, errors: list[str], *, alias: str, broken: StreamMap) -> None:
        """Report a record whose stream map failed, under the key its map's key expressions give."""
        raw = message_dict.get("record") or {}
        sink = self.sinks.get(alias)
        if not isinstance(sink, (ChildSink, ShopiMindSink)):
            return
        if isinstance(sink, ShopiMindSink) and sink.mapper is None:
            sink.tally.skipped += 1
            return
        sink.count_arrival()
        if isinstance(sink, ChildSink):
            sink.reject(sink.mapper.key_of(raw)[0] or "?", errors, raw)
            return
        assert sink.mapper is not None
        resource = sink.mapper.resource
        source = self._key_fields.of(broken, raw, {*resource.key, resource.id_field, *sink.key_properties})
        try:
            item = sink.mapper.map(source, want_dropped=False)[0]
        except Exception:  # noqa: BLE001 - the item is only used for its key
            item = source
        # A record no stream map could transform is shown as the tap sent it.
        sink.reject(sink.mapper.key_of(item), errors, raw)

    # --- checkpoints -----------------------------------------------------------------

    @override
    def _drain_all(self, sink_list: Iterable[Sink], parallelism: int) -> None:  # noqa: ARG002
        """Hand buffers over in reference order; delivery keeps that order on the wire."""
        ordered = sorted(sink_list, key=_rank_of)
        for sink in ordered:
            self.drain_one(sink)

    @override
    def _write_state_message(self, state: dict) -> None:
        """STATE only once everything before it is accepted or reported (assembled parents too)."""
        if self.children is not None and self.children.waiting():
            return  # parents wait for the end of input: this STATE is held back
        self.delivery.wait_idle()
        if self.sync.keeper.writes:
            self.sync.keeper.flush()  # rejections kept before the STATE that moves past them
        value = {k: v for k, v in state.items() if k != "target_shopimind"} if isinstance(state, dict) else {}
        value["target_shopimind"] = {**self.report.state_value(), "store_id": self.sync.store_id}
        super()._write_state_message(value)
        self._state_written = True

    def _state_arrived(self, message_dict: dict) -> None:
        """Every STATE from the tap: the lost-store guard of child streams, else a warning for a foreign store_id."""
        value = message_dict.get("value")
        if self.children is not None:
            store_id = self.sync.store_id
            problem = self.children.check_state(value, before_records=not self._records_seen, store_id=store_id)
            if problem:
                raise TargetError(problem)
            self.children.state_came()
        own = value.get("target_shopimind") if isinstance(value, dict) else None
        theirs = own.get("store_id") if isinstance(own, dict) else None
        if theirs and theirs != self.sync.store_id and not self._warned_store_id:
            self._warned_store_id = True
            self.logger.warning(
                "The tap's STATE comes from sync store %s, but this run uses store %s (%s): the store was lost, "
                "moved or belongs to another pipeline, so items ShopiMind already has may be sent again; point "
                "store_path at the original store to avoid that",
                theirs,
                self.sync.store_id,
                self.sync.store.path or "in memory",
            )

    def _replay_kept(self) -> None:
        """Kept rejections of the streams of this run go through maps, mapping and validation again."""
        sync, reader = self.sync, self.message_reader
        if not sync.keeper.enabled or not isinstance(reader, PositionedReader):
            return
        for row_id, kept in sync.keeper.to_replay(set(self.mapper.stream_maps)):
            sync.keeper.begin(row_id)
            sync.current = kept
            try:
                reader.dispatch_record({"type": "RECORD", "stream": kept.stream, "record": kept.record})
            finally:
                sync.keeper.end()
                sync.current = None

    @override
    def process_endofpipe(self) -> None:
        """Replay kept rejections, send assembled parents, flush, emit the final STATE, summarize.

        A run in which the tap sent no STATE prints none: Meltano would store any line it
        prints in place of the tap's bookmarks. The report then goes to the log only.
        """
        self._replay_kept()
        if self.children is not None:
            self._send_assembled(self.children)
        super().process_endofpipe()
        # Every batch settles before the run ends: without a STATE from the tap nothing else waits for them.
        self.delivery.wait_idle()
        if self.children is not None:
            for name, count in self.children.finish().items():
                self.report.tally(name).waiting_for_parent = count
        self.close()
        if not self._state_written:
            self.logger.info("The tap sent no STATE, so none is emitted; the summary below is the report")
        self.report.log_summary()

    def _send_assembled(self, children: ChildStreams) -> None:
        """Every parent whose row or children changed, with all its children, in reference order."""
        for active in sorted(self.sinks.values(), key=_rank_of):
            self.drain_one(active)  # what came on its own goes first
        for stream, item in children.assembled():
            sink = self.sinks.get(stream)
            if not isinstance(sink, ShopiMindSink):
                # The parent's stream did not come in this run: a sink for its stored items.
                sink = self.get_sink(stream, schema={"type": "object", "properties": {}})
            if isinstance(sink, ShopiMindSink) and sink.resource is not None:
                sink.offer(item, assembled=True)

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers (`wait`: let them finish), close connections and the rejects file."""
        self.progress.stop()
        self.delivery.close(wait=wait)
        if self.client is not None:
            self.client.close()
        if self._sync is not None:
            if wait:
                self._sync.close()
            else:  # workers may still settle a batch: only release the file
                self._sync.store.close()
        self.report.close()

    def check_connection(self) -> None:
        """Meltano's `config test` probe: prove the key works without writing anything."""
        if self.client is None:
            self.logger.info("dry run: the API key is not checked")
            return
        self.client.check_key()

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        """SIGTERM/SIGINT: note the stop; the reading thread settles and exits at a safe point.

        The SDK's handler drains right here, inside the signal handler, where the interrupted
        code may hold a lock the drain needs (the report's): the process then waits on itself.
        This one only notes the stop (`Stop.request` takes no lock). When the reading thread is
        waiting for input, nothing is held, so it is interrupted there; otherwise it finishes the
        message in hand and stops before the next one (`PositionedReader`). A second signal ends
        every wait at once.
        """
        self.stop.request(signum)
        reader = self.message_reader
        if isinstance(reader, PositionedReader) and reader.waiting_for_input and not reader.stopping:
            reader.stopping = True
            raise Interrupted

    def _start_listening(self) -> None:
        """Before the first line: remembered so a failure can still print the summary; the store opens."""
        _RUNNING.append(self)
        self.sync  # noqa: B018 - open the store before the first message: a bad one stops the run at start
        self.progress.start()

    def _input_interrupted(self) -> None:
        """A stop signal ended the input: the SDK's end of input follows (flush, STATE within the grace, summary)."""
        signum = self.stop.signum or signal.SIGTERM
        self.logger.info(
            "Received termination signal %d, draining all sinks (batches get %.0f s to settle)...",
            signum,
            self.stop.grace,
        )

    def _keep_what_came_before(self) -> None:
        """Bad input: settle every record read before it, emit its STATE, then stop."""
        self.drain_all()
        self.delivery.wait_idle()  # settled even when no STATE came before the bad line

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run; a `TargetError` ends with its one-line message and exit status 1."""
        try:
            super().invoke(about=about, about_format=about_format, config=config, file_input=file_input)
        except TargetError as exc:
            for target in _RUNNING:
                target.report.log_summary()
                target.close(wait=False)
            # Last, so it is the line a caller (Meltano's `config test`) shows as the reason.
            logging.getLogger(cls.name).error("target-shopimind stopped: %s", exc)  # noqa: TRY400
            sys.exit(1)


_RUNNING: list[TargetShopiMind] = []


def _rank_of(sink: Sink) -> int:
    resource = getattr(sink, "resource", None)
    return _RANK.get(resource.name, _LAST) if resource is not None else 0


if __name__ == "__main__":
    TargetShopiMind.cli()
