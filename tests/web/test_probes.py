"""The probes: /healthz answers while the process runs; /readyz also checks MongoDB and the
indexes, and is a 503 problem with Retry-After when either is missing."""

from tests.conftest import assert_problem


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
