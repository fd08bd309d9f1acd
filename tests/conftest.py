"""Shared fixtures: a sandbox on an ephemeral loopback port (helpers live in `support.py`)."""

from __future__ import annotations

import typing as t

import pytest

from target_shopimind.sandbox import Sandbox

if t.TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as server:
        yield server
