"""docs/resources.md is the resource table, rendered: the test fails when they disagree."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import subprocess
import sys

import pytest

from target_shopimind import resources
from target_shopimind.field_reference import render

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "resources.md"


def test_the_document_is_generated_from_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: .venv/bin/python scripts/update_field_reference.py"


def test_the_check_script_agrees() -> None:
    script = ROOT / "scripts" / "update_field_reference.py"
    assert subprocess.run([sys.executable, str(script), "--check"], check=False, capture_output=True).returncode == 0


def _rows(section: str) -> dict[str, list[str]]:
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([^`]+)` \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in match.group(2).split(" | ")]
    return rows


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (\w+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("resource", resources.RESOURCES, ids=lambda r: r.name)
def test_every_field_is_listed_with_its_tier_and_evidence(resource: resources.Resource) -> None:
    section = _sections(DOC.read_text(encoding="utf-8"))[resource.name]
    assert f"`POST {resource.path}`" in section
    assert f"at most {resource.max_batch} items per request" in section
    if resource.delete_path:
        assert f"`POST {resource.delete_path}`" in section
    rows = _rows(section)
    expected = [f.name for f in resource.fields]
    expected += [
        f"{f.name}{'[].' if f.kind == resources.OBJECT_LIST else '.'}{m.name}"
        for f in resource.fields
        for m in f.fields
    ]
    assert sorted(rows) == sorted(expected)
    for field in resource.fields:
        _, absence, _, _, evidence = rows[field.name]
        assert absence == {"required": "**required**", "sdk": "SDK-typed", "optional": "optional"}[field.tier]
        assert evidence == field.evidence.replace("|", "\\|")


def test_a_changed_table_changes_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    customers = resources.BY_NAME["customers"]
    fields = tuple(
        f if f.name != "email" else resources.Field("email", required=True, evidence="x") for f in customers.fields
    )
    changed = dataclasses.replace(customers, fields=fields)
    monkeypatch.setattr(
        resources, "RESOURCES", tuple(changed if r.name == "customers" else r for r in resources.RESOURCES)
    )
    assert render() != DOC.read_text(encoding="utf-8")
