"""What the driver sends and how what it gets back maps to problems, against the scripted wire
server (tests/support/mongo_wire.py): list pages hint by key pattern, and the store's
transient and configuration failures are 503s, not 500s."""

from __future__ import annotations

from tests.store.test_driver_failures import app_for, token_for
from tests.support.mongo_wire import FakeMongo


def test_a_page_hints_its_index_by_key_pattern_not_by_name():
    # /readyz accepts an index with the right keys under another name; a hint by name would
    # make every list a 503 there, a hint by keys uses whichever index has them
    aggregates = []

    def script(name, command):
        if name == "aggregate":
            aggregates.append(command)

    with FakeMongo(script) as server:
        app = app_for(server)
        response = app.test_client().get("/api/v1/todos?sort=due_at", headers=token_for(app))
    assert response.status_code == 200, response.get_json()
    assert [list(c["hint"].items()) for c in aggregates] == [
        [("owner", 1), ("due_sort", 1), ("_id", 1)]]
