"""The probes: /healthz answers while the process runs; /readyz also checks MongoDB and the
indexes, and is a 503 problem with Retry-After when either is missing."""

from mongo_todos.store.documents import Todo, User
from tests.conftest import assert_problem


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_reports_the_database(client, monkeypatch):
    assert client.get("/readyz").get_json() == {"status": "ok", "checks": {"mongodb": "ok", "indexes": "ok"}}
    import mongomock
    from pymongo.errors import ServerSelectionTimeoutError

    def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("no servers")

    monkeypatch.setattr(mongomock.database.Database, "command", down)
    response = client.get("/readyz")
    body = assert_problem(response, 503)
    assert "mongodb unavailable" in body["detail"]
    assert response.headers["Retry-After"] == "5"


def test_readyz_reports_missing_indexes(app, client):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["indexes"] == "ok"
    with app.app_context():
        Todo._get_collection().drop_index("owner_name_key_id")
        User._get_collection().drop_index("username_key_1")
    body = assert_problem(client.get("/readyz"), 503)
    assert "todos.owner_name_key_id" in body["detail"]
    assert "users.username_key_1" in body["detail"]
    assert "db init" in body["detail"]
    assert client.get("/healthz").status_code == 200
    assert client.application.test_cli_runner().invoke(args=["db", "init"]).exit_code == 0
    assert client.get("/readyz").status_code == 200
