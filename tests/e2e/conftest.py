"""Fixtures of the PostgreSQL + Meltano end-to-end tests (one cluster and one Meltano per session)."""

from __future__ import annotations

import typing as t

import pytest

from .e2e_support import Meltano, base_env, meltano_bin, pg_cluster

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from .e2e_support import PgCluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    with pg_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def meltano_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("meltano")


@pytest.fixture(scope="session")
def meltano(meltano_home: Path) -> Meltano:
    """The repo's Meltano project, its plugins installed, with state in a throwaway system database."""
    runner = Meltano(binary=meltano_bin(), env=base_env(meltano_home))
    runner("install", "tap-postgres", "tap-postgres-cdc", "target-shopimind", timeout=900)
    return runner
