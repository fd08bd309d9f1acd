"""The sandbox's custom data definitions, records and data sources, over HTTP."""

from __future__ import annotations

import typing as t

import httpx
import pytest
from support import API_KEY

from target_shopimind.sandbox import Sandbox

DEFS = "/v1/custom-data-definitions"
RECORDS = "/v1/custom-data-records"


@pytest.fixture
def api(sandbox: Sandbox) -> t.Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"spm-api-key": API_KEY}) as client:
        yield client


def _definition(name: str = "Loyalty accounts", **extra: t.Any) -> dict[str, t.Any]:
    body: dict[str, t.Any] = {
        "name": name,
        "unique_keys": ["account_id"],
        "fields": [
            {"name": "account_id", "label": "account_id", "type": "number", "required": True},
            {"name": "email", "label": "email", "type": "text", "required": False},
            {"name": "points", "label": "points", "type": "number", "required": False},
        ],
        "relationships": [{"sourceField": "email", "targetSchemaType": "system", "targetSchema": "contacts"}],
    }
    body.update(extra)
    return body


def _create(api: httpx.Client, body: dict[str, t.Any]) -> int:
    answer = api.post(DEFS, json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["data"]["id_definition"])


def test_definition_names_are_unique_without_case_accents_or_spaces(api: httpx.Client) -> None:
    first = _create(api, _definition("Fidélité clients"))
    for taken in ("fidelite clients", "  FIDÉLITÉ CLIENTS ", "Fidelité Clients"):
        answer = api.post(DEFS, json=_definition(taken))
        assert answer.status_code == 400
        assert answer.json()["message"] == "custom data definition name is already used."
    assert api.delete(f"{DEFS}/{first}").status_code == 200
    # A deleted definition frees its name; the new one gets a new id and none of the old records.
    second = _create(api, _definition("fidelite clients"))
    assert second != first
    assert api.get(f"{DEFS}/{first}").status_code == 400
    assert api.get(f"{DEFS}/{first}").json()["message"] == "Custom data definition not found"
    listed = api.get(DEFS, params={"limit": 50}).json()["data"]
    assert [(d["id_definition"], d["status"]) for d in listed] == [(first, "deleted"), (second, "active")]


def test_definition_list_pages_and_falls_back_to_10_above_100(sandbox: Sandbox) -> None:
    quota_free = Sandbox(port=0, quota=0)
    with quota_free, httpx.Client(base_url=quota_free.url, headers={"spm-api-key": API_KEY}) as api:
        for n in range(105):
            _create(api, _definition(f"Definition {n}"))
        full = api.get(DEFS, params={"limit": 100, "offset": 0}).json()
        assert len(full["data"]) == 100
        pagination = full["meta"]["pagination"]
        assert pagination["total_items"] == 105
        assert pagination["has_next_page"] is True
        assert pagination["items_per_page"] == 100
        rest = api.get(DEFS, params={"limit": 100, "offset": 100}).json()
        assert [d["name"] for d in rest["data"]] == [f"Definition {n}" for n in range(100, 105)]
        assert rest["meta"]["pagination"]["has_next_page"] is False
        quirk = api.get(DEFS, params={"limit": 101}).json()
        assert len(quirk["data"]) == 10
        assert quirk["meta"]["pagination"]["items_per_page"] == 10
        assert len(api.get(DEFS).json()["data"]) == 10
    assert sandbox.items("custom_data_definitions") == []  # another sandbox


def test_definition_create_refuses_inconsistent_bodies(api: httpx.Client) -> None:
    bad_key = _definition(unique_keys=["nope"])
    assert api.post(DEFS, json=bad_key).status_code == 400
    bad_type = _definition()
    bad_type["fields"][1]["type"] = "string"
    assert api.post(DEFS, json=bad_type).status_code == 400
    bad_relation = _definition(
        relationships=[{"sourceField": "x", "targetSchemaType": "system", "targetSchema": "contacts"}]
    )
    assert api.post(DEFS, json=bad_relation).status_code == 400
    assert api.post(DEFS, json={"name": "No fields", "fields": []}).status_code == 400
    assert api.get(DEFS).json()["data"] == []


def test_activate_is_idempotent_and_inactive_definitions_refuse_records(api: httpx.Client, sandbox: Sandbox) -> None:
    number = _create(api, _definition())
    assert api.patch(f"{DEFS}/{number}/deactivate").json()["data"]["status"] == "inactive"
    refused = api.post(f"{RECORDS}/{number}", json=[{"account_id": 1}])
    assert refused.status_code == 400
    for _ in range(2):
        answer = api.patch(f"{DEFS}/{number}/activate")
        assert answer.status_code == 200
        assert answer.json()["data"]["status"] == "active"
    assert api.post(f"{RECORDS}/{number}", json=[{"account_id": 1}]).status_code == 200
    assert sandbox.items("custom:Loyalty accounts") == [{"account_id": 1}]


def test_extend_only_appends(api: httpx.Client) -> None:
    number = _create(api, _definition())
    tier = {"name": "tier", "label": "tier", "type": "text", "required": False}
    answer = api.patch(f"{DEFS}/{number}/extend", json={"fields": [tier]})
    assert answer.status_code == 200
    assert [f["name"] for f in answer.json()["data"]["fields"]] == ["account_id", "email", "points", "tier"]
    changed = {"name": "points", "label": "points", "type": "text", "required": False}
    assert api.patch(f"{DEFS}/{number}/extend", json={"fields": [changed]}).status_code == 400
    assert api.patch(f"{DEFS}/{number}/extend", json={"unique_keys": ["tier"]}).status_code == 400
    fields = api.get(f"{DEFS}/{number}").json()["data"]["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("account_id", "number"),
        ("email", "text"),
        ("points", "number"),
        ("tier", "text"),
    ]


def test_records_upsert_on_unique_keys_and_refuse_unknown_keys(api: httpx.Client, sandbox: Sandbox) -> None:
    number = _create(api, _definition())
    first = api.post(
        f"{RECORDS}/{number}",
        json=[
            {"account_id": 1, "email": {"by": "email", "value": "a@example.com"}, "points": 10},
            {"account_id": 2, "points": 20, "label_source": "web"},
            {"account_id": 3, "email": {"by": "phone", "value": "x"}},
            {"account_id": "four"},
        ],
    ).json()
    assert first["sent_count"] == 1
    assert first["rejected_count"] == 3
    errors = {entry["index"]: entry["errors"] for entry in first["rejected_items"]}
    assert errors[1] == ["label_source: unknown field (not in the definition)"]
    assert errors[2] == ["email: by must be one of email, id_customer, id_contact"]
    assert errors[3] == ["account_id: must be a number"]
    update = api.post(f"{RECORDS}/{number}", json=[{"account_id": 1, "points": 11}, {"account_id": 5, "email": 42}])
    assert update.json()["sent_count"] == 2  # an id_contact is a plain integer
    rows = api.get(f"{RECORDS}/{number}", params={"limit": 50}).json()["data"]
    assert [(r["account_id"], r.get("points", None)) for r in rows] == [(1, 11), (5, None)]
    ids = {r["account_id"]: r["id"] for r in rows}
    assert api.post(f"{RECORDS}/{number}", json=[{"account_id": 1, "points": 12}]).json()["sent_count"] == 1
    again = api.get(f"{RECORDS}/{number}").json()["data"]
    assert {r["account_id"]: r["id"] for r in again} == ids  # updated in place: the id stays
    assert sandbox.items("custom:loyalty ACCOUNTS") == [{"account_id": 1, "points": 12}, {"account_id": 5, "email": 42}]


def test_records_without_unique_keys_are_inserted_each_time(api: httpx.Client, sandbox: Sandbox) -> None:
    number = _create(api, _definition("Visits", unique_keys=[]))
    for _ in range(2):
        assert api.post(f"{RECORDS}/{number}", json=[{"account_id": 1}]).json()["sent_count"] == 1
    assert sandbox.items("custom:Visits") == [{"account_id": 1}, {"account_id": 1}]


def test_records_batch_limit_all_invalid_and_bulk_delete(api: httpx.Client, sandbox: Sandbox) -> None:
    number = _create(api, _definition())
    too_many = api.post(f"{RECORDS}/{number}", json=[{"account_id": n} for n in range(21)])
    assert too_many.status_code == 400
    assert sandbox.items("custom:Loyalty accounts") == []
    assert api.post(f"{RECORDS}/{number}", json=[{"points": 1}]).status_code == 400  # every record invalid
    assert api.post(f"{RECORDS}/{number}", json={"account_id": 1}).status_code == 400  # not an array
    assert api.post(f"{RECORDS}/{number}", json=[{"account_id": n} for n in range(20)]).status_code == 200
    rows = api.get(f"{RECORDS}/{number}", params={"limit": 100}).json()["data"]
    ids = [r["id"] for r in rows]
    assert api.post(f"{RECORDS}/{number}/bulk-delete", json=[*ids[:21], ids[0]]).status_code == 400
    assert api.post(f"{RECORDS}/{number}/bulk-delete", json={"ids": ids[:2]}).status_code == 400
    deleted = api.post(f"{RECORDS}/{number}/bulk-delete", json=[*ids[:5], 99_999])
    assert deleted.status_code == 200
    assert [r["account_id"] for r in sandbox.items("custom:Loyalty accounts")] == list(range(5, 20))
    # deleted by id only: the same unique key comes back as a new record
    api.post(f"{RECORDS}/{number}", json=[{"account_id": 0}])
    assert len(sandbox.items("custom:Loyalty accounts")) == 16
    assert api.post(f"{RECORDS}/999", json=[{"account_id": 0}]).status_code == 400


def test_data_sources_have_unique_labels(api: httpx.Client, sandbox: Sandbox) -> None:
    created = api.post("/v1/data-sources", json={"label": "Shop ERP", "type": "api"})
    assert created.status_code == 201
    assert created.json()["data"]["id_data_source"] == 1
    assert api.post("/v1/data-sources", json={"label": " shop erp "}).status_code == 400
    assert api.post("/v1/data-sources", json={"type": "api"}).status_code == 400
    assert api.post("/v1/data-sources", json={"label": "POS"}).status_code == 201
    labels = [s["label"] for s in api.get("/v1/data-sources").json()["data"]]
    assert labels == ["Shop ERP", "POS"]
    assert sandbox.stats()["custom_data"] == {"definitions": 0, "data_sources": 2}


def test_custom_routes_check_the_key_and_count_in_the_quota() -> None:
    with Sandbox(port=0, quota=3) as server, httpx.Client(base_url=server.url) as api:
        assert api.get(DEFS).status_code == 401
        assert api.get("/v1/data-sources", headers={"spm-api-key": "wrong-key-0123456789abc"}).status_code == 401
        headers = {"spm-api-key": API_KEY}
        statuses = [api.get(DEFS, headers=headers).status_code for _ in range(3)]
        statuses.append(api.post(f"{RECORDS}/1", json=[], headers=headers).status_code)
        assert statuses == [200, 200, 200, 429]
        logged = [(e["method"], e["path"], e["status"]) for e in server.requests]
        assert logged[-1] == ("POST", f"{RECORDS}/1", 429)


def test_custom_data_is_inspectable_and_survives_the_state_file(tmp_path: t.Any) -> None:
    state = tmp_path / "sandbox.json"
    with (
        Sandbox(port=0, state_file=state) as server,
        httpx.Client(base_url=server.url, headers={"spm-api-key": API_KEY}) as api,
    ):
        number = _create(api, _definition())
        api.post(f"{RECORDS}/{number}", json=[{"account_id": 1}, {"account_id": 2}])
        api.post("/v1/data-sources", json={"label": "ERP"})
        listed = httpx.get(f"{server.url}/_sandbox/items/custom:Loyalty accounts").json()
        assert listed == [{"account_id": 1}, {"account_id": 2}]
        assert server.stats()["items"]["custom:Loyalty accounts"] == 2
        log = [e for e in server.requests if e["path"] == f"{RECORDS}/{number}"]
        assert log[0]["resource"] == "custom:Loyalty accounts"
        assert log[0]["keys"] == ["1", "2"]
    with (
        Sandbox(port=0, state_file=state) as server,
        httpx.Client(base_url=server.url, headers={"spm-api-key": API_KEY}) as api,
    ):
        assert server.items("custom:Loyalty accounts") == [{"account_id": 1}, {"account_id": 2}]
        assert api.post(f"{RECORDS}/{number}", json=[{"account_id": 2, "points": 3}]).status_code == 200
        assert server.items("custom:Loyalty accounts") == [{"account_id": 1}, {"account_id": 2, "points": 3}]
        assert [s["label"] for s in server.items("data_sources")] == ["ERP"]
        assert server.data_sources() == server.items("data_sources")
        assert server.records("loyalty accounts") == server.items("custom:Loyalty accounts")
        assert [d["name"] for d in server.definitions()] == ["Loyalty accounts"]
        assert _create(api, _definition("Other")) == number + 1
        server.reset()
        assert server.items("custom_data_definitions") == []


def test_record_writes_get_scripted_faults(api: httpx.Client, sandbox: Sandbox) -> None:
    number = _create(api, _definition())
    sandbox.script_faults(["500", "applied500"])
    assert api.post(f"{RECORDS}/{number}", json=[{"account_id": 1}]).status_code == 500
    assert sandbox.items("custom:Loyalty accounts") == []
    assert api.post(f"{RECORDS}/{number}", json=[{"account_id": 2}]).status_code == 500
    assert sandbox.items("custom:Loyalty accounts") == [{"account_id": 2}]  # stored, then the 500
