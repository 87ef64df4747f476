"""docs/sync.md's sync loop works as written, against a live server: a full sync, then one
more `sync()` after another session created, edited and deleted todos."""

from __future__ import annotations

import re

import requests

from tests.support.servers import ROOT, embedded_server, free_port


def sync_block() -> str:
    page = (ROOT / "docs" / "sync.md").read_text()
    return re.search(r"## The loop\n.*?```python\n(.*?)```", page, re.S).group(1)


def test_the_documented_loop_keeps_an_exact_copy(capsys):
    port = free_port()
    block = sync_block()
    assert "http://127.0.0.1:5000" in block
    with embedded_server(port):
        api = f"http://127.0.0.1:{port}/api/v1"
        client: dict = {}
        exec(block.replace(":5000", f":{port}"), client)  # noqa: S102 (the page's own code)
        assert capsys.readouterr().out == "5 todos\n"  # the seeded demo account
        # another device of the same account: a create, an edit and a delete
        token = requests.post(f"{api}/tokens", auth=("demo", "demo-password"),
                              timeout=10).json()["access_token"]
        other = {"Authorization": f"Bearer {token}"}
        items = requests.get(f"{api}/todos", headers=other, timeout=10).json()["items"]
        requests.post(f"{api}/todos", json={"name": "from the phone"}, headers=other, timeout=10)
        requests.patch(items[0]["url"], json={"done": True}, headers=other, timeout=10)
        requests.delete(items[1]["url"], headers=other, timeout=10)
        client["sync"]()
        server = {t["id"]: t for t in requests.get(f"{api}/todos", headers=other,
                                                   timeout=10).json()["items"]}
    copy = {todo_id: {k: v for k, v in todo.items() if k != "deleted"}
            for todo_id, todo in client["todos"].items()}
    assert copy == server and len(copy) == 5
    assert items[1]["id"] not in copy and copy[items[0]["id"]]["done"] is True
