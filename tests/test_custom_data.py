"""`custom_data` and `data_source` over real HTTP against the sandbox (the real CLI, as a subprocess)."""

from __future__ import annotations

import json
import typing as t

import httpx
import pytest
from support import API_KEY, customers_stream, record, run_target, schema, state, target_config

from target_shopimind.custom_data import ACCEPTS, field_type

if t.TYPE_CHECKING:
    import pathlib

    from target_shopimind.sandbox import Sandbox

STREAM = "public-loyalty_accounts"
DEFINITION = "Loyalty accounts"
PROPS: dict[str, dict] = {
    "account_id": {"type": ["integer"]},
    "email": {"type": ["string", "null"]},
    "points": {"type": ["integer", "null"]},
    "balance": {"type": ["number", "null"]},
    "tier": {"type": ["string", "null"]},
    "vip": {"type": ["boolean", "null"]},
    "opened_at": {"type": ["string", "null"], "format": "date-time"},
    "birthday": {"type": ["string", "null"], "format": "date"},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "extra": {"type": ["object", "null"]},
    "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
}
CONTACT_BY_EMAIL = {"column": "email", "by": "email"}


def account(n: int, **overrides: t.Any) -> dict[str, t.Any]:
    row: dict[str, t.Any] = {
        "account_id": n,
        "email": f"c{n}@example.com",
        "points": n * 10,
        "balance": 12.5,
        "tier": "gold",
        "vip": True,
        "opened_at": "2026-01-01 10:00:00+01:00",
        "birthday": "1990-12-10",
        "tags": ["a", "b"],
        "extra": {"store": "Lyon"},
    }
    row.update(overrides)
    return row


def accounts(
    ids: t.Iterable[int], props: dict[str, dict] | None = None, key: list[str] | None = None, **overrides: t.Any
) -> list[dict]:
    return [
        schema(STREAM, props or PROPS, ["account_id"] if key is None else key),
        *(record(STREAM, account(n, **overrides)) for n in ids),
        state({"bookmarks": {STREAM: {"replication_key_value": "x"}}}),
    ]


def custom_config(sandbox: Sandbox, entry: dict[str, t.Any] | None = None, **extra: t.Any) -> dict[str, t.Any]:
    spec = {"definition": DEFINITION, "contact": CONTACT_BY_EMAIL} if entry is None else entry
    return target_config(sandbox, custom_data={STREAM: spec}, **extra)


def api(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=sandbox.url, headers={"spm-api-key": API_KEY})


def writes(sandbox: Sandbox, prefix: str = "/v1/") -> list[tuple[str, str, int]]:
    return [
        (e["method"], e["path"], e["items"])
        for e in sandbox.requests
        if e["method"] != "GET" and e["path"].startswith(prefix)
    ]


def definitions(sandbox: Sandbox) -> list[dict]:
    return sandbox.items("custom_data_definitions")


def test_definition_created_from_the_schema_then_records_in_batches_of_20(
    sandbox: Sandbox, tmp_path: pathlib.Path
) -> None:
    cfg = custom_config(sandbox, shop_id="shop-1", source_label="ERP", id_data_source=7)
    run = run_target(tmp_path, cfg, accounts(range(1, 46)))
    assert run.returncode == 0, run.stderr
    [definition] = definitions(sandbox)
    assert definition["name"] == DEFINITION
    assert definition["status"] == "active"
    assert definition["unique_keys"] == ["account_id"]
    assert [(f["name"], f["label"], f["type"], f["required"]) for f in definition["fields"]] == [
        ("account_id", "account_id", "number", True),
        ("email", "email", "text", False),
        ("points", "points", "number", False),
        ("balance", "balance", "decimal", False),
        ("tier", "tier", "text", False),
        ("vip", "vip", "bool", False),
        ("opened_at", "opened_at", "datetime", False),
        ("birthday", "birthday", "date", False),
        ("tags", "tags", "list", False),
        ("extra", "extra", "json", False),
    ]
    assert definition["relationships"] == [
        {"sourceField": "email", "targetSchemaType": "system", "targetSchema": "contacts"}
    ]
    number = definition["id_definition"]
    records_path = f"/v1/custom-data-records/{number}"
    assert writes(sandbox) == [
        ("POST", "/v1/custom-data-definitions", 0),
        ("PATCH", f"/v1/custom-data-definitions/{number}/activate", 0),
        ("POST", records_path, 20),
        ("POST", records_path, 20),
        ("POST", records_path, 5),
    ]
    stored = sandbox.items(f"custom:{DEFINITION}")
    assert len(stored) == 45
    assert stored[0] == {
        "account_id": 1,
        "email": {"by": "email", "value": "c1@example.com"},
        "points": 10,
        "balance": 12.5,
        "tier": "gold",
        "vip": True,
        "opened_at": "2026-01-01T09:00:00.000Z",
        "birthday": "1990-12-10",
        "tags": ["a", "b"],
        "extra": {"store": "Lyon"},
    }
    # Only the definition's fields: no label_source, source_label, id_data_source or shop_id.
    assert all(set(r) <= {f["name"] for f in definition["fields"]} for r in stored)
    assert run.last_state["target_shopimind"]["rejected_count"] == {}
    assert run.last_state["bookmarks"] == {STREAM: {"replication_key_value": "x"}}


def test_existing_definition_found_by_name_in_any_case_and_spacing(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    with api(sandbox) as client:
        for n in range(120):  # deleted and other definitions push it past the first page of 100
            client.post("/v1/custom-data-definitions", json=_definition_body(f"Other {n}"))
        gone = client.post("/v1/custom-data-definitions", json=_definition_body(DEFINITION)).json()["data"]
        client.delete(f"/v1/custom-data-definitions/{gone['id_definition']}")
        mine = client.post("/v1/custom-data-definitions", json=_definition_body("  loyalty ACCOUNTS ", points="text"))
        mine = mine.json()["data"]
        client.patch(f"/v1/custom-data-definitions/{mine['id_definition']}/deactivate")
    before = len(sandbox.requests)
    rows = [{"account_id": 1, "email": "a@example.com", "points": 5}]
    props = {k: PROPS[k] for k in ("account_id", "email", "points")}
    run = run_target(
        tmp_path, custom_config(sandbox), [schema(STREAM, props, ["account_id"]), *(record(STREAM, r) for r in rows)]
    )
    assert run.returncode == 0, run.stderr
    log = sandbox.requests[before:]
    assert [e["path"] for e in log if e["method"] == "POST" and e["path"].endswith("definitions")] == []
    lists = [e for e in log if e["method"] == "GET" and e["path"] == "/v1/custom-data-definitions"]
    assert len(lists) == 2  # 122 definitions, 100 a page
    assert [e["path"] for e in log if e["method"] == "PATCH"] == [
        f"/v1/custom-data-definitions/{mine['id_definition']}/activate"
    ]
    assert sandbox.items("custom:loyalty accounts") == [
        {"account_id": 1, "email": {"by": "email", "value": "a@example.com"}, "points": "5"}  # a text field
    ]
    assert len(definitions(sandbox)) == 122


def _definition_body(name: str, *, points: str = "number", relation: bool = True) -> dict[str, t.Any]:
    body: dict[str, t.Any] = {
        "name": name,
        "unique_keys": ["account_id"],
        "fields": [
            {"name": "account_id", "label": "account_id", "type": "number", "required": True},
            {"name": "email", "label": "email", "type": "text", "required": False},
            {"name": "points", "label": "points", "type": points, "required": False},
        ],
    }
    if relation:
        body["relationships"] = [{"sourceField": "email", "targetSchemaType": "system", "targetSchema": "contacts"}]
    return body


def test_a_new_property_extends_the_definition_before_its_records(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    small = {k: PROPS[k] for k in ("account_id", "email", "points")}
    wider = {**small, "tier": PROPS["tier"], "opened_at": PROPS["opened_at"]}
    messages = [
        schema(STREAM, small, ["account_id"]),
        record(STREAM, {"account_id": 1, "email": "a@example.com", "points": 1}),
        schema(STREAM, wider, ["account_id"]),
        record(
            STREAM,
            {
                "account_id": 2,
                "email": "b@example.com",
                "points": 2,
                "tier": "gold",
                "opened_at": "2026-02-01T00:00:00Z",
            },
        ),
    ]
    run = run_target(tmp_path, custom_config(sandbox), messages)
    assert run.returncode == 0, run.stderr
    [definition] = definitions(sandbox)
    assert [(f["name"], f["type"]) for f in definition["fields"]] == [
        ("account_id", "number"),
        ("email", "text"),
        ("points", "number"),
        ("tier", "text"),
        ("opened_at", "datetime"),
    ]
    number = definition["id_definition"]
    order = [(m, p) for m, p, _ in writes(sandbox)]
    extend = order.index(("PATCH", f"/v1/custom-data-definitions/{number}/extend"))
    second_batch = [i for i, w in enumerate(order) if w == ("POST", f"/v1/custom-data-records/{number}")][-1]
    assert extend < second_batch
    assert sandbox.items(f"custom:{DEFINITION}")[1]["tier"] == "gold"
    # A later run with a still wider schema extends again; nothing is ever removed.
    widest = {**wider, "vip": PROPS["vip"]}
    run = run_target(
        tmp_path,
        custom_config(sandbox),
        [schema(STREAM, widest, ["account_id"]), record(STREAM, {"account_id": 3, "vip": False})],
    )
    assert run.returncode == 0, run.stderr
    assert [f["name"] for f in definitions(sandbox)[0]["fields"]][-2:] == ["opened_at", "vip"]
    assert sandbox.items(f"custom:{DEFINITION}")[2] == {"account_id": 3, "vip": False}


def test_a_contradicting_type_stops_the_run_naming_the_field(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    with api(sandbox) as client:
        client.post("/v1/custom-data-definitions", json=_definition_body(DEFINITION, points="number"))
    props = {**{k: PROPS[k] for k in ("account_id", "email")}, "points": {"type": ["string", "null"]}}
    messages = [
        schema(STREAM, props, ["account_id"]),
        record(STREAM, {"account_id": 1, "email": "a@example.com", "points": "many"}),
        state({"bookmarks": {STREAM: 1}}),
    ]
    run = run_target(tmp_path, custom_config(sandbox), messages)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "'points'" in last
    assert "text" in last
    assert "number" in last
    assert run.states == []
    assert writes(sandbox, "/v1/custom-data-records") == []
    assert [f["name"] for f in definitions(sandbox)[0]["fields"]] == ["account_id", "email", "points"]


def test_resolver_values_by_customer_id_and_contact_id(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    props = {"account_id": PROPS["account_id"], "customer_ref": {"type": ["integer", "null"]}}
    cfg = custom_config(
        sandbox, {"definition": "By customer", "contact": {"column": "customer_ref", "by": "id_customer"}}
    )
    run = run_target(
        tmp_path,
        cfg,
        [
            schema(STREAM, props, ["account_id"]),
            record(STREAM, {"account_id": 1, "customer_ref": 42}),
            record(STREAM, {"account_id": 2, "customer_ref": None}),
        ],
    )
    assert run.returncode == 0, run.stderr
    assert sandbox.items("custom:By customer") == [
        {"account_id": 1, "customer_ref": {"by": "id_customer", "value": "42"}},
        {"account_id": 2, "customer_ref": None},
    ]
    [definition] = definitions(sandbox)
    assert definition["relationships"] == [
        {"sourceField": "customer_ref", "targetSchemaType": "system", "targetSchema": "contacts"}
    ]
    cfg = target_config(
        sandbox,
        custom_data={
            "public-contacts_extra": {"definition": "By contact", "contact": {"column": "contact", "by": "id_contact"}}
        },
    )
    run = run_target(
        tmp_path,
        cfg,
        [
            schema(
                "public-contacts_extra", {"id": {"type": "integer"}, "contact": {"type": ["string", "null"]}}, ["id"]
            ),
            record("public-contacts_extra", {"id": 9, "contact": "17"}),
        ],
    )
    assert run.returncode == 0, run.stderr
    assert sandbox.items("custom:By contact") == [{"id": 9, "contact": {"by": "id_contact", "value": 17}}]


def test_rejected_records_are_reported_and_deletes_ignored(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    props = {**PROPS, "customer_ref": {"type": ["string", "null"]}}
    rows = [
        {"account_id": 1, "customer_ref": "C1", "opened_at": "2026-01-01T00:00:00Z"},
        {"account_id": 2, "customer_ref": "C2", "points": "lots"},  # refused locally
        {"account_id": 3, "customer_ref": ""},  # the API refuses an empty resolver value
        {"account_id": 4, "customer_ref": "C4", "_sdc_deleted_at": "2026-03-01T00:00:00Z"},
        {"account_id": 5, "customer_ref": "C5"},
    ]
    cfg = custom_config(
        sandbox,
        {"definition": DEFINITION, "contact": {"column": "customer_ref", "by": "id_customer"}},
        rejected_records_path=str(rejects),
        on_deleted_record="delete",
    )
    messages = [
        schema(STREAM, props, ["account_id"]),
        *(record(STREAM, r) for r in rows),
        state({"bookmarks": {"s": 1}}),
    ]
    run = run_target(tmp_path, cfg, messages)
    assert run.returncode == 0, run.stderr
    assert [r["account_id"] for r in sandbox.items(f"custom:{DEFINITION}")] == [1, 5]
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert sorted((x["key"], x["stage"], x["resource"], x["stream"]) for x in lines) == [
        ("2", "validation", "custom:Loyalty accounts", STREAM),
        ("3", "api", "custom:Loyalty accounts", STREAM),
    ]
    by_key = {x["key"]: x for x in lines}
    assert [e.split(":")[0] for e in by_key["2"]["errors"]] == ["points"]
    assert by_key["3"]["errors"] == ["customer_ref: value is required"]
    assert by_key["3"]["record"]["customer_ref"] == {"by": "id_customer", "value": ""}
    assert run.last_state["target_shopimind"]["rejected_count"] == {"custom:Loyalty accounts": 2}
    assert all(not p.endswith("bulk-delete") for _, p, _ in writes(sandbox))


def test_record_writes_are_retried(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    with api(sandbox) as client:
        client.post("/v1/custom-data-definitions", json=_definition_body(DEFINITION))
    sandbox.script_faults(["503", "drop"])
    props = {k: PROPS[k] for k in ("account_id", "email", "points")}
    run = run_target(
        tmp_path,
        custom_config(sandbox),
        [schema(STREAM, props, ["account_id"]), record(STREAM, {"account_id": 1, "points": 1})],
    )
    assert run.returncode == 0, run.stderr
    assert sandbox.items(f"custom:{DEFINITION}") == [{"account_id": 1, "points": 1}]
    statuses = [e["status"] for e in sandbox.requests if e["path"].startswith("/v1/custom-data-records")]
    assert statuses == [503, 0, 200]


def test_unique_keys_setting_and_the_missing_key_config_error(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    props = {k: PROPS[k] for k in ("account_id", "email", "points")}
    rows = [record(STREAM, {"account_id": n, "email": f"c{n}@example.com", "points": 1}) for n in (1, 2)]
    run = run_target(
        tmp_path,
        custom_config(sandbox, {"definition": DEFINITION}),
        [schema(STREAM, props, []), *rows, state({"b": 1})],
    )
    assert run.returncode == 1
    assert "unique_keys" in run.stderr.strip().splitlines()[-1]
    assert run.states == []
    assert definitions(sandbox) == []
    assert writes(sandbox) == []
    cfg = custom_config(sandbox, {"definition": DEFINITION, "unique_keys": ["email"]})
    run = run_target(tmp_path, cfg, [schema(STREAM, props, []), *rows, *rows])
    assert run.returncode == 0, run.stderr
    [definition] = definitions(sandbox)
    assert definition["unique_keys"] == ["email"]
    assert definition["relationships"] == []
    assert [(f["name"], f["required"]) for f in definition["fields"]] == [
        ("account_id", False),
        ("email", True),
        ("points", False),
    ]
    assert len(sandbox.items(f"custom:{DEFINITION}")) == 2


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"data_source": "ERP", "id_data_source": 3}, "data_source"),
        (
            {"custom_data": {STREAM: {"definition": DEFINITION, "contact": {"column": "email", "by": "phone"}}}},
            "contact",
        ),
        ({"custom_data": {STREAM: {"definition": " "}}}, "definition"),
        ({"custom_data": {STREAM: {"definition": DEFINITION, "unique_keys": []}}}, "unique_keys"),
    ],
)
def test_config_errors_before_any_request(sandbox: Sandbox, tmp_path: pathlib.Path, extra: dict, expected: str) -> None:
    run = run_target(tmp_path, target_config(sandbox, **extra), accounts([1]))
    assert run.returncode != 0
    assert expected in run.stderr
    assert run.states == []
    assert sandbox.requests == []


def test_dry_run_creates_extends_and_writes_nothing(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    cfg = custom_config(sandbox, dry_run=True, data_source="Shop ERP", rejected_records_path=str(rejects))
    run = run_target(
        tmp_path, cfg, [*accounts(range(1, 4)), record(STREAM, account(9, points="x")), *customers_stream([1])]
    )
    assert run.returncode == 0, run.stderr
    assert sandbox.requests == []
    assert definitions(sandbox) == []
    assert sandbox.items("data_sources") == []
    assert "would look the definition up by name and, if absent, create it" in run.stderr
    assert "would look up data source 'Shop ERP'" in run.stderr
    assert [json.loads(line)["key"] for line in rejects.read_text().splitlines()] == ["9"]


def test_data_source_found_or_created_once(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    with api(sandbox) as client:
        client.post("/v1/data-sources", json={"label": "POS", "type": "api"})
    before = len(sandbox.requests)
    cfg = custom_config(sandbox, data_source="Shop ERP")
    for _ in range(2):
        run = run_target(tmp_path, cfg, [*customers_stream([1, 2]), *accounts([1])])
        assert run.returncode == 0, run.stderr
    sources = sandbox.items("data_sources")
    assert [(s["id_data_source"], s["label"], s["type"]) for s in sources] == [
        (1, "POS", "api"),
        (2, "Shop ERP", "api"),
    ]
    assert [c["id_data_source"] for c in sandbox.items("customers")] == [2, 2]
    assert "id_data_source" not in sandbox.items(f"custom:{DEFINITION}")[0]
    posts = [e["path"] for e in sandbox.requests[before:] if e["method"] == "POST" and e["path"] == "/v1/data-sources"]
    assert posts == ["/v1/data-sources"]  # created by the first run, found by the second
    # Found by label whatever its case and spacing.
    run = run_target(tmp_path, target_config(sandbox, data_source="  shop erp"), customers_stream([3]))
    assert run.returncode == 0, run.stderr
    assert len(sandbox.items("data_sources")) == 2
    assert sandbox.items("customers")[-1]["id_data_source"] == 2


def test_a_stream_without_records_costs_no_request(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    run = run_target(tmp_path, custom_config(sandbox), [schema(STREAM, PROPS, ["account_id"]), state({"b": 1})])
    assert run.returncode == 0, run.stderr
    assert run.last_state["b"] == 1
    assert sandbox.requests == []


def test_a_create_that_landed_before_a_500_is_found_not_duplicated(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    sandbox.script_faults(["applied500"])  # stored, then answered 500: the retry finds the name taken
    run = run_target(tmp_path, custom_config(sandbox), accounts([1, 2]))
    assert run.returncode == 0, run.stderr
    assert [d["name"] for d in definitions(sandbox)] == [DEFINITION]
    assert len(sandbox.items(f"custom:{DEFINITION}")) == 2
    sandbox.script_faults(["applied500"])
    run = run_target(tmp_path, target_config(sandbox, data_source="Shop ERP"), customers_stream([1]))
    assert run.returncode == 0, run.stderr
    assert [s["label"] for s in sandbox.items("data_sources")] == ["Shop ERP"]
    assert sandbox.items("customers")[0]["id_data_source"] == 1
    creates = [
        (e["path"], e["status"])
        for e in sandbox.requests
        if e["method"] == "POST" and e["path"] in {"/v1/data-sources", "/v1/custom-data-definitions"}
    ]
    assert creates == [
        ("/v1/custom-data-definitions", 500),
        ("/v1/custom-data-definitions", 400),
        ("/v1/data-sources", 500),
        ("/v1/data-sources", 400),
    ]


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": ["string", "null"]}, "text"),
        ({"type": "string", "format": "date-time"}, "datetime"),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}, "datetime"),
        ({"type": ["string", "null"], "format": "date"}, "date"),
        ({"type": ["integer", "null"]}, "number"),
        ({"type": ["number", "null"]}, "decimal"),
        ({"type": ["integer", "number"]}, "decimal"),
        ({"type": "boolean"}, "bool"),
        ({"type": ["array", "null"], "items": {"type": "string"}}, "list"),
        ({"type": ["object", "null"]}, "json"),
        ({"type": ["string", "integer"]}, "text"),
        ({}, "json"),
    ],
)
def test_json_schema_to_field_type(prop: dict, expected: str) -> None:
    assert field_type(prop) == expected


def test_existing_field_types_take_only_what_they_can_hold() -> None:
    assert "number" in ACCEPTS["text"]  # rendered as text
    assert "decimal" not in ACCEPTS["number"]
    assert "number" in ACCEPTS["decimal"]
    assert "datetime" not in ACCEPTS["date"]
    assert "date" in ACCEPTS["datetime"]
    assert "text" not in ACCEPTS["bool"]
