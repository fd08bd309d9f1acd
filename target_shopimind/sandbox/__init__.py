"""A ShopiMind-compatible API server on loopback, for tests, benchmarks and demos.

Its own package, so that it can disagree with the target: it reads only the resource table
(fields, tiers, limits, routes) and refuses items by its own class-validator rules, never by
the target's checks. Modules: `server` (the `Sandbox`), `rules` (class-validator constraints
from the table), `storage`, `quota`, `faults`, `routes`, `custom` (custom data and data
sources), `log` (the request log), `replies` (envelopes), `handler` (HTTP I/O) and `cli`
(`shopimind-sandbox`). Standard library only, so a user can run it wherever the target is
installed.
"""

from target_shopimind.sandbox.cli import DEFAULT_PORT, _parser, main
from target_shopimind.sandbox.faults import FAULT_KINDS, ODD_200, RATE_NAMES, Faults
from target_shopimind.sandbox.replies import Reply
from target_shopimind.sandbox.routes import Route, match_route
from target_shopimind.sandbox.rules import Violation
from target_shopimind.sandbox.server import DEFAULT_API_KEY, Sandbox, is_loopback, nestjs_errors
from target_shopimind.sandbox.storage import key_string

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_PORT",
    "FAULT_KINDS",
    "ODD_200",
    "RATE_NAMES",
    "Faults",
    "Reply",
    "Route",
    "Sandbox",
    "Violation",
    "_parser",
    "is_loopback",
    "key_string",
    "main",
    "match_route",
    "nestjs_errors",
]
