"""`meltano config test target-shopimind` against the sandbox: passes with the key, fails readably without."""

from __future__ import annotations

import typing as t

import pytest

from target_shopimind.sandbox import Sandbox

from .e2e_support import SANDBOX_KEY

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from .e2e_support import Meltano


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0) as sb:
        yield sb


def test_config_test_succeeds_against_the_sandbox(meltano: Meltano, sandbox: Sandbox) -> None:
    done = meltano(
        "config",
        "test",
        "target-shopimind",
        check=False,
        extra_env={"TARGET_SHOPIMIND_BASE_URL": sandbox.url, "TARGET_SHOPIMIND_API_KEY": SANDBOX_KEY},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Plugin configuration is valid" in output
    # Meltano's probe stream must not end up in the user's ShopiMind account.
    assert sum(sandbox.stats()["items"].values()) == 0


def test_config_test_fails_readably_with_a_wrong_key(meltano: Meltano, sandbox: Sandbox) -> None:
    done = meltano(
        "config",
        "test",
        "target-shopimind",
        check=False,
        extra_env={"TARGET_SHOPIMIND_BASE_URL": sandbox.url, "TARGET_SHOPIMIND_API_KEY": "wrong-key-0000000000000000"},
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"meltano config test passed with a wrong API key:\n{output[-4000:]}"
    assert "Plugin configuration is invalid" in output
    # The reason Meltano prints is the target's last line: it must name the key, not be a traceback.
    reason = output.split("Plugin configuration is invalid", 1)[1].strip().splitlines()[0]
    assert "api key" in reason.lower() or "api_key" in reason.lower(), reason
    assert "Traceback" not in reason
