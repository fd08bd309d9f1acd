"""The sandbox's own class-validator rules: built from the resource table, independent of the target."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t

import httpx
import pytest
from support import customers_stream, run_in_process, state, target_config

from target_shopimind import resources as R
from target_shopimind import validation
from target_shopimind.sandbox import Sandbox, Violation, nestjs_errors
from target_shopimind.sandbox.rules import ItemRules, class_validator_tree

if t.TYPE_CHECKING:
    import pathlib

# A resource row the real table does not have: every kind of rule, a nested list of objects.
GADGETS = R.Resource(
    "gadgets",
    "/v1/gadgets",
    ("gadget_id",),
    10,
    (
        R.Field("gadget_id", required=True, nullable=False),
        R.Field("nickname", max_length=5),
        R.Field("tier", enum=("gold", "silver")),
        R.Field("site", https=True),
        R.Field("code", pattern=r"^[A-Z]{3}$"),
        R.Field("weight", R.INT, nullable=False),
        R.Field("label", sdk_required=True),
        R.Field(
            "parts",
            R.OBJECT_LIST,
            fields=(R.Field("part_id", R.INT, required=True), R.Field("made_at", R.DATETIME)),
        ),
    ),
    id_field="gadget_id",
)


def _found(violations: list[Violation]) -> list[tuple[str, str, str]]:
    return [(".".join(v.path), v.constraint, v.message) for v in violations]


def test_each_rule_of_a_table_row_is_a_named_constraint() -> None:
    item = {
        "nickname": "much too long",
        "tier": "bronze",
        "site": "http://example.com",
        "code": "abc",
        "weight": None,
        "parts": [{"part_id": "7", "made_at": "2026-02-30T10:00:00Z"}, "loose", {"part_id": 3}],
    }
    assert _found(ItemRules(GADGETS).violations(item)) == [
        ("gadget_id", "isDefined", "is required"),
        ("nickname", "maxLength", "must be at most 5 characters (got 13)"),
        ("tier", "isIn", "must be one of gold, silver"),
        ("site", "isUrl", "must be an https:// URL"),
        ("code", "matches", "must match ^[A-Z]{3}$"),
        ("weight", "isNotEmpty", "must not be null"),
        ("parts.0.part_id", "isInt", "must be an integer"),
        (
            "parts.0.made_at",
            "isDateString",
            "must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'",
        ),
        ("parts.1", "isObject", "must be an object"),
    ]
    assert ItemRules(GADGETS).violations({"gadget_id": "G1", "parts": [{"part_id": 3}]}) == []
    assert ItemRules(GADGETS).violations(["not", "an", "object"]) == [
        Violation(("item",), "isObject", "must be an object")
    ]


def test_sdk_typed_fields_are_required_only_on_demand() -> None:
    assert ItemRules(GADGETS).violations({"gadget_id": "G1"}) == []
    strict = ItemRules(GADGETS, require_sdk=True)
    assert _found(strict.violations({"gadget_id": "G1"})) == [("label", "isDefined", "is required")]
    assert strict.violations({"gadget_id": "G1", "label": None}) == []  # present and nullable


def test_the_class_validator_tree_nests_by_property() -> None:
    violations = ItemRules(GADGETS).violations({"gadget_id": "G1", "parts": [{"made_at": "x"}], "tier": "bronze"})
    assert class_validator_tree(violations) == [
        {"property": "tier", "children": [], "constraints": {"isIn": "must be one of gold, silver"}},
        {
            "property": "parts",
            "children": [
                {
                    "property": "0",
                    "children": [
                        {"property": "part_id", "children": [], "constraints": {"isDefined": "is required"}},
                        {
                            "property": "made_at",
                            "children": [],
                            "constraints": {
                                "isDateString": "must be an ISO 8601 date-time such as '2026-05-07T08:00:00.000Z'"
                            },
                        },
                    ],
                }
            ],
        },
    ]


def test_date_times_are_checked_by_the_sandbox_itself() -> None:
    rules = ItemRules(R.BY_NAME["orders_statuses"])
    base = {"status_id": "1", "lang": "fr", "is_deleted": False, "created_at": "2026-05-07T08:00:00Z"}
    accepted = ["2026-05-07T08:00:00.000Z", "2026-05-07 08:00", "2026-05-07T08:00:00+23:59", "2026-05-07T08:00:00-0530"]
    refused = ["2026-05-07", "2026-05-07T24:00:00Z", "2026-02-29T08:00:00Z", "2026-05-07T08:00:00+24:00", "tomorrow"]
    for moment in accepted:
        assert rules.violations({**base, "updated_at": moment}) == [], moment
    for moment in refused:
        assert [v.constraint for v in rules.violations({**base, "updated_at": moment})] == ["isDateString"], moment


def test_refusals_given_as_text_become_is_valid_constraints() -> None:
    assert Violation.from_text("email: already used") == Violation(("email",), "isValid", "already used")
    assert Violation.from_text("refused") == Violation(("item",), "isValid", "refused")
    assert nestjs_errors(["customer.email: taken"]) == [
        {
            "property": "customer",
            "children": [{"property": "email", "children": [], "constraints": {"isValid": "taken"}}],
        }
    ]


def test_the_sandbox_package_loads_no_module_of_the_target() -> None:
    """Only the resource table and the compat shim: the sandbox cannot borrow the target's checks."""
    code = (
        "import json, sys; import target_shopimind.sandbox; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('target_shopimind'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    outside = [m for m in loaded if not m.startswith("target_shopimind.sandbox")]
    assert outside == ["target_shopimind", "target_shopimind.compat", "target_shopimind.resources"]


def test_over_http_the_refusal_is_a_class_validator_object() -> None:
    bad = {"customer_id": "C1", "email": "nope", "lang": "french", "gender": 7}
    with Sandbox(port=0, error_style="nestjs") as sb:
        answer = httpx.post(f"{sb.url}/v1/customers", json=[bad], headers={"spm-api-key": sb.api_key})
    assert answer.status_code == 400
    with Sandbox(port=0, error_style="nestjs", reject_400_with_items=True) as sb:
        answer = httpx.post(f"{sb.url}/v1/customers", json=[bad], headers={"spm-api-key": sb.api_key})
    errors = answer.json()["rejected_items"][0]["errors"]
    assert [(e["property"], e["constraints"]) for e in errors] == [
        ("email", {"isValid": "not a valid e-mail address"}),
        ("lang", {"isValid": "must be an ISO 639-1 code such as 'fr'"}),
        ("gender", {"isIn": "must be one of 0, 1, 2"}),
    ]


@pytest.mark.parametrize("style", ["strings", "nestjs"])
def test_the_sandbox_refuses_what_the_target_let_through(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    """With the target's local checks switched off, the refusals come from the sandbox's own rules."""
    monkeypatch.setattr(validation, "check_fields", lambda *_args, **_kwargs: [])
    messages = [*customers_stream(range(1, 4)), state({"b": 1})]
    messages[2]["record"]["email"] = "not an e-mail"
    with Sandbox(port=0, error_style=style) as sb:
        run = run_in_process(target_config(sb, store_path=str(tmp_path / "store")), messages)
        stored = sorted(c["customer_id"] for c in sb.items("customers"))
    assert stored == ["1", "3"]
    report = run.states[-1]["target_shopimind"]
    assert [(r["key"], r["stage"], r["errors"]) for r in report["rejected"]] == [
        ("2", "api", ["email: not a valid e-mail address"]),
    ]
    tally = run.tally("customers")
    assert (tally.rejected_api, tally.rejected_validation, tally.sent) == (1, 0, 2)
