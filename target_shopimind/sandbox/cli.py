"""`shopimind-sandbox`: run the sandbox in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import typing as t

from target_shopimind.sandbox.server import DEFAULT_API_KEY, ERROR_STYLES, Sandbox, is_loopback

if t.TYPE_CHECKING:
    import types

DEFAULT_PORT = 8787
API_KEY_PATTERN = re.compile(r"^[a-zA-Z0-9-]{20,64}$")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopimind-sandbox",
        description="A local ShopiMind-compatible API (bulk upserts, bulk deletes, quota, faults) on loopback.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    add("--port", type=int, default=DEFAULT_PORT, help="port; 0 picks a free one (default 8787)")
    add("--api-key", default=DEFAULT_API_KEY, help="the spm-api-key clients must send")
    add("--quota", type=int, default=600, help="requests per 60 s per key; 0 = unlimited (default 600)")
    add("--latency-ms", type=float, default=0, help="delay before every /v1 answer")
    add("--fail-500-rate", type=float, default=0.0, help="share of writes answered 500, nothing stored")
    add("--fail-503-rate", type=float, default=0.0, help="share of writes answered 503 with Retry-After")
    add("--retry-after", type=float, default=1, help="Retry-After seconds on 503 answers")
    add("--drop-rate", type=float, default=0.0, help="share of writes whose connection is closed unanswered")
    add("--applied-then-500-rate", type=float, default=0.0, help="share of writes stored, then answered 500")
    add("--slow-rate", type=float, default=0.0, help="share of writes answered only after --slow-seconds")
    add("--slow-seconds", type=float, default=35.0, help="delay of slow answers (default 35)")
    add("--drip-rate", type=float, default=0.0, help="share of writes whose answer trickles out byte by byte")
    add("--drip-seconds", type=float, default=0.5, help="seconds between two bytes of a dripping answer")
    add(
        "--odd-200-rate", type=float, default=0.0, help="share of writes answered 200 with an HTML page, nothing stored"
    )
    add("--retry-after-header", default=None, help="Retry-After sent verbatim on 503/429 faults (seconds or HTTP date)")
    add("--error-style", choices=ERROR_STYLES, default="strings", help="shape of rejected_items errors")
    add("--no-index", action="store_true", help="leave 'index' out of rejected_items entries")
    add("--reject-400-with-items", action="store_true", help="list rejected_items in the all-invalid 400 too")
    add("--strict-400", action="store_true", help="any invalid item refuses the whole batch (400, no rejected_items)")
    add(
        "--require-sdk-fields",
        action="store_true",
        help="also refuse items lacking fields the ShopiMind SDK types as required (default: only what "
        "ShopiMind is known to refuse)",
    )
    add("--seed", type=int, default=None, help="seed of the random fault draws")
    add("--state-file", default=None, help="JSON file loaded at start and written at stop")
    add("--quiet", action="store_true", help="no per-request line on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run until SIGTERM/SIGINT; the listening line goes to stdout so scripts can read the port."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; the sandbox only listens on 127.0.0.1, ::1")
    if not API_KEY_PATTERN.match(args.api_key):
        sys.stderr.write("warning: --api-key does not match ShopiMind's key pattern ^[a-zA-Z0-9-]{20,64}$\n")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: types.FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sandbox = Sandbox(
            args.host,
            args.port,
            api_key=args.api_key,
            quota=args.quota,
            latency_ms=args.latency_ms,
            fail_500_rate=args.fail_500_rate,
            fail_503_rate=args.fail_503_rate,
            retry_after=args.retry_after,
            drop_rate=args.drop_rate,
            applied_then_500_rate=args.applied_then_500_rate,
            slow_rate=args.slow_rate,
            slow_seconds=args.slow_seconds,
            drip_rate=args.drip_rate,
            drip_seconds=args.drip_seconds,
            odd_200_rate=args.odd_200_rate,
            retry_after_header=args.retry_after_header,
            error_style=args.error_style,
            index=not args.no_index,
            reject_400_with_items=args.reject_400_with_items,
            strict_400=args.strict_400,
            require_sdk_fields=args.require_sdk_fields,
            seed=args.seed,
            state_file=args.state_file,
            verbose=not args.quiet,
        ).start()
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"shopimind-sandbox: {exc}\n")
        return 1
    sys.stdout.write(f"shopimind-sandbox listening on {sandbox.url} (api key: {sandbox.api_key})\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    sandbox.stop()
    return 0
