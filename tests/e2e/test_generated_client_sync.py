"""The generated Python client (see test_generated_client.py) syncs through the changes feed:
a full sync, then an incremental one after another session created, edited and deleted todos,
and an offline create at a client-made id; every call is a generated function."""

from __future__ import annotations

import base64
import importlib

from bson import ObjectId

from tests.e2e.test_generated_client import PACKAGE, generated  # noqa: F401 (a fixture; server is in conftest)


def _session(server, op, client_mod, models, username: str):  # noqa: F811
    anonymous = client_mod.Client(base_url=server)
    op("users", "create_user").sync_detailed(
        client=anonymous, body=models.UserIn(username=username, password="correct horse"))
    basic = base64.b64encode(f"{username}:correct horse".encode()).decode()
    pair = op("tokens", "log_in").sync(
        client=client_mod.AuthenticatedClient(base_url=server, token=basic, prefix="Basic"))
    return client_mod.AuthenticatedClient(base_url=server, token=pair.access_token)


def test_generated_client_syncs_through_the_changes_feed(server, generated):  # noqa: F811
    client_mod = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")

    def op(group: str, name: str):
        return importlib.import_module(f"{PACKAGE}.api.{group}.{name}")

    phone = _session(server, op, client_mod, models, "syncer")
    laptop = _session(server, op, client_mod, models, "syncer")  # a second login, same account
    made = [op("todos", "create_todo").sync(client=phone, body=models.TodoIn(name=f"t{n}"))
            for n in range(5)]
    copy: dict = {}
    changes = op("changes", "list_changes")

    def sync(since):
        while True:
            page = changes.sync(client=phone, limit=2, **({"since": since} if since else {}))
            for item in page.items:
                change = item.to_dict() if hasattr(item, "to_dict") else dict(item)
                if change["deleted"]:
                    copy.pop(change["id"], None)
                else:
                    copy[change["id"]] = change
            since = page.since
            if not page.has_more:
                return since

    since = sync(None)
    assert sorted(copy) == sorted(todo.id for todo in made)
    # the other device: a create, an edit (If-Match from the body's etag), a delete
    op("todos", "create_todo").sync(client=laptop, body=models.TodoIn(name="from the laptop"))
    edited = op("todos", "update_todo").sync_detailed(
        made[0].id, client=laptop, body=models.TodoPatch(done=True), if_match=made[0].etag)
    assert edited.status_code == 200, edited.content
    assert op("todos", "delete_todo").sync_detailed(made[1].id, client=laptop).status_code == 204
    # and an offline create at an id this client made
    offline = str(ObjectId())
    created = op("todos", "replace_todo").sync_detailed(
        offline, client=phone, body=models.TodoIn(name="offline"), if_none_match="*")
    assert created.status_code == 201, created.content
    sync(since)
    server_todos = op("todos", "list_todos").sync(client=phone, limit=100).items
    assert sorted(copy) == sorted(todo.id for todo in server_todos)
    assert copy[made[0].id]["done"] is True and made[1].id not in copy and offline in copy
    gone = op("todos", "get_todo").sync_detailed(made[1].id, client=phone)
    assert gone.status_code == 410
