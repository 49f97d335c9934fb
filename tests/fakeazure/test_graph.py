"""Microsoft Graph through an azure-core PipelineClient, as the product calls it."""

from __future__ import annotations

from tests.fakeazure import FakeAzure
from tests.fakeazure.conftest import Graph


def test_upsert_by_unique_name(fake: FakeAzure, graph: Graph) -> None:
    path = "/applications(uniqueName='hm-run-1')"
    create = {"Prefer": "create-if-missing"}
    missing = graph.send("PATCH", path, json={"displayName": "x"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "Request_ResourceNotFound"

    created = graph.send(
        "PATCH", path, json={"displayName": "hm run", "tags": ["a"]}, headers=create
    )
    assert created.status_code == 201
    app = created.json()
    assert app["uniqueName"] == "hm-run-1" and app["displayName"] == "hm run"
    assert app["id"] != app["appId"]
    assert app["passwordCredentials"] == [] and app["tags"] == ["a"]

    updated = graph.send(
        "PATCH", path, json={"displayName": "renamed", "notes": "n"}, headers=create
    )
    assert (updated.status_code, updated.text()) == (204, "")
    assert [a["displayName"] for a in fake.applications()] == ["renamed"]
    assert fake.applications()[0]["notes"] == "n"


def test_get_and_delete_by_every_address(graph: Graph) -> None:
    app = graph.create_application("hm-a")
    for path in (
        f"/applications/{app['id']}",
        "/applications(uniqueName='hm-a')",
        f"/applications(appId='{app['appId']}')",
    ):
        assert graph.send("GET", path).json()["id"] == app["id"]
    assert graph.send("DELETE", f"/applications(appId='{app['appId']}')").status_code == 204
    gone = graph.send("GET", f"/applications/{app['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["message"].startswith(f"Resource '{app['id']}' does not exist")
    assert graph.send("DELETE", "/applications(uniqueName='hm-a')").status_code == 404


def test_list_filters_and_pages(fake: FakeAzure, graph: Graph) -> None:
    fake.page_size = 2
    for name in ("hm-1", "HM-2", "hm-3", "other"):
        graph.create_application(name)
    names: list[str] = []
    url = "/applications?$filter=startswith(displayName,'hm-')"
    while url:
        body = graph.send("GET", url).json()
        names += [app["displayName"] for app in body["value"]]
        url = body.get("@odata.nextLink")
    assert names == ["hm-1", "HM-2", "hm-3"]
    assert [r.op for r in fake.requests if r.op == "graph.applications.list"] == [
        "graph.applications.list"
    ] * 2
    top = graph.send("GET", "/applications?$top=1").json()
    assert len(top["value"]) == 1 and "$skiptoken" in top["@odata.nextLink"]
    unsupported = graph.send("GET", "/applications?$filter=endswith(displayName,'x')")
    assert unsupported.status_code == 400


def test_add_password_returns_the_secret_once(fake: FakeAzure, graph: Graph) -> None:
    app = graph.create_application("hm-a")
    response = graph.send(
        "POST",
        "/applications(uniqueName='hm-a')/addPassword",
        json={"passwordCredential": {"displayName": "run", "endDateTime": "2030-01-01T00:00:00Z"}},
    )
    assert response.status_code == 200
    credential = response.json()
    secret = credential["secretText"]
    assert secret.startswith(fake.canary_prefix)
    assert credential["hint"] == secret[:3]
    assert credential["endDateTime"] == "2030-01-01T00:00:00Z"
    assert fake.issued_secrets == [secret]

    stored = graph.send("GET", f"/applications/{app['id']}").json()["passwordCredentials"]
    assert [(c["keyId"], c["secretText"]) for c in stored] == [(credential["keyId"], None)]
    assert secret not in str(fake.snapshot())
    assert all(secret not in str(record) for record in fake.requests)


def test_service_principals(fake: FakeAzure, graph: Graph) -> None:
    app = graph.create_application("hm-a", "HayMaker A")
    sp = graph.create_service_principal(app["appId"])
    assert sp["id"] not in (app["id"], app["appId"])
    assert (sp["appId"], sp["displayName"]) == (app["appId"], "HayMaker A")

    again = graph.send("POST", "/servicePrincipals", json={"appId": app["appId"]})
    assert again.status_code == 409
    by_app = graph.send("GET", f"/servicePrincipals(appId='{app['appId']}')").json()
    assert (
        by_app["id"] == sp["id"] == graph.send("GET", f"/servicePrincipals/{sp['id']}").json()["id"]
    )
    listed = graph.send("GET", f"/servicePrincipals?$filter=appId eq '{app['appId']}'").json()
    assert [s["id"] for s in listed["value"]] == [sp["id"]]

    graph.send("DELETE", f"/applications/{app['id']}")
    assert graph.send("GET", f"/servicePrincipals/{sp['id']}").status_code == 404


def test_service_principal_needs_a_backing_application(graph: Graph) -> None:
    response = graph.send(
        "POST", "/servicePrincipals", json={"appId": "00000000-0000-0000-0000-000000000001"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "Request_BadRequest"
    assert error["details"][0]["code"] == "NoBackingApplicationObject"
    assert "does not reference a valid application object" in error["message"]
